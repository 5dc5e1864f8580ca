"""The TinyLlama shape (1.1 B parameters) read in place: hcc's export, split and pieces peak at a
quarter of torch's own export of the loaded model or less, and the whole model linked beside the
checkpoint adds under 1 % of its bytes. hcc runs as ``benchmarks/large.py`` runs it, in a process
of its own.

torch's export is not run here (minutes, several GB): its peak is at least the loaded weights
plus what importing torch and transformers takes, measured in a process of its own, and a
quarter of that lower bound bounds hcc. ``benchmarks/large.py --shape tinyllama`` measures the
two side by side."""

from __future__ import annotations

import importlib.util
import os

import pytest

BENCHMARK = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "large.py")

_IMPORTS = r"""
import json
import torch, transformers
status = open("/proc/self/status").read()
print(json.dumps({"peak_mb": int(status.split("VmHWM:")[1].split()[0]) / 1024}))
"""


def _benchmark():
    spec = importlib.util.spec_from_file_location("large_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_tinyllama_shape_exports_in_place_at_a_quarter_of_torchs_peak(tmp_path):
    large = _benchmark()
    folder = tmp_path / "checkpoint"
    folder.mkdir()
    size = large.write_checkpoint(str(folder), large.SHAPES["tinyllama"])
    out = tmp_path / "hcc"
    out.mkdir()
    hcc = large._child(large._HCC, str(folder), str(out))
    torch_at_least = size / 2**20 + large._child(_IMPORTS)["peak_mb"]
    assert hcc["peak_mb"] <= 0.25 * torch_at_least, (hcc, torch_at_least)
    assert hcc["whole_model_new_bytes"] <= 0.01 * size, hcc
