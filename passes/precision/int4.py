"""Block-wise symmetric int4 weights, laid out as onnxruntime lays them out.

Each block of ``block_size`` weights along the reduced axis K of a weight seen as ``W[K, N]``
gets one scale: the block's value of largest magnitude divided by -8 (so that value becomes
-8, the end of the int4 range that has no positive twin), and ``q = roundf(w / scale)``
clamped to [-8, 7], rounding halves away from zero. The arithmetic is float32 as in
onnxruntime's kernels (``MlasQuantizeBlockwise``); a scale stored in float16 is rounded to
float16 before its reciprocal is taken. The MatMulNBits kernel rounds ``w / scale + 8``, the
DequantizeLinear one ``w / scale``: they differ where float32 turns x.49999997 + 8 into x.5.
The same numbers give both forms:

- com.microsoft ``MatMulNBits``: ``q + 8`` as uint4, two per byte (low nibble first), shaped
  ``[N, K / block_size, block_size / 2]``, scales ``[N, K / block_size]``. Its scales have the
  type of its input A (the schema binds both to T1): a float32 weight's scales may be stored in
  float16 and reach it through a Cast to float32, which onnxruntime folds into a float32
  initializer when it creates the session (before the kernel packs the weight);
- ``DequantizeLinear`` (opset 21): int4 codes in the weight's own layout with ``block_size``
  along K (``axis`` 0 for ``[K, N]``, 1 for a ``Gemm``'s transposed ``[N, K]``). Its output
  has the scale's type, so float16 scales serve a float32 weight through a Cast.

K is padded with zeros to whole blocks for MatMulNBits; a blocked DequantizeLinear handles a
last block shorter than ``block_size`` itself. No zero points are stored: symmetric codes
have zero point 0 (8 for MatMulNBits' unsigned nibbles, its default when the input is absent).

A weight read by several MatMul/Gemm nodes is quantized once: every reader uses the same codes
and scales, and each new node takes the scope of the reader it serves.
"""

from __future__ import annotations

import numpy as np

from hcc.ir import ArrayTensor, Attr, DataType, Graph, Node, TensorType, Value

from .dequantize import dequantize_before

FLOAT16_MAX = 65504.0


def block_scales(
    weight: np.ndarray, block_size: int, *, unsigned: bool = False, scale_dtype=None
) -> tuple[np.ndarray, np.ndarray]:
    """``(q, scales)``: int8 codes in [-8, 7] of shape ``[K_padded, N]`` and the scales
    ``[blocks, N]`` in ``scale_dtype`` (default: the weight's float type). ``unsigned`` rounds
    ``w / scale + 8`` (the MatMulNBits kernel's order, which rounds 8.49999997 up in float32)
    instead of ``w / scale``."""
    dtype = weight.dtype if scale_dtype is None else np.dtype(scale_dtype)
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


def float16_scales_fit(weight: np.ndarray, block_size: int) -> bool:
    """Can the scales of ``weight`` ([K, N]) be stored in float16? Every scale (a block's
    largest magnitude / 8) must be finite in float16; tiny scales become subnormal or zero,
    which changes the dequantized weights by less than float16's smallest normal times 8, far
    below int4's own step."""
    w = np.asarray(weight, np.float32)
    if not np.all(np.isfinite(w)):
        return False
    return float(np.abs(w).max(initial=0.0)) / 8.0 <= FLOAT16_MAX


def matmul_nbits_tensors(
    weight: np.ndarray, block_size: int, scale_dtype=None
) -> tuple[np.ndarray, np.ndarray]:
    """``(packed uint8 [N, blocks, block_size / 2], scales [N, blocks])`` for MatMulNBits, the
    scales in ``scale_dtype`` (default: the weight's type)."""
    codes, scales = block_scales(weight, block_size, unsigned=True, scale_dtype=scale_dtype)
    blocks = scales.shape[0]
    unsigned = (codes.astype(np.int16) + 8).astype(np.uint8)  # [K_padded, N]
    by_column = unsigned.T.reshape(unsigned.shape[1], blocks, block_size)
    packed = by_column[:, :, 0::2] | (by_column[:, :, 1::2] << 4)
    return np.ascontiguousarray(packed, np.uint8), np.ascontiguousarray(scales.T)


def _round_half_away(x: np.ndarray) -> np.ndarray:
    """C's roundf: halves go away from zero (numpy's rint goes to even)."""
    whole = np.trunc(x)
    return whole + np.where(np.abs(x - whole) >= 0.5, np.sign(x), 0).astype(np.float32)


def reduced_axis(node: Node) -> int:
    """The axis of a MatMul/Gemm weight (input 1) that the product sums over."""
    return 1 if node.op_type == "Gemm" and _int_attr(node, "transB", 0) else 0


def nbits_can_replace(node: Node) -> bool:
    """Can com.microsoft MatMulNBits (``A @ B + bias``) compute this MatMul/Gemm? A Gemm needs
    A untransposed and alpha = beta = 1 (as exporters write a Linear)."""
    if node.op_type == "MatMul":
        return True
    return (
        not _int_attr(node, "transA", 0)
        and _float_attr(node, "alpha", 1.0) == 1.0
        and (
            len(node.inputs) < 3 or node.inputs[2] is None or _float_attr(node, "beta", 1.0) == 1.0
        )
    )


def rewrite_matmul_nbits(
    graph: Graph,
    weight: Value,
    readers: list[tuple[Node, int]],
    block_size: int,
    fresh,
    *,
    float16_scales: bool,
) -> list[Node]:
    """Replace every reader of ``weight`` (an initializer of ``graph``) by com.microsoft
    MatMulNBits in the reader's scope, all sharing one packed copy; returns the nodes made.
    With ``float16_scales`` a float32 weight's scales are stored in float16 (when they fit)
    and each MatMulNBits reads them through a Cast to float32 in its own scope."""
    tensor = weight.const_value
    axis = reduced_axis(readers[0][0])
    matrix = tensor.numpy() if axis == 0 else tensor.numpy().T
    scale_type = tensor.dtype
    if float16_scales and scale_type == DataType.FLOAT and float16_scales_fit(matrix, block_size):
        scale_type = DataType.FLOAT16
    packed, scales = matmul_nbits_tensors(matrix, block_size, scale_type.to_numpy())
    k, n = matrix.shape
    b = _initializer(graph, fresh(f"{weight.name}_Q4"), packed, DataType.UINT8)
    s = _initializer(graph, fresh(f"{weight.name}_scales"), scales, scale_type)
    made: list[Node] = []
    for reader, _ in readers:
        made.extend(_replace_by_nbits(reader, b, s, tensor.dtype, k, n, block_size, fresh))
    _drop_if_unused(graph, weight)
    return made


def _replace_by_nbits(
    reader: Node, b: Value, s: Value, dtype: DataType, k: int, n: int, block_size: int, fresh
):
    home = reader.graph
    made = []
    if s.const_value.dtype != dtype:
        # MatMulNBits' scales take A's type; the Cast serves this node alone, in its scope.
        widened = Value(fresh(f"{s.name}_{dtype.name.lower()}"), TensorType(dtype, s.shape))
        cast = Node(
            "",
            "Cast",
            [s],
            attributes=[Attr.int("to", int(dtype))],
            outputs=[widened],
            name=fresh(f"{widened.name}/Cast"),
            scope=reader.scope,
        )
        home.insert_before(reader, cast)
        made.append(cast)
        s = widened
    old = reader.outputs[0]
    out = Value(old.name, old.type)
    old.name = fresh(f"{old.name}_float")
    inputs = [reader.inputs[0], b, s]
    bias = reader.inputs[2] if reader.op_type == "Gemm" and len(reader.inputs) > 2 else None
    add_bias = bias is not None and tuple(bias.shape or ()) != (n,)
    if bias is not None and not add_bias:
        inputs += [None, None, bias]  # MatMulNBits' optional bias is a vector of N
    product = Value(fresh(f"{old.name}_product"), old.type) if add_bias else out
    node = Node(
        "com.microsoft",
        "MatMulNBits",
        inputs,
        outputs=[product],
        attributes=[
            Attr.int("K", k),
            Attr.int("N", n),
            Attr.int("bits", 4),
            Attr.int("block_size", block_size),
        ],
        name=fresh(f"{reader.name or b.name}_Q4"),
        scope=reader.scope,
        metadata_props=dict(reader.metadata_props),
    )
    home.insert_before(reader, node)
    made.append(node)
    if add_bias:
        # A bias Gemm broadcasts from [1, N] or [M, N]: added as the Gemm added it, in its scope.
        add = Node(
            "",
            "Add",
            [product, bias],
            outputs=[out],
            name=fresh(f"{node.name}/Add"),
            scope=reader.scope,
        )
        home.insert_before(reader, add)
        made.append(add)
    old.replace_all_uses_with(out)
    home.remove(reader)
    return made


def rewrite_blocked_dequantize(
    graph: Graph,
    weight: Value,
    readers: list[tuple[Node, int]],
    block_size: int,
    fresh,
    *,
    float16_scales: bool,
) -> list[Node]:
    """Feed every reader of ``weight`` an int4 ``DequantizeLinear`` with blocked scales (opset
    21) of one shared copy; with ``float16_scales`` a float32 weight's scales are stored in
    float16 (when they fit) and a Cast gives the dequantized weight its type back."""
    tensor = weight.const_value
    dtype = tensor.dtype
    axis = reduced_axis(readers[0][0])
    matrix = tensor.numpy() if axis == 0 else tensor.numpy().T
    scale_type = dtype
    if float16_scales and dtype == DataType.FLOAT and float16_scales_fit(matrix, block_size):
        scale_type = DataType.FLOAT16
    codes, scales = block_scales(matrix, block_size, scale_dtype=scale_type.to_numpy())
    codes = codes[: matrix.shape[0]]
    if axis == 1:
        codes, scales = codes.T, scales.T
    q = _initializer(graph, fresh(f"{weight.name}_int4"), codes, DataType.INT4)
    s = _initializer(graph, fresh(f"{weight.name}_scales"), scales, scale_type)
    made: list[Node] = []
    for reader, index in readers:
        made += dequantize_before(
            reader, index, weight, [q, s], scale_type, fresh, axis=axis, block_size=block_size
        )
    _drop_if_unused(graph, weight)
    return made


def _int_attr(node: Node, name: str, default: int) -> int:
    attr = node.attributes.get(name)
    return default if attr is None else int(attr.value)


def _float_attr(node: Node, name: str, default: float) -> float:
    attr = node.attributes.get(name)
    return default if attr is None else float(attr.value)


def _initializer(graph: Graph, name: str, array: np.ndarray, dtype: DataType) -> Value:
    tensor = ArrayTensor(np.ascontiguousarray(array), dtype, name=name)
    return graph.add_initializer(Value(name, TensorType(dtype, array.shape), const_value=tensor))


def _drop_if_unused(graph: Graph, weight: Value) -> None:
    if not weight.has_uses() and weight.name in graph.initializers:
        graph.remove_initializer(weight.name)
