"""The architecture zoo's guard: one architecture of each family through every capability of
``benchmarks/zoo.py``, run as the benchmark runs it (its own child process and time limit per
architecture), so a change that breaks a row of ``docs/zoo.md`` fails here and not only when the
full table is next generated. The full zoo (50 architectures, about 20 minutes) stays a
benchmark.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

ZOO = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "zoo.py")

# One per family: decoder, encoder, encoder-decoder, vision, audio, multimodal.
SUBSET = ["llama", "bert", "t5", "vit", "wav2vec2", "clip"]


def _zoo():
    spec = importlib.util.spec_from_file_location("hcc_zoo_benchmark", ZOO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


zoo = _zoo()


def test_the_subset_has_one_architecture_of_each_family():
    families = [zoo.ARCHITECTURES[name][0] for name in SUBSET]
    assert sorted(families) == sorted({spec[0] for spec in zoo.ARCHITECTURES.values()})


@pytest.mark.slow
@pytest.mark.parametrize("name", SUBSET)
def test_every_capability_holds(name, tmp_path):
    row = zoo.run_one(name, timeout=180.0, folder=str(tmp_path))
    failed = {
        zoo.CAPABILITIES.get(key, key): entry["reason"]
        for key, entry in row.items()
        if isinstance(entry, dict) and entry["status"] == "fail"
    }
    assert failed == {}
    expected_na = set() if zoo.ARCHITECTURES[name][0] == "decoder" else {"kv_cache"}
    assert {key for key in zoo.CAPABILITIES if row[key]["status"] == "n/a"} == expected_na
