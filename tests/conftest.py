"""Models shared by every test folder: each model-sized export is made once per test run.

Exporting a 12-layer GPT-2 takes a minute or more on 2 cores; the slow tests of several folders
(ir, interop, split) use one, so it is made here once and shared. The files are read-only for
the tests: a test that changes a model changes its in-memory copy or writes elsewhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pytest

from _models import export_module


@dataclass
class SharedExport:
    """A model exported with ``hcc.export`` (every node tagged) and saved with external data."""

    path: str  # the .onnx file; its weights are in the data file beside it
    module: Any  # the torch model it was exported from (same weights)
    kwargs: dict[str, Any]  # the example inputs of the export (torch tensors)


def export_once(folder, model_type: str, overrides: dict, task: str) -> SharedExport:
    import hcc.ir as ir
    from hcc.frontend import sources

    module = sources.from_config(model_type, overrides, task=task, seed=0)
    model, kwargs = export_module(module)
    path = os.path.join(str(folder), f"{model_type}.onnx")
    ir.save(model, path)
    return SharedExport(path, module, kwargs)


@pytest.fixture(scope="session")
def gpt2_12_layers(tmp_path_factory) -> SharedExport:
    """GPT-2 at full depth (12 layers) with its LM head, random seeded weights."""
    return export_once(
        tmp_path_factory.mktemp("gpt2-12-layers"), "gpt2", {"n_layer": 12}, "causal-lm"
    )
