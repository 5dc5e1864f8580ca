"""ONNX files for the command-line tests, written with onnx itself (not hcc)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper


def _tag(node: onnx.NodeProto, tag: str, module: str) -> onnx.NodeProto:
    for key, value in (("hcc.tag", tag), ("hcc.module", module)):
        entry = node.metadata_props.add()
        entry.key, entry.value = key, value
    return node


def small_model() -> onnx.ModelProto:
    """x -> Relu -> Neg -> y, plus a dead Abs; tagged, IR 10, opset 18."""
    nodes = [
        _tag(helper.make_node("Relu", ["x"], ["h"], name="relu"), "/Toy/Block.0", "blocks.0"),
        _tag(helper.make_node("Abs", ["x"], ["unused"], name="dead"), "/Toy", ""),
        _tag(helper.make_node("Neg", ["h"], ["y"], name="neg"), "/Toy/Block.1", "blocks.1"),
    ]
    graph = helper.make_graph(
        nodes,
        "toy",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
    )
    model = helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(model)
    return model


def matmul_weight(scale: float = 1.0) -> np.ndarray:
    return np.arange(64 * 64, dtype=np.float32).reshape(64, 64) * scale


def save_matmul(path: Path, scale: float = 1.0, location: str | None = None) -> Path:
    """Save x @ w with a 64x64 weight (:func:`matmul_weight`) in external data at ``location``
    (default: ``PATH.data``) beside ``path``; returns ``path``."""
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])],
        [numpy_helper.from_array(matmul_weight(scale), "w")],
    )
    model = helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 18)])
    path.parent.mkdir(parents=True, exist_ok=True)
    location = location or f"{path.name}.data"
    onnx.save(model, str(path), save_as_external_data=True, location=location)
    return path


@pytest.fixture
def matmul():
    """``matmul.save`` (:func:`save_matmul`) and ``matmul.weight`` (:func:`matmul_weight`), for
    test files (which cannot import a conftest)."""
    return SimpleNamespace(save=save_matmul, weight=matmul_weight)


@pytest.fixture
def model_path(tmp_path: Path) -> Path:
    path = tmp_path / "toy.onnx"
    onnx.save(small_model(), path)
    return path


@pytest.fixture
def bundled_model() -> Path:
    return Path(__file__).resolve().parents[2] / "specs" / "models" / "tiny_mlp.onnx"
