"""The verifier's checks of tensors and of the IR version, on files onnx itself writes: a
tensor whose data does not fit its type and shape, an unknown type, negative dims, and an
ir_version hcc does not know are all reported (and ``hcc validate`` fails on them)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import hcc.ir as ir
from hcc.cli import main
from hcc.ir.verifier import MAX_IR_VERSION, check


def _model(weight: TensorProto, ir_version: int = 10) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])],
        [weight],
    )
    return helper.make_model(
        graph, ir_version=ir_version, opset_imports=[helper.make_opsetid("", 18)]
    )


def _weight() -> TensorProto:
    return numpy_helper.from_array(np.ones((4, 4), np.float32), "w")


def _short_raw() -> TensorProto:
    weight = _weight()
    weight.raw_data = b"\0" * 7
    return weight


def _huge_without_data() -> TensorProto:
    weight = _weight()
    weight.ClearField("raw_data")
    del weight.dims[:]
    weight.dims.extend([10**9, 10**9])
    return weight


def _typed_too_few() -> TensorProto:
    weight = _weight()
    weight.ClearField("raw_data")
    weight.float_data.extend([1.0] * 15)
    return weight


def _unknown_dtype() -> TensorProto:
    weight = _weight()
    weight.data_type = 99
    return weight


def _negative_dims() -> TensorProto:
    weight = _weight()
    del weight.dims[:]
    weight.dims.extend([-4, -4])
    return weight


BROKEN = {
    "raw data too short": (
        _short_raw,
        "initializer %w holds 7 bytes of data, but float[4, 4] takes 64",
    ),
    "huge dims, no data": (
        _huge_without_data,
        "holds 0 bytes of data, but float[1000000000, 1000000000] takes",
    ),
    "typed data too short": (_typed_too_few, "holds 60 bytes of data, but float[4, 4] takes 64"),
    "unknown dtype": (_unknown_dtype, "initializer %w has an unknown element type (code 99)"),
    "negative dims": (_negative_dims, "has a negative dimension in its shape [-4, -4]"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_tensor_that_does_not_fit_its_type_and_shape_is_reported(case):
    make, problem = BROKEN[case]
    problems = check(ir.from_onnx(_model(make())))
    assert len(problems) == 1 and problem in problems[0]


@pytest.mark.parametrize("case", list(BROKEN))
def test_hcc_validate_fails_on_it(case, tmp_path, capsys):
    path = tmp_path / "m.onnx"
    path.write_bytes(_model(BROKEN[case][0]()).SerializeToString())
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  ir invariants" in out and BROKEN[case][1] in out


def test_reading_such_a_tensor_is_a_load_error_not_a_numpy_error():
    model = ir.from_onnx(_model(_huge_without_data()))
    with pytest.raises(ir.LoadError, match="tensor 'w'"):
        model.graph.initializers["w"].const_value.numpy()


def test_a_tensor_that_fits_is_not_reported():
    assert check(ir.from_onnx(_model(_weight()))) == []
    typed = _weight()
    typed.ClearField("raw_data")
    typed.float_data.extend([1.0] * 16)
    assert check(ir.from_onnx(_model(typed))) == []


@pytest.mark.parametrize("version", [0, MAX_IR_VERSION + 1, 99])
def test_an_ir_version_hcc_does_not_know_is_reported(version):
    problems = check(ir.from_onnx(_model(_weight(), ir_version=version)))
    assert problems == [f"model: ir_version {version} is not one hcc knows (1 to {MAX_IR_VERSION})"]


def test_the_newest_ir_version_hcc_knows_is_onnx_s():
    assert MAX_IR_VERSION == onnx.IR_VERSION
