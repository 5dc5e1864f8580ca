"""Per-channel symmetric int8 weights: ``DequantizeLinear(q, scale, axis) -> MatMul/Gemm``.

Each output channel ``n`` of a weight gets ``scale[n] = max|W[:, n]| / 127`` and
``q = round(W / scale)`` in [-127, 127] (the zero point is 0, so it is left out). -128 is never
used, so negating a weight never overflows. A channel of zeros gets scale 1.

onnxruntime's quantizers do not make this form: ``quantize_dynamic`` and ``quantize_static``
quantize activations too (MatMulInteger, QLinearMatMul, or QDQ pairs around activations, the
latter needing calibration data), and its weight-only quantizer writes 8 bits only as
com.microsoft MatMulNBits. So hcc writes the rewrite itself.
"""

from __future__ import annotations

import numpy as np

from hcc.ir import ArrayTensor, DataType, Graph, Node, TensorType, Value

from .dequantize import dequantize_before

FLOAT_TYPES = (DataType.FLOAT, DataType.FLOAT16, DataType.BFLOAT16)


def quantize_int8(weight: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """``(q, scale)`` of a 2-D weight, one scale per index of ``axis`` (the output channel)."""
    w = np.asarray(weight, np.float32)
    reduce = 1 - axis
    amax = np.max(np.abs(w), axis=reduce)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    shaped = scale.reshape((1, -1) if axis == 1 else (-1, 1))
    q = np.clip(np.rint(w / shaped), -127, 127).astype(np.int8)
    return q, scale


def rewrite_int8(
    graph: Graph, weight: Value, readers: list[tuple[Node, int]], *, fresh, opset: int
) -> list[Node]:
    """Replace ``weight`` (an initializer of ``graph``) by int8 values and scales, dequantized
    before each reader; returns the DequantizeLinear (and Cast) nodes made."""
    tensor = weight.const_value
    dtype = tensor.dtype
    node, _ = readers[0]
    axis = 0 if node.op_type == "Gemm" and _trans_b(node) else 1
    q, scale = quantize_int8(tensor.numpy(), axis)
    # DequantizeLinear writes the scale's type; float16/bfloat16 scales need opset 19.
    scale_type = dtype if opset >= 19 else DataType.FLOAT
    q_value = graph.add_initializer(
        Value(
            fresh(f"{weight.name}_int8"),
            TensorType(DataType.INT8, q.shape),
            const_value=ArrayTensor(q, DataType.INT8, name=""),
        )
    )
    q_value.const_value.name = q_value.name
    s_value = graph.add_initializer(
        Value(
            fresh(f"{weight.name}_scale"),
            TensorType(scale_type, scale.shape),
            const_value=ArrayTensor(scale.astype(scale_type.to_numpy()), scale_type, name=""),
        )
    )
    s_value.const_value.name = s_value.name
    made: list[Node] = []
    for reader, index in readers:
        made += dequantize_before(
            reader, index, weight, [q_value, s_value], scale_type, fresh, axis=axis
        )
    graph.remove_initializer(weight.name)
    return made


def _trans_b(node: Node) -> bool:
    attr = node.attributes.get("transB")
    return attr is not None and bool(attr.value)
