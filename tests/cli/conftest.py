"""ONNX files for the command-line tests, written with onnx itself (not hcc)."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper


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


@pytest.fixture
def model_path(tmp_path: Path) -> Path:
    path = tmp_path / "toy.onnx"
    onnx.save(small_model(), path)
    return path


@pytest.fixture
def bundled_model() -> Path:
    return Path(__file__).resolve().parents[2] / "specs" / "models" / "tiny_mlp.onnx"
