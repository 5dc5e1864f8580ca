"""Down-adapters of hcc's own: one operator whose newer form has no generic way down.

Each adapter is registered for its operators with :func:`adapter` and follows the contract in
:mod:`._down_rewriter`: rewrite the node for ``rw.target`` and return True, or return False
before changing anything. Adapters that change a node in place leave the rest to the pass,
which checks the node against the target schema afterwards (and widens its types if needed).

Importing this module registers every adapter, those of the sibling modules included.
"""

from __future__ import annotations

import math

import numpy as np

from hcc.ir import Attr, AttrType, DataType, Node, Value

from ._down_rewriter import ADAPTERS, INT64_MAX, Refuse, Rewriter, adapter, constant_array

__all__ = ["ADAPTERS", "Rewriter", "constant_array"]

_FLOATS = (DataType.FLOAT16, DataType.FLOAT, DataType.DOUBLE, DataType.BFLOAT16)
_NARROW_FLOATS = frozenset({
    DataType.FLOAT8E4M3FN, DataType.FLOAT8E4M3FNUZ, DataType.FLOAT8E5M2, DataType.FLOAT8E5M2FNUZ,
    DataType.FLOAT4E2M1, DataType.FLOAT8E8M0, DataType.FLOAT6E2M3, DataType.FLOAT6E3M2,
})


# -- Split --------------------------------------------------------------------------------------


@adapter("Split")
def split_without_num_outputs(rw: Rewriter, node: Node) -> bool:
    """Opset 18 added ``num_outputs``: pieces of ceil(size / n), the last one smaller. Earlier
    opsets split evenly without sizes, so uneven or unknown sizes are given explicitly."""
    count = node.attr("num_outputs")
    if count is None or rw.target >= 18:
        return False
    axis = node.attr("axis", 0)
    x = node.inputs[0]
    shape = rw.shape(x)
    size = shape[axis] if shape is not None and -len(shape) <= axis < len(shape) else None
    node.attributes.pop("num_outputs")
    if isinstance(size, int):
        if size % count == 0:
            return True
        chunk = math.ceil(size / count)
        sizes = rw.ints(node, [chunk] * (count - 1) + [size - chunk * (count - 1)], "split")
    else:
        dim = rw.op(node, "Gather", rw.op(node, "Shape", x), rw.ints(node, [axis]), axis=0)
        chunk = rw.op(node, "Div", rw.op(node, "Add", dim, rw.ints(node, [count - 1])),
                      rw.ints(node, [count]))
        last = rw.op(node, "Sub", dim, rw.op(node, "Mul", chunk, rw.ints(node, [count - 1])))
        head = rw.op(node, "Expand", chunk, rw.ints(node, [count - 1]))
        sizes = rw.op(node, "Concat", head, last, axis=0, suffix="split")
    node.set_inputs([x, sizes])
    return True


# -- formulas for operators added after 13 ------------------------------------------------------


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
    outputs: list[Value | None] = [result, mu, inverse][:len(node.outputs)]
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
    diagonal = rw.op(node, "Sub", rw.op(node, "Unsqueeze", cols, rw.ints(node, [0])),
                     rw.op(node, "Unsqueeze", rows, rw.ints(node, [1])))
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


# -- attributes and inputs that changed form ----------------------------------------------------


@adapter("Shape")
def shape_without_range(rw: Rewriter, node: Node) -> bool:
    """Opset 15 added ``start``/``end``; before, slice the full shape."""
    if rw.target >= 15:
        return False
    start = node.attr("start", 0)
    end = node.attr("end")
    node.attributes.pop("start", None)
    node.attributes.pop("end", None)
    if start == 0 and end is None:
        return True
    full = rw.op(node, "Shape", node.inputs[0])
    sliced = rw.op(node, "Slice", full, rw.ints(node, [start], "start"),
                   rw.ints(node, [INT64_MAX if end is None else end], "end"),
                   rw.ints(node, [0], "axes"))
    rw.replace(node, [sliced])
    return True


@adapter("Reshape")
def reshape_without_allowzero(rw: Rewriter, node: Node) -> bool:
    """Opset 14 added ``allowzero``. With 0 (the default) the older form is the same. With 1, a
    0 in the target shape is an empty dimension instead of "copy the input's": a shape known to
    hold no 0 reshapes the same way; otherwise the result is an empty tensor of that shape
    whenever the shape holds a 0 (the input is then empty too)."""
    if rw.target >= 14:
        return False
    if not node.attr("allowzero", 0):
        node.attributes.pop("allowzero", None)
        return True
    x, shape = node.inputs
    known = constant_array(shape)
    if known is not None and not (known == 0).any():
        node.attributes.pop("allowzero")
        return True
    dtype = rw.numpy_dtype(x)
    if dtype is None or dtype.kind not in "biuf":
        return False
    fill = Attr("value", AttrType.TENSOR, _array_tensor(np.zeros(1, dtype)))
    if known is not None:
        empty = rw.node(node, "ConstantOfShape", [shape], [fill]).outputs[0]
        rw.replace(node, [empty])
        return True
    zeros = rw.op(node, "Cast", rw.op(node, "Equal", shape, rw.ints(node, [0])),
                  to=int(DataType.INT64))
    has_zero = rw.op(node, "Greater", rw.op(node, "ReduceSum", zeros, keepdims=0),
                     rw.constant(node, np.array(0, np.int64)))
    then = rw.branch(node, lambda op: op("ConstantOfShape", shape, value=fill))
    otherwise = rw.branch(node, lambda op: op("Reshape", x, shape))
    rw.replace(node, [rw.if_(node, has_zero, then, otherwise)])
    return True


def _array_tensor(array: np.ndarray):
    from hcc.ir import ArrayTensor

    return ArrayTensor(array)


@adapter("Cast")
def cast_without_saturate(rw: Rewriter, node: Node) -> bool:
    """Opset 19 added ``saturate`` (and later versions rounding options): they only matter
    when either side is a float8-like type, which older opsets do not have anyway."""
    return _drop_narrow_float_attrs(rw, node, node.attr("to"))


@adapter("CastLike")
def cast_like_as_cast(rw: Rewriter, node: Node) -> bool:
    """CastLike (opset 15) is a Cast to the element type of its second input."""
    if rw.target >= 15:
        return _drop_narrow_float_attrs(rw, node, rw.dtype(node.inputs[1]))
    to = rw.dtype(node.inputs[1])
    if to is None or to in _NARROW_FLOATS or rw.dtype(node.inputs[0]) in _NARROW_FLOATS:
        return False
    rw.replace(node, [rw.op(node, "Cast", node.inputs[0], to=int(to))])
    return True


def _drop_narrow_float_attrs(rw: Rewriter, node: Node, to) -> bool:
    from hcc.ir.onnx import schemas

    sig = schemas.signature("", node.op_type, rw.target)
    extra = [name for name in node.attributes if name not in sig.attributes]
    narrow = to in _NARROW_FLOATS or rw.dtype(node.inputs[0]) in _NARROW_FLOATS
    if not extra or to is None or narrow:
        return False
    for name in extra:
        del node.attributes[name]
    return True


@adapter("Pad")
def pad_without_axes(rw: Rewriter, node: Node) -> bool:
    """Opset 18 added an ``axes`` input: older opsets take pads for every axis, so the given
    ones are scattered into a full list (zeros elsewhere). Opset 19's ``wrap`` mode has no
    older form."""
    if node.attr("mode", "constant") in ("wrap", b"wrap") and rw.target < 19:
        return _pad_wrap(rw, node)
    if rw.target >= 18:
        return False
    axes_value = node.inputs[3] if len(node.inputs) > 3 else None
    if axes_value is None:
        if len(node.inputs) > 3:
            node.set_inputs(list(node.inputs[:3]))
        return True
    x, pads = node.inputs[0], node.inputs[1]
    axes, known_pads = constant_array(axes_value), constant_array(pads)
    rank = rw.rank(x)
    if axes is not None and known_pads is not None and rank is not None:
        full = np.zeros(2 * rank, np.int64)
        for i, axis in enumerate(int(a) % rank for a in axes.reshape(-1)):
            full[axis] = known_pads[i]
            full[axis + rank] = known_pads[i + axes.size]
        node.set_inputs([x, rw.ints(node, full, "pads"), *node.inputs[2:3]])
        return True
    if rw.dtype(axes_value) not in (DataType.INT64, DataType.INT32):
        return False
    axes64 = rw.op(node, "Cast", axes_value, to=int(DataType.INT64))
    if rank is not None:
        count = rw.ints(node, [rank])
        zeros = rw.ints(node, np.zeros(2 * rank, np.int64))
    else:
        count = rw.op(node, "Shape", rw.op(node, "Shape", x))
        twice = rw.op(node, "Mul", count, rw.ints(node, [2]))
        zeros = rw.node(node, "ConstantOfShape", [twice], [Attr(
            "value", AttrType.TENSOR, _array_tensor(np.zeros(1, np.int64)))]).outputs[0]
    normal = rw.op(node, "Mod", axes64, count)
    where = rw.op(node, "Concat", normal, rw.op(node, "Add", normal, count), axis=0)
    full = rw.op(node, "ScatterElements", zeros, where, pads, axis=0, suffix="pads")
    node.set_inputs([x, full, *node.inputs[2:3]])
    return True


def _pad_wrap(rw: Rewriter, node: Node) -> bool:
    """Opset 19's ``wrap`` padding: each axis, once cropped by its negative pads, becomes its
    last ``begin`` elements, itself and its first ``end`` elements (pads up to its length)."""
    x, pads = node.inputs[0], node.inputs[1]
    rank = rw.rank(x)
    axes_value = node.inputs[3] if len(node.inputs) > 3 else None
    if rank is None or axes_value is not None:
        raise Refuse("wrap padding needs a known rank and pads for every axis")
    zero = rw.ints(node, [0])
    current = x
    for axis in range(rank):
        begin = rw.op(node, "Slice", pads, rw.ints(node, [axis]), rw.ints(node, [axis + 1]))
        end = rw.op(node, "Slice", pads, rw.ints(node, [rank + axis]),
                    rw.ints(node, [rank + axis + 1]))
        along = rw.ints(node, [axis])

        def length_of(value: Value, along=along, axis=axis) -> Value:
            return rw.op(node, "Slice", rw.op(node, "Shape", value), along,
                         rw.ints(node, [axis + 1]))

        grow_begin, grow_end = rw.op(node, "Max", begin, zero), rw.op(node, "Max", end, zero)
        crop_begin = rw.op(node, "Max", rw.op(node, "Neg", begin), zero)
        crop_end = rw.op(node, "Max", rw.op(node, "Neg", end), zero)
        # Crop first, then wrap what is left (as onnxruntime does).
        core = rw.op(node, "Slice", current, crop_begin,
                     rw.op(node, "Sub", length_of(current), crop_end), along)
        length = length_of(core)
        head = rw.op(node, "Slice", core, rw.op(node, "Sub", length, grow_begin), length, along)
        tail = rw.op(node, "Slice", core, zero, grow_end, along)
        current = rw.op(node, "Concat", head, core, tail, axis=axis)
    rw.replace(node, [current])
    return True


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
    signs_differ = rw.op(node, "Xor", rw.op(node, "Less", remainder, zero),
                         rw.op(node, "Less", b, zero))
    fix = rw.op(node, "And", nonzero, signs_differ)
    rw.replace(node, [rw.op(node, "Where", fix, rw.op(node, "Add", remainder, b), remainder)])
    return True


@adapter("RoiAlign")
def roi_align_output_half_pixel(rw: Rewriter, node: Node) -> bool:
    """Opset 16 added ``coordinate_transformation_mode``, "half_pixel" by default; older
    opsets behave as "output_half_pixel", which is "half_pixel" without the half-pixel shift
    of the region corners: shifting the rois by -0.5 / spatial_scale gives the same result."""
    if rw.target >= 16:
        return False
    mode = node.attr("coordinate_transformation_mode", "half_pixel")
    if mode not in ("half_pixel", "output_half_pixel"):
        return False
    if mode == "half_pixel":
        dtype = rw.numpy_dtype(node.inputs[1])
        if dtype is None:
            return False
        shift = rw.constant(node, np.array(0.5 / node.attr("spatial_scale", 1.0), dtype))
        node.replace_input_with(1, rw.op(node, "Sub", node.inputs[1], shift))
    node.attributes.pop("coordinate_transformation_mode", None)
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
    batch_var = rw.op(node, "ReduceMean", rw.op(node, "Mul", centred, centred), axes=axes,
                      keepdims=1)
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
    rw.replace(node, outputs[:len(node.outputs)])
    return True


@adapter("SpaceToDepth")
def space_to_depth_modes(rw: Rewriter, node: Node) -> bool:
    """Opset 28 added ``mode``; "DCR" is the older behaviour, "CRD" is written as the
    Reshape / Transpose / Reshape it stands for."""
    if node.attr("mode", "DCR") == "DCR":
        node.attributes.pop("mode", None)
        return True
    x = node.inputs[0]
    if rw.rank(x) != 4:
        return False
    block = node.attr("blocksize")
    shape = rw.op(node, "Shape", x)
    n_c = rw.op(node, "Slice", shape, rw.ints(node, [0]), rw.ints(node, [2]))
    h_w = rw.op(node, "Div", rw.op(node, "Slice", shape, rw.ints(node, [2]), rw.ints(node, [4])),
                rw.ints(node, [block]))
    h, w = (rw.op(node, "Slice", h_w, rw.ints(node, [i]), rw.ints(node, [i + 1])) for i in (0, 1))
    b = rw.ints(node, [block])
    split = rw.op(node, "Concat", n_c, h, b, w, b, axis=0)
    moved = rw.op(node, "Transpose", rw.op(node, "Reshape", x, split), perm=[0, 1, 3, 5, 2, 4])
    c = rw.op(node, "Slice", shape, rw.ints(node, [1]), rw.ints(node, [2]))
    depth = rw.op(node, "Mul", c, rw.ints(node, [block * block]))
    out_shape = rw.op(node, "Concat", rw.op(node, "Slice", shape, rw.ints(node, [0]),
                                            rw.ints(node, [1])), depth, h, w, axis=0)
    rw.replace(node, [rw.op(node, "Reshape", moved, out_shape)])
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
    candidates = [int(axis.reshape(-1)[0]) % len(shape)] if axis is not None else list(
        range(len(shape)))
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
            return op("Slice", value, rw.ints(node, [-1]),
                      rw.ints(node, [np.iinfo(np.int64).min]), axes, rw.ints(node, [-1]))

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
        normal = rw.op(node, "Mod", rw.op(node, "Cast", axis_value, to=int(DataType.INT64)),
                       rw.constant(node, np.array(len(shape), np.int64)))
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
    otherwise = rw.branch(node, lambda inner: _choose(rw, node, selector, choices[1:], build,
                                                       inner))
    if op is None:
        return rw.if_(node, is_first, then, otherwise)
    return op("If", is_first, then_branch=then, else_branch=otherwise)




# Register the adapters kept in sibling modules.
from . import (  # noqa: E402,F401,I001
    _down_bitcast, _down_bits, _down_grid, _down_pool, _down_reduce, _down_resize, _down_scatter,
)
