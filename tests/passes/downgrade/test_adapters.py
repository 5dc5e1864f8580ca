"""Each way down, on a one-node model: the result is valid at the target, computes what the
source computes (onnxruntime on both), and every node it is made of has the scope of the node
it replaces."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import hcc.ir as ir
import hcc.passes
from hcc.ir import Scope

SCOPE = Scope.root("Net").child("block", "Block")
RNG = np.random.default_rng(0)


def _value_info(name: str, array) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(
        name, helper.np_dtype_to_tensor_dtype(array.dtype), array.shape
    )


def _run(proto: onnx.ModelProto, feeds: dict) -> list:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return session.run(None, feeds)


def convert(
    node: onnx.NodeProto,
    feeds: dict,
    outputs: dict,
    opset: int,
    target: int = 13,
    constants: dict | None = None,
    expected: list | None = None,
):
    """The one-node model at ``opset``, converted to ``target``: checks validity, numbers and
    scopes, and returns the converted proto and IR. Without ``expected`` outputs, onnxruntime
    computes them from the source model."""
    constants = constants or {}

    def model(output_shapes) -> onnx.ModelProto:
        graph = helper.make_graph(
            [node],
            "single",
            [_value_info(k, v) for k, v in feeds.items()],
            [
                helper.make_tensor_value_info(k, t, shape)
                for (k, t), shape in zip(outputs.items(), output_shapes)
            ],
            [onnx.numpy_helper.from_array(v, k) for k, v in constants.items()],
        )
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])

    # Older IR versions want graph outputs with shapes: take them from a first run.
    if expected is None:
        expected = _run(model([None] * len(outputs)), feeds)
    source = model([e.shape for e in expected])
    model = ir.from_onnx(source)
    for each in model.graph.all_nodes():
        each.scope = SCOPE
    hcc.passes.run(
        model, f"downgrade-ir(ir={7 if target < 15 else 8},opset={target})", verify_each=True
    )
    converted = ir.to_onnx(model)
    onnx.checker.check_model(converted, full_check=True)
    assert all(n.scope == SCOPE for n in model.graph.all_nodes())
    for got, want in zip(_run(converted, feeds), expected, strict=True):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(
            got.astype(np.float64), want.astype(np.float64), rtol=1e-5, atol=1e-6, equal_nan=True
        )
    return converted, model


def ops_of(proto: onnx.ModelProto) -> set[str]:
    found = set()

    def walk(graph):
        for node in graph.node:
            found.add(node.op_type)
            for attr in node.attribute:
                if attr.HasField("g"):
                    walk(attr.g)

    walk(proto.graph)
    return found


def floats(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


F = TensorProto.FLOAT


# -- formulas -------------------------------------------------------------------------------


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_becomes_its_formula(approximate):
    node = helper.make_node("Gelu", ["x"], ["y"], approximate=approximate)
    proto, _ = convert(node, {"x": floats(2, 5)}, {"y": F}, 20)
    assert "Gelu" not in ops_of(proto)


def test_layer_norm_becomes_its_formula():
    node = helper.make_node("LayerNormalization", ["x", "s", "b"], ["y"], axis=-1, epsilon=1e-3)
    proto, _ = convert(node, {"x": floats(2, 3, 8), "s": floats(8), "b": floats(8)}, {"y": F}, 17)
    assert "LayerNormalization" not in ops_of(proto)


def test_layer_norm_in_float16_takes_the_function_body():
    node = helper.make_node("LayerNormalization", ["x", "s"], ["y"])
    data = {"x": floats(2, 8, dtype=np.float16), "s": floats(8, dtype=np.float16)}
    proto, _ = convert(node, data, {"y": TensorProto.FLOAT16}, 17)
    assert "LayerNormalization" not in ops_of(proto)


def test_function_bodies_expand_new_operators():
    node = helper.make_node("RMSNormalization", ["x", "s"], ["y"], axis=-1)
    proto, _ = convert(node, {"x": floats(2, 3, 8), "s": floats(8)}, {"y": F}, 23)
    assert "RMSNormalization" not in ops_of(proto)


def test_attention_expands_to_older_ops():
    node = helper.make_node("Attention", ["q", "k", "v"], ["y"], is_causal=1)
    data = {n: floats(1, 2, 4, 8) for n in "qkv"}
    proto, _ = convert(node, data, {"y": F}, 23)
    assert "Attention" not in ops_of(proto)


def test_trilu_becomes_a_mask():
    node = helper.make_node("Trilu", ["x", "k"], ["y"], upper=0)
    convert(node, {"x": floats(2, 4, 5), "k": np.array(1, np.int64)}, {"y": F}, 14)


def test_cum_prod_scans_by_doubling():
    node = helper.make_node("CumProd", ["x", "axis"], ["y"], exclusive=1, reverse=1)
    convert(
        node,
        {"x": floats(3, 7, dtype=np.float64), "axis": np.array(1, np.int32)},
        {"y": TensorProto.DOUBLE},
        26,
    )


# -- changed attributes and inputs ----------------------------------------------------------


def test_split_with_num_outputs_gets_explicit_sizes():
    node = helper.make_node("Split", ["x"], ["a", "b", "c"], axis=1, num_outputs=3)
    convert(node, {"x": floats(2, 7)}, {"a": F, "b": F, "c": F}, 18)


def test_reduce_with_constant_axes_takes_the_attribute():
    node = helper.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=0)
    proto, _ = convert(
        node, {"x": floats(2, 3, 4)}, {"y": F}, 18, constants={"axes": np.array([0, -1], np.int64)}
    )
    assert [n for n in proto.graph.node if n.op_type == "ReduceMean"][0].attribute


@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_with_run_time_axes_goes_axis_by_axis(keepdims):
    node = helper.make_node("ReduceMax", ["x", "axes"], ["y"], keepdims=keepdims)
    convert(node, {"x": floats(2, 3, 4), "axes": np.array([2, 0], np.int64)}, {"y": F}, 18)


def test_reduce_sum_square_with_run_time_axes_takes_the_function_body():
    node = helper.make_node("ReduceSumSquare", ["x", "axes"], ["y"])
    convert(node, {"x": floats(2, 3, 4), "axes": np.array([1], np.int64)}, {"y": F}, 18)


def test_shape_with_start_and_end_is_sliced():
    node = helper.make_node("Shape", ["x"], ["y"], start=1, end=-1)
    convert(node, {"x": floats(2, 3, 4, 5)}, {"y": TensorProto.INT64}, 15)


def test_reshape_allowzero_without_zeros_drops_the_attribute():
    node = helper.make_node("Reshape", ["x", "shape"], ["y"], allowzero=1)
    convert(node, {"x": floats(2, 6)}, {"y": F}, 14, constants={"shape": np.array([3, 4])})


def test_cast_like_becomes_cast():
    node = helper.make_node("CastLike", ["x", "like"], ["y"])
    convert(node, {"x": floats(4), "like": np.zeros(1, np.int32)}, {"y": TensorProto.INT32}, 15)


def test_cast_drops_saturate_outside_float8():
    # onnxruntime refuses the attribute itself here, so numpy gives the expected values.
    node = helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT16, saturate=0)
    x = floats(4)
    proto, _ = convert(
        node, {"x": x}, {"y": TensorProto.FLOAT16}, 19, expected=[x.astype(np.float16)]
    )
    assert not proto.graph.node[0].attribute[1:]


def test_pad_with_run_time_axes_pads_every_axis():
    node = helper.make_node("Pad", ["x", "pads", "value", "axes"], ["y"])
    feeds = {
        "x": floats(2, 3, 4),
        "pads": np.array([1, 2, 0, 1], np.int64),
        "value": np.array(1.5, np.float32),
        "axes": np.array([-1, 1], np.int64),
    }
    convert(node, feeds, {"y": F}, 18)


def test_pad_wrap_is_written_as_slices():
    node = helper.make_node("Pad", ["x", "pads"], ["y"], mode="wrap")
    feeds = {"x": floats(2, 3, 4), "pads": np.array([0, 1, 2, 0, -1, 3], np.int64)}
    convert(node, feeds, {"y": F}, 19)


def test_float_mod_takes_the_divisors_sign():
    node = helper.make_node("Mod", ["a", "b"], ["y"], fmod=0)
    feeds = {
        "a": np.array([5.5, -5.5, 5.5, -5.5, 0.0], np.float32),
        "b": np.array([2.0, 2.0, -2.0, -2.0, 3.0], np.float32),
    }
    proto, _ = convert(node, feeds, {"y": F}, 28)
    np.testing.assert_allclose(_run(proto, feeds)[0], np.mod(feeds["a"], feeds["b"]))


def test_roi_align_half_pixel_shifts_the_rois():
    node = helper.make_node(
        "RoiAlign",
        ["x", "rois", "i"],
        ["y"],
        spatial_scale=0.5,
        output_height=2,
        output_width=2,
        sampling_ratio=2,
    )
    feeds = {
        "x": floats(1, 2, 8, 8),
        "rois": np.array([[1, 1, 9, 9], [0, 2, 6, 12]], np.float32),
        "i": np.zeros(2, np.int64),
    }
    convert(node, feeds, {"y": F}, 16)


def test_batch_norm_in_training_mode_is_computed():
    node = helper.make_node(
        "BatchNormalization",
        ["x", "s", "b", "m", "v"],
        ["y", "rm", "rv"],
        training_mode=1,
        momentum=0.8,
    )
    feeds = {
        "x": floats(2, 3, 4),
        "s": floats(3),
        "b": floats(3),
        "m": floats(3),
        "v": np.abs(floats(3)),
    }
    convert(node, feeds, {"y": F, "rm": F, "rv": F}, 15)


def test_space_to_depth_crd_is_reshape_and_transpose():
    node = helper.make_node("SpaceToDepth", ["x"], ["y"], blocksize=2, mode="CRD")
    convert(node, {"x": floats(1, 3, 4, 6)}, {"y": F}, 28)


def test_resize_with_axes_gets_full_scales():
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], axes=[3, 2], mode="nearest")
    convert(
        node,
        {"x": floats(1, 1, 2, 3)},
        {"y": F},
        19,
        constants={"scales": np.array([2.0, 3.0], np.float32)},
    )


def test_grid_sample_is_sampled_by_gathers():
    node = helper.make_node(
        "GridSample", ["x", "grid"], ["y"], mode="cubic", padding_mode="reflection"
    )
    feeds = {
        "x": floats(1, 2, 4, 5),
        "grid": (RNG.random((1, 3, 3, 2)) * 2.4 - 1.2).astype(np.float32),
    }
    convert(node, feeds, {"y": F}, 22)


def test_average_pool_with_dilations_is_a_conv():
    node = helper.make_node(
        "AveragePool",
        ["x"],
        ["y"],
        kernel_shape=[2, 2],
        dilations=[2, 2],
        pads=[1, 1, 0, 1],
        ceil_mode=1,
    )
    convert(node, {"x": floats(1, 2, 5, 6)}, {"y": F}, 19)


# -- integers and bits --------------------------------------------------------------------------


def test_narrow_integer_arithmetic_is_widened():
    node = helper.make_node("Mul", ["a", "b"], ["y"])
    feeds = {"a": np.array([100, -7, 3], np.int8), "b": np.array([3, 20, -9], np.int8)}
    proto, _ = convert(node, feeds, {"y": TensorProto.INT8}, 14)
    assert "Cast" in ops_of(proto)


@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
def test_signed_bit_shift(direction):
    node = helper.make_node("BitShift", ["x", "n"], ["y"], direction=direction)
    feeds = {
        "x": np.array([-100, 77, -1, 5, 64], np.int8),
        "n": np.array([2, 1, 9, -1, 1], np.int8),
    }
    convert(node, feeds, {"y": TensorProto.INT8}, 28)


@pytest.mark.parametrize("op", ["BitwiseAnd", "BitwiseOr", "BitwiseXor"])
def test_bitwise_ops_by_bits(op):
    node = helper.make_node(op, ["a", "b"], ["y"])
    feeds = {
        "a": RNG.integers(-(2**31), 2**31, 6).astype(np.int32),
        "b": RNG.integers(-(2**31), 2**31, 6).astype(np.int32),
    }
    convert(node, feeds, {"y": TensorProto.INT32}, 18)


def test_bitwise_not():
    node = helper.make_node("BitwiseNot", ["a"], ["y"])
    convert(node, {"a": np.array([0, 1, 65535, 300], np.uint16)}, {"y": TensorProto.UINT16}, 18)


def test_bit_cast_float_to_int():
    node = helper.make_node("BitCast", ["x"], ["y"], to=TensorProto.INT32)
    feeds = {"x": np.array([1.0, -2.5, 0.0, -0.0, np.inf, 1e-40, 3.4e38], np.float32)}
    proto, _ = convert(node, feeds, {"y": TensorProto.INT32}, 26)
    np.testing.assert_array_equal(_run(proto, feeds)[0], feeds["x"].view(np.int32))


def test_bit_cast_int_to_double():
    node = helper.make_node("BitCast", ["x"], ["y"], to=TensorProto.DOUBLE)
    values = np.array([1.0, -2.5, 5e-324, -1e300, np.inf], np.float64)
    proto, _ = convert(node, {"x": values.view(np.int64)}, {"y": TensorProto.DOUBLE}, 26)


# -- scatters -----------------------------------------------------------------------------------


def test_scatter_elements_add_combines_repeated_indices():
    node = helper.make_node("ScatterElements", ["d", "i", "u"], ["y"], axis=1, reduction="add")
    feeds = {"d": floats(2, 4), "i": np.array([[1, 1, -1], [0, 3, 0]], np.int64), "u": floats(2, 3)}
    convert(node, feeds, {"y": F}, 18)


def test_scatter_nd_max():
    node = helper.make_node("ScatterND", ["d", "i", "u"], ["y"], reduction="max")
    feeds = {"d": floats(4, 3), "i": np.array([[1], [1], [3]], np.int64), "u": floats(3, 3)}
    convert(node, feeds, {"y": F}, 18)


def test_tensor_scatter_writes_at_offsets():
    node = helper.make_node("TensorScatter", ["past", "new", "at"], ["y"], axis=2)
    feeds = {
        "past": floats(2, 1, 6, 3),
        "new": floats(2, 1, 2, 3),
        "at": np.array([1, 4], np.int64),
    }
    convert(node, feeds, {"y": F}, 24)
