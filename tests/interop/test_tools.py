"""The tool adapters: how a model is handed to a tool, and how failures come back."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import hcc.ir as ir
from hcc.ir.onnx import tools


def _model_with_weight(size: int = 4096):
    weight = numpy_helper.from_array(np.arange(size, dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"], name="add")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [size])],
        initializer=[weight],
    )
    return helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 18)])


def _saved(tmp_path):
    path = tmp_path / "src" / "m.onnx"
    path.parent.mkdir()
    onnx.save(
        _model_with_weight(),
        path,
        save_as_external_data=True,
        location="m.onnx.data",
        size_threshold=0,
    )
    return ir.load(path)


def test_staging_writes_a_model_onnx_can_load(tmp_path):
    model = _saved(tmp_path)
    staged = tools.stage_for_tool(model, str(tmp_path))
    assert not os.path.samefile(tmp_path / "model.onnx.data", tmp_path / "src" / "m.onnx.data")
    loaded = onnx.load(staged)
    np.testing.assert_array_equal(
        numpy_helper.to_array(loaded.graph.initializer[0]), np.arange(4096, dtype=np.float32)
    )


def test_staging_saves_weights_that_live_in_memory(tmp_path):
    model = ir.from_onnx(_model_with_weight())
    staged = tools.stage_for_tool(model, str(tmp_path))
    loaded = onnx.load(staged)
    assert numpy_helper.to_array(loaded.graph.initializer[0])[-1] == 4095


def test_a_tool_cannot_get_weights_that_were_never_loaded(tmp_path):
    _saved(tmp_path)
    unloaded = ir.from_onnx(onnx.load(str(tmp_path / "src" / "m.onnx"), load_external_data=False))
    with pytest.raises(ir.HccError, match="not loaded"):
        tools.stage_for_tool(unloaded, str(tmp_path))
    with pytest.raises(tools.ToolError, match="not loaded"):
        tools.proto_with_data(unloaded)


def test_proto_with_data_embeds_external_weights(tmp_path):
    proto = tools.proto_with_data(_saved(tmp_path))
    tensor = proto.graph.initializer[0]
    assert tensor.data_location == TensorProto.DEFAULT and len(tensor.raw_data) == 4096 * 4


def test_a_failing_tool_raises_a_tool_error_with_its_message():
    broken = _model_with_weight()
    broken.graph.node[0].input[0] = "missing"
    with pytest.raises(tools.ToolError, match="onnxsim failed"):
        tools.run_onnxsim(broken)


def test_copying_metadata_refuses_nodes_that_do_not_line_up():
    proto = _model_with_weight()
    model = ir.from_onnx(proto)
    other = _model_with_weight()
    other.graph.node[0].op_type = "Sub"
    assert not tools.copy_node_metadata(model, other)
    model.graph.nodes[0].metadata_props["hcc.tag"] = "/Net"
    assert tools.copy_node_metadata(model, proto)
    assert proto.graph.node[0].metadata_props[0].value == "/Net"
