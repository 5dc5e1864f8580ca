"""Down-adapters that write a newer operator, or a newer mode of one, out as its formula.

Gelu, LayerNormalization, Trilu, CumProd and BatchNormalization's training mode become the
elementary operators they stand for; Mod's float ``fmod=0`` becomes C ``fmod`` plus a sign fix.
"""

from __future__ import annotations

import math

import numpy as np

from hcc.ir import DataType, Node, Value

from ..literals import constant_array
from ..rewriter import Rewriter, adapter

_FLOATS = (DataType.FLOAT16, DataType.FLOAT, DataType.DOUBLE, DataType.BFLOAT16)


@adapter("Gelu")
def gelu_expanded(rw: Rewriter, node: Node) -> bool:
    """Gelu (opset 20) as the formula it stands for, with Erf (or Tanh when approximate)."""
    x = node.inputs[0]
    dtype = rw.numpy_dtype(x)
    if dtype is None or rw.dtype(x) not in (DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16):
        return False
    half = rw.constant(node, np.array(0.5, dtype), suffix="half")
    one = rw.constant(node, np.array(1.0, dtype), suffix="one")
    if node.attr("approximate", "none") == "tanh":
        cube = rw.op(node, "Mul", x, rw.op(node, "Mul", x, x))
        scaled = rw.op(node, "Mul", cube, rw.constant(node, np.array(0.044715, dtype)))
        inner = rw.op(node, "Add", x, scaled)
        factor = rw.constant(node, np.array(math.sqrt(2.0 / math.pi), dtype))
        core = rw.op(node, "Tanh", rw.op(node, "Mul", inner, factor))
    else:
        scale = rw.constant(node, np.array(1.0 / math.sqrt(2.0), dtype), suffix="inv_sqrt2")
        core = rw.op(node, "Erf", rw.op(node, "Mul", x, scale))
    result = rw.op(node, "Mul", rw.op(node, "Mul", x, half), rw.op(node, "Add", core, one))
    rw.replace(node, [result])
    return True


@adapter("LayerNormalization")
def layer_norm_expanded(rw: Rewriter, node: Node) -> bool:
    """LayerNormalization (opset 17) as mean, variance and scale over the normalised axes, for
    float inputs (other types take onnx's function body, which computes in float)."""
    x, scale = node.inputs[0], node.inputs[1]
    bias = node.inputs[2] if len(node.inputs) > 2 else None
    if rw.dtype(x) != DataType.FLOAT:
        return False
    axis = node.attr("axis", -1)
    if axis >= 0:
        rank = rw.rank(x)
        if rank is None:
            return False
        axis -= rank
    axes = list(range(axis, 0))
    epsilon = rw.constant(node, np.array(node.attr("epsilon", 1e-5), np.float32), suffix="epsilon")

    def mean(value: Value) -> Value:
        return rw.op(node, "ReduceMean", value, axes=axes, keepdims=1)

    mu = mean(x)
    centred = rw.op(node, "Sub", x, mu)
    variance = mean(rw.op(node, "Mul", centred, centred))
    inverse = rw.op(node, "Reciprocal", rw.op(node, "Sqrt", rw.op(node, "Add", variance, epsilon)))
    result = rw.op(node, "Mul", rw.op(node, "Mul", centred, inverse), scale)
    if bias is not None:
        result = rw.op(node, "Add", result, bias)
    outputs: list[Value | None] = [result, mu, inverse][: len(node.outputs)]
    rw.replace(node, outputs)
    return True


@adapter("Trilu")
def trilu_as_mask(rw: Rewriter, node: Node) -> bool:
    """Trilu (opset 14) keeps the elements whose column minus row is >= k (upper) or <= k
    (lower): a mask built from two Ranges, applied with Where."""
    x = node.inputs[0]
    zero = _zero_like(rw, node, x)
    if zero is None:
        return False
    k = node.inputs[1] if len(node.inputs) > 1 and node.inputs[1] is not None else None
    shape = rw.op(node, "Shape", x)
    start, step = rw.constant(node, np.array(0, np.int64)), rw.constant(node, np.array(1, np.int64))

    def count_along(axis: int) -> Value:
        size = rw.op(node, "Gather", shape, rw.constant(node, np.array(axis, np.int64)), axis=0)
        return rw.op(node, "Range", start, size, step)

    rows, cols = count_along(-2), count_along(-1)
    diagonal = rw.op(
        node,
        "Sub",
        rw.op(node, "Unsqueeze", cols, rw.ints(node, [0])),
        rw.op(node, "Unsqueeze", rows, rw.ints(node, [1])),
    )
    offset = k if k is not None else rw.constant(node, np.array(0, np.int64))
    compare = "GreaterOrEqual" if node.attr("upper", 1) else "LessOrEqual"
    keep = rw.op(node, compare, diagonal, offset)
    rw.replace(node, [rw.op(node, "Where", keep, x, zero)])
    return True


def _zero_like(rw: Rewriter, anchor: Node, value: Value) -> Value | None:
    dtype = rw.numpy_dtype(value)
    if dtype is None or dtype.kind not in "biuf":
        return None
    return rw.constant(anchor, np.zeros((), dtype), suffix="zero")


@adapter("Mod")
def float_mod_with_floor(rw: Rewriter, node: Node) -> bool:
    """Opset 28 defined ``fmod=0`` for floats (the result takes the divisor's sign); older
    opsets only have the C ``fmod`` there, which is corrected by adding the divisor when the
    remainder is non-zero and its sign differs from the divisor's."""
    a, b = node.inputs
    if rw.target >= 28 or node.attr("fmod", 0) or rw.dtype(a) not in _FLOATS:
        return False
    zero = _zero_like(rw, node, a)
    remainder = rw.op(node, "Mod", a, b, fmod=1)
    nonzero = rw.op(node, "Not", rw.op(node, "Equal", remainder, zero))
    signs_differ = rw.op(
        node, "Xor", rw.op(node, "Less", remainder, zero), rw.op(node, "Less", b, zero)
    )
    fix = rw.op(node, "And", nonzero, signs_differ)
    rw.replace(node, [rw.op(node, "Where", fix, rw.op(node, "Add", remainder, b), remainder)])
    return True


@adapter("BatchNormalization")
def batch_norm_training(rw: Rewriter, node: Node) -> bool:
    """Opset 14 added ``training_mode``. In training mode the batch's own mean and variance
    normalise the input and update the running statistics; written out as formulas."""
    if rw.target >= 14:
        return False
    if not node.attr("training_mode", 0):
        return False  # inference: the older form is the same (the pass checks types)
    x, scale, bias, mean, var = node.inputs[:5]
    rank = rw.rank(x)
    dtype = rw.numpy_dtype(x)
    if rank is None or dtype is None or len({rw.dtype(v) for v in node.inputs}) != 1:
        return False
    axes = [0] + list(range(2, rank))
    per_channel = rw.ints(node, [-1] + [1] * (rank - 2))

    def channel(value: Value) -> Value:
        return rw.op(node, "Reshape", value, per_channel)

    batch_mean = rw.op(node, "ReduceMean", x, axes=axes, keepdims=1)
    centred = rw.op(node, "Sub", x, batch_mean)
    batch_var = rw.op(
        node, "ReduceMean", rw.op(node, "Mul", centred, centred), axes=axes, keepdims=1
    )
    epsilon = rw.constant(node, np.array(node.attr("epsilon", 1e-5), dtype))
    spread = rw.op(node, "Sqrt", rw.op(node, "Add", batch_var, epsilon))
    normal = rw.op(node, "Div", centred, spread)
    y = rw.op(node, "Add", rw.op(node, "Mul", normal, channel(scale)), channel(bias))
    momentum = node.attr("momentum", 0.9)
    keep = rw.constant(node, np.array(momentum, dtype))
    take = rw.constant(node, np.array(1.0 - momentum, dtype))

    def running(old: Value, batch: Value) -> Value:
        flat = rw.op(node, "Reshape", batch, rw.ints(node, [-1]))
        return rw.op(node, "Add", rw.op(node, "Mul", old, keep), rw.op(node, "Mul", flat, take))

    outputs = [y, running(mean, batch_mean), running(var, batch_var)]
    rw.replace(node, outputs[: len(node.outputs)])
    return True


@adapter("CumProd")
def cumulative_product_by_doubling(rw: Rewriter, node: Node) -> bool:
    """CumProd (opset 26) as a scan in log2(n) steps along an axis of known length n: step d
    multiplies each element by the running product ending d places before it (ones where
    there is none). Exclusive products shift the input by one first; reverse ones flip it. An
    axis given at run time picks one of the per-axis scans with Ifs."""
    x, axis_value = node.inputs
    shape = rw.shape(x)
    dtype = rw.numpy_dtype(x)
    if shape is None or dtype is None or not shape:
        return False
    axis = constant_array(axis_value)
    candidates = (
        [int(axis.reshape(-1)[0]) % len(shape)] if axis is not None else list(range(len(shape)))
    )
    if not all(isinstance(shape[a], int) for a in candidates):
        return False
    one = rw.constant(node, np.ones((), dtype), suffix="one")
    reverse, exclusive = node.attr("reverse", 0), node.attr("exclusive", 0)

    def scan(op, along: int) -> Value:
        length = shape[along]
        axes = rw.ints(node, [along])

        def head(value: Value, count: int) -> Value:
            return op("Slice", value, rw.ints(node, [0]), rw.ints(node, [count]), axes)

        def shifted(value: Value, by: int) -> Value:
            ones = op("Expand", one, op("Shape", head(value, by)))
            return op("Concat", ones, head(value, length - by), axis=along)

        def flipped(value: Value) -> Value:
            return op(
                "Slice",
                value,
                rw.ints(node, [-1]),
                rw.ints(node, [np.iinfo(np.int64).min]),
                axes,
                rw.ints(node, [-1]),
            )

        current = flipped(x) if reverse else x
        if exclusive and length > 0:
            current = shifted(current, 1)
        step = 1
        while step < length:
            current = op("Mul", current, shifted(current, step))
            step *= 2
        if reverse:
            current = flipped(current)
        return current if current is not x else op("Identity", x)

    if len(candidates) == 1:
        result = scan(lambda *a, **k: rw.op(node, *a, **k), candidates[0])
    else:
        normal = rw.op(
            node,
            "Mod",
            rw.op(node, "Cast", axis_value, to=int(DataType.INT64)),
            rw.constant(node, np.array(len(shape), np.int64)),
        )
        result = rw.op(node, "Identity", _choose(rw, node, normal, candidates, scan))
    rw.replace(node, [result])
    return True


def _choose(rw: Rewriter, node: Node, selector: Value, choices: list[int], build, op=None):
    """``build(op, c)`` for the choice ``c`` equal to ``selector``, as nested Ifs (the last
    choice is the fallback)."""
    if len(choices) == 1:
        return build(op, choices[0])
    is_first = rw.op(node, "Equal", selector, rw.constant(node, np.array(choices[0], np.int64)))
    then = rw.branch(node, lambda inner: build(inner, choices[0]))
    otherwise = rw.branch(
        node, lambda inner: _choose(rw, node, selector, choices[1:], build, inner)
    )
    if op is None:
        return rw.if_(node, is_first, then, otherwise)
    return op("If", is_first, then_branch=then, else_branch=otherwise)
