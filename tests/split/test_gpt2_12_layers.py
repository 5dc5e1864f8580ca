"""Seed 000 at full depth: a 12-layer GPT-2 split per layer, embeddings with the first block and
the head with the last, chains to exactly the whole model, and combines back."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
import split_support as kit

import hcc.ir as ir
from hcc.passes.pieces import combine_models
from hcc.pieces import read_manifest
from hcc.validate import run_pieces

from _models import SMALL

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gpt2_12(gpt2_12_layers, tmp_path_factory):
    shared = gpt2_12_layers  # exported once per test run (tests/conftest.py)
    built = kit.built_from_export(
        "gpt2", shared.module, ir.load(shared.path), shared.kwargs, SMALL["gpt2"].layers
    )
    folder = tmp_path_factory.mktemp("gpt2-12")
    return built, folder, kit.split(built, folder)


def test_twelve_pieces_chain_exactly_and_stand_alone(gpt2_12):
    built, folder, manifest = gpt2_12
    assert [e["name"] for e in manifest["pieces"]] == [f"GPT2Block.{i}" for i in range(12)]
    for optimization in ("basic", "all"):
        expected = kit.run_whole(folder, built.feeds, optimization)
        values = run_pieces(str(folder), built.feeds, optimization=optimization)
        assert kit.max_deviation(expected, values) == 0.0
    for entry in manifest["pieces"]:
        onnx.checker.check_model(entry["path"], full_check=True)
        kit.session(entry["path"])  # loads alone
    whole = kit.weight_bytes([os.path.join(str(folder), manifest["whole"])])
    pieces = kit.weight_bytes([e["path"] for e in manifest["pieces"]])
    assert pieces["external"] == whole["external"]
    assert pieces["total"] <= 1.02 * whole["total"]


def test_twelve_pieces_combine_to_the_same_model(gpt2_12, tmp_path):
    built, folder, _ = gpt2_12
    manifest = read_manifest(str(folder))
    combined = combine_models([ir.load(e["path"]) for e in manifest["pieces"]])
    path = str(tmp_path / "combined.onnx")
    ir.save(combined, path, external_data="combined.onnx.data")
    whole_path = os.path.join(str(folder), manifest["whole"])
    assert len(combined.graph) == len(ir.load(whole_path).graph)
    want = kit.run_whole(folder, built.feeds, "all")
    session = kit.session(path, "all")
    got = session.run(None, {i.name: built.feeds[i.name] for i in session.get_inputs()})
    assert len(got) == len(want)
    assert all(np.array_equal(w, g) for w, g in zip(want.values(), got))
    whole_bytes = os.path.getsize(whole_path) + os.path.getsize(
        os.path.join(str(folder), manifest["weights"])
    )
    combined_bytes = os.path.getsize(path) + os.path.getsize(path + ".data")
    assert abs(combined_bytes - whole_bytes) <= 0.01 * whole_bytes
