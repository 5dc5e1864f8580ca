"""What downgrade-ir refuses, and that a refusal leaves the model as it was."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import hcc.ir as ir
import hcc.passes
from hcc.passes import PipelineError
from hcc.passes.downgrade import DowngradeError, lowest_ir


def _model(
    nodes,
    *,
    opset=20,
    ir_version=10,
    inputs=None,
    outputs=None,
    initializers=(),
    functions=(),
    extra_opsets=(),
):
    inputs = inputs or [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])]
    outputs = outputs or [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])]
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    proto = helper.make_model(
        graph,
        ir_version=ir_version,
        functions=list(functions),
        opset_imports=[
            helper.make_opsetid("", opset),
            *[helper.make_opsetid(d, v) for d, v in extra_opsets],
        ],
    )
    return ir.from_onnx(proto)


def _relu(opset=20, **kwargs):
    return _model([helper.make_node("Relu", ["x"], ["y"])], opset=opset, **kwargs)


def _downgrade(model, options: str):
    return hcc.passes.run(model, f"downgrade-ir({options})")


def test_opset_above_the_models_is_refused():
    with pytest.raises(DowngradeError, match="model is at opset 15; downgrade-ir only lowers"):
        _downgrade(_relu(opset=15), "ir=8,opset=17")


def test_ir_version_above_the_models_is_refused():
    with pytest.raises(DowngradeError, match="model is at IR 8; downgrade-ir only lowers"):
        _downgrade(_relu(ir_version=8), "ir=9,opset=17")


def test_ir_too_low_for_the_opset_is_refused():
    with pytest.raises(DowngradeError, match="opset 15 needs IR version 8"):
        _downgrade(_relu(), "ir=7,opset=15")


def test_functions_need_ir_8():
    body = helper.make_function(
        "local",
        "double",
        ["a"],
        ["b"],
        [helper.make_node("Add", ["a", "a"], ["b"])],
        [helper.make_opsetid("", 20)],
    )
    model = _model(
        [helper.make_node("double", ["x"], ["y"], domain="local")],
        functions=[body],
        extra_opsets=[("local", 1)],
    )
    assert lowest_ir(model) == 8
    with pytest.raises(DowngradeError, match="model-local functions .*needs IR 8"):
        _downgrade(model, "ir=7,opset=13")
    _downgrade(model, "ir=8,opset=13")
    assert model.functions[("local", "double", "")].opset_imports[""] == 13


def test_float8_needs_ir_9():
    weights = onnx.numpy_helper.from_array(np.zeros(2, np.float32), "w")
    weights.data_type = TensorProto.FLOAT8E4M3FN
    weights.ClearField("float_data")
    weights.raw_data = bytes(2)
    node = helper.make_node("Custom", ["x", "w"], ["y"], domain="vendor")
    model = _model(
        [node], opset=17, ir_version=9, initializers=[weights], extra_opsets=[("vendor", 1)]
    )
    assert lowest_ir(model) == 9
    with pytest.raises(DowngradeError, match="FLOAT8E4M3FN.*needs IR 9"):
        _downgrade(model, "ir=8,opset=17")


@pytest.mark.parametrize(
    "options, message",
    [
        ("ir=6,opset=13", "int in \\[7, 10\\]"),
        ("ir=8,opset=12", "int in \\[13, 20\\]"),
        ("ir=8,opset=21", "int in \\[13, 20\\]"),
        ("ir='eight',opset=17", "int"),
        ("irv=8", "irv"),
    ],
)
def test_unknown_option_values_are_refused(options, message):
    with pytest.raises(PipelineError, match=message):
        _downgrade(_relu(), options)


def test_the_error_names_the_operator_and_the_versions():
    node = helper.make_node("StringSplit", ["s"], ["parts", "count"], maxsplit=1)
    model = _model(
        [node],
        inputs=[helper.make_tensor_value_info("s", TensorProto.STRING, [2])],
        outputs=[
            helper.make_tensor_value_info("parts", TensorProto.STRING, None),
            helper.make_tensor_value_info("count", TensorProto.INT64, [2]),
        ],
    )
    with pytest.raises(DowngradeError, match="no down-conversion for StringSplit from 20 to 13"):
        _downgrade(model, "ir=7,opset=13")


def test_a_refusal_leaves_the_model_unchanged():
    # The Gelu could be converted; the StringConcat after it cannot.
    nodes = [
        helper.make_node("Gelu", ["x"], ["g"]),
        helper.make_node("Cast", ["g"], ["s"], to=TensorProto.STRING),
        helper.make_node("StringConcat", ["s", "s"], ["y"]),
    ]
    model = _model(nodes, outputs=[helper.make_tensor_value_info("y", TensorProto.STRING, [2])])
    before = ir.to_onnx(model).SerializeToString()
    with pytest.raises(DowngradeError, match="no down-conversion for StringConcat from 20 to 13"):
        _downgrade(model, "ir=7,opset=13")
    assert ir.to_onnx(model).SerializeToString() == before


def test_a_form_without_older_equivalent_says_why():
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="linear", antialias=1)
    scales = onnx.numpy_helper.from_array(np.array([1.0, 0.5], np.float32), "scales")
    model = _model(
        [node],
        opset=19,
        initializers=[scales],
        inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2])],
    )
    with pytest.raises(
        DowngradeError,
        match="no down-conversion for Resize from 19 to 13: antialiasing is newer than the target",
    ):
        _downgrade(model, "ir=7,opset=13")


def test_same_opset_lowers_only_the_ir_version():
    model = _relu(opset=17, ir_version=10)
    _downgrade(model, "ir=8,opset=17")
    assert model.ir_version == 8 and model.opset_imports[""] == 17
    assert all(node.name for node in model.graph.nodes)
