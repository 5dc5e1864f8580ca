"""Models for the inspection tests: real exports (once per test session) and the bundled
tiny MLP for the fast cases.

The transformer models are built offline from their configs with seeded random weights and kept
small (narrow layers, a 1000-token vocabulary) so that exporting all three costs well under a
minute; their depth is what the acceptance asks for (BERT: seed 003's shape).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from _models import export_module, small_module

ROOT = Path(__file__).resolve().parents[2]
TINY_MLP = ROOT / "specs" / "models" / "tiny_mlp.onnx"

# name -> (the shared small model of tests/_models.py, the head it is exported with)
MODELS = {
    "bert": ("bert", "base"),
    "gpt2": ("gpt2-narrow", "causal-lm"),
    "llama": ("llama", "causal-lm"),
}


def _export(name: str, folder: Path) -> Path:
    import hcc.ir as ir

    small, task = MODELS[name]
    model, _ = export_module(small_module(small, task))
    path = folder / f"{name}.onnx"
    ir.save(model, str(path), external_data=f"{name}.onnx.data")
    return path


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """``exported(name)``: the path of that model's export, made on first use."""
    cache: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in cache:
            cache[name] = _export(name, tmp_path_factory.mktemp(name))
        return cache[name]

    return get


@pytest.fixture
def tiny_mlp(tmp_path) -> Path:
    """A private copy of the bundled tiny MLP (tagged, with hcc.hierarchy)."""
    path = tmp_path / "tiny_mlp.onnx"
    shutil.copy(TINY_MLP, path)
    return path


def _run_ort(path, feeds: dict) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def _feeds(path, seed: int = 0) -> dict:
    import onnxruntime as ort

    from hcc.validate import generated_inputs

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return generated_inputs(session, seed=seed)


@pytest.fixture(scope="session")
def run_ort():
    """``run_ort(path, feeds)``: the model's outputs in onnxruntime, in output order."""
    return _run_ort


@pytest.fixture(scope="session")
def make_feeds():
    """``make_feeds(path)``: generated inputs as hcc's commands make them (ids below 1000)."""
    return _feeds
