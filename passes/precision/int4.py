"""Block-wise symmetric int4 weights, laid out as onnxruntime lays them out.

Each block of ``block_size`` weights along the reduced axis K of a MatMul weight ``W[K, N]``
gets one scale: the block's value of largest magnitude divided by -8 (so that value becomes
-8, the end of the int4 range that has no positive twin), and ``q = roundf(w / scale)``
clamped to [-8, 7], rounding halves away from zero. The arithmetic is float32 as in
onnxruntime's kernels (``MlasQuantizeBlockwise``); a float16 weight's scale is rounded to
float16 before its reciprocal is taken. The MatMulNBits kernel rounds ``w / scale + 8``, the
DequantizeLinear one ``w / scale``: they differ where float32 turns x.49999997 + 8 into x.5. The same numbers give both forms:

- com.microsoft ``MatMulNBits``: ``q + 8`` as uint4, two per byte (low nibble first), shaped
  ``[N, K / block_size, block_size / 2]``, scales ``[N, K / block_size]``;
- ``DequantizeLinear`` (opset 21): int4 ``[K, N]`` and scales ``[K / block_size, N]`` with
  ``axis = 0`` and ``block_size``.

K is padded with zeros to whole blocks for MatMulNBits; a blocked DequantizeLinear needs K to be
a multiple of ``block_size`` only in its last block, which it handles itself.
"""

from __future__ import annotations

import numpy as np

from hcc.ir import ArrayTensor, Attr, DataType, Graph, Node, TensorType, Value


def block_scales(
    weight: np.ndarray, block_size: int, *, unsigned: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """``(q, scales)``: int8 codes in [-8, 7] of shape ``[K_padded, N]`` and the scales
    ``[blocks, N]`` in the weight's float type. ``unsigned`` rounds ``w / scale + 8`` (the
    MatMulNBits kernel's order, which rounds 8.49999997 up in float32) instead of ``w / scale``."""
    dtype = weight.dtype
    w = np.asarray(weight, np.float32)
    rows, cols = w.shape
    blocks = -(-rows // block_size)
    padded = np.zeros((blocks * block_size, cols), np.float32)
    padded[:rows] = w
    grouped = padded.reshape(blocks, block_size, cols)
    lowest, highest = grouped.min(axis=1), grouped.max(axis=1)
    # The end of larger magnitude; on a tie the negative one, as the kernel picks it.
    extreme = np.where(np.abs(highest) > np.abs(lowest), highest, lowest)
    scales = (extreme / np.float32(-8.0)).astype(np.float32).astype(dtype)
    exact = scales.astype(np.float32)
    with np.errstate(divide="ignore"):
        reciprocal = np.where(exact != 0, np.float32(1.0) / exact, np.float32(0.0))
    scaled = (grouped * reciprocal[:, None, :].astype(np.float32)).astype(np.float32)
    if unsigned:
        codes = np.clip(_round_half_away(scaled + np.float32(8.0)), 0, 15) - 8
    else:
        codes = np.clip(_round_half_away(scaled), -8, 7)
    return codes.reshape(blocks * block_size, cols).astype(np.int8), scales


def matmul_nbits_tensors(weight: np.ndarray, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(packed uint8 [N, blocks, block_size / 2], scales [N, blocks])`` for MatMulNBits."""
    codes, scales = block_scales(weight, block_size, unsigned=True)
    blocks = scales.shape[0]
    unsigned = (codes.astype(np.int16) + 8).astype(np.uint8)  # [K_padded, N]
    by_column = unsigned.T.reshape(unsigned.shape[1], blocks, block_size)
    packed = by_column[:, :, 0::2] | (by_column[:, :, 1::2] << 4)
    return np.ascontiguousarray(packed, np.uint8), np.ascontiguousarray(scales.T)


def _round_half_away(x: np.ndarray) -> np.ndarray:
    """C's roundf: halves go away from zero (numpy's rint goes to even)."""
    whole = np.trunc(x)
    return whole + np.where(np.abs(x - whole) >= 0.5, np.sign(x), 0).astype(np.float32)


def rewrite_matmul_nbits(matmul: Node, block_size: int, fresh) -> Node:
    """Replace ``matmul`` (weight: an initializer ``[K, N]``) by com.microsoft MatMulNBits in
    the same scope, writing the same output value name."""
    graph = matmul.graph
    weight = matmul.inputs[1]
    tensor = weight.const_value
    packed, scales = matmul_nbits_tensors(tensor.numpy(), block_size)
    k, n = tensor.shape
    b = _initializer(graph, fresh(f"{weight.name}_Q4"), packed, DataType.UINT8)
    s = _initializer(graph, fresh(f"{weight.name}_scales"), scales, tensor.dtype)
    old = matmul.outputs[0]
    out = Value(old.name, old.type)
    old.name = fresh(f"{old.name}_float")
    node = Node(
        "com.microsoft",
        "MatMulNBits",
        [matmul.inputs[0], b, s],
        outputs=[out],
        attributes=[
            Attr.int("K", k),
            Attr.int("N", n),
            Attr.int("bits", 4),
            Attr.int("block_size", block_size),
        ],
        name=fresh(f"{matmul.name or weight.name}_Q4"),
        scope=matmul.scope,
        metadata_props={key: v for key, v in matmul.metadata_props.items()},
    )
    graph.insert_before(matmul, node)
    old.replace_all_uses_with(out)
    graph.remove(matmul)
    _drop_if_unused(graph, weight)
    return node


def rewrite_blocked_dequantize(matmul: Node, block_size: int, fresh) -> Node:
    """Feed ``matmul`` an int4 ``DequantizeLinear`` with blocked scales (opset 21)."""
    graph = matmul.graph
    weight = matmul.inputs[1]
    tensor = weight.const_value
    codes, scales = block_scales(tensor.numpy(), block_size)
    k, _ = tensor.shape
    q = _initializer(graph, fresh(f"{weight.name}_int4"), codes[:k], DataType.INT4)
    s = _initializer(graph, fresh(f"{weight.name}_scales"), scales, tensor.dtype)
    out = Value(fresh(f"{weight.name}_dequantized"), TensorType(tensor.dtype, tensor.shape))
    node = Node(
        "",
        "DequantizeLinear",
        [q, s],
        outputs=[out],
        attributes=[Attr.int("axis", 0), Attr.int("block_size", block_size)],
        name=fresh(f"{matmul.name or weight.name}/DequantizeLinear"),
        scope=matmul.scope,
    )
    graph.insert_before(matmul, node)
    matmul.replace_input_with(1, out)
    _drop_if_unused(graph, weight)
    return node


def _initializer(graph: Graph, name: str, array: np.ndarray, dtype: DataType) -> Value:
    tensor = ArrayTensor(array, dtype, name=name)
    return graph.add_initializer(Value(name, TensorType(dtype, array.shape), const_value=tensor))


def _drop_if_unused(graph: Graph, weight: Value) -> None:
    if not weight.has_uses() and weight.name in graph.initializers:
        graph.remove_initializer(weight.name)
