"""Down-adapters for operators whose attributes or inputs changed form between opsets.

Split's ``num_outputs``, Shape's ``start``/``end``, Reshape's ``allowzero``, Pad's ``axes``
input and ``wrap`` mode, RoiAlign's coordinate mode and SpaceToDepth's ``mode`` are written in
the older form the target opset has.
"""

from __future__ import annotations

import math

import numpy as np

from hcc.ir import ArrayTensor, Attr, AttrType, DataType, Node, Value

from ..literals import constant_array
from ..rewriter import INT64_MAX, Refuse, Rewriter, adapter


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
        chunk = rw.op(
            node, "Div", rw.op(node, "Add", dim, rw.ints(node, [count - 1])), rw.ints(node, [count])
        )
        last = rw.op(node, "Sub", dim, rw.op(node, "Mul", chunk, rw.ints(node, [count - 1])))
        head = rw.op(node, "Expand", chunk, rw.ints(node, [count - 1]))
        sizes = rw.op(node, "Concat", head, last, axis=0, suffix="split")
    node.set_inputs([x, sizes])
    return True


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
    sliced = rw.op(
        node,
        "Slice",
        full,
        rw.ints(node, [start], "start"),
        rw.ints(node, [INT64_MAX if end is None else end], "end"),
        rw.ints(node, [0], "axes"),
    )
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
    fill = Attr("value", AttrType.TENSOR, ArrayTensor(np.zeros(1, dtype)))
    if known is not None:
        empty = rw.node(node, "ConstantOfShape", [shape], [fill]).outputs[0]
        rw.replace(node, [empty])
        return True
    zeros = rw.op(
        node, "Cast", rw.op(node, "Equal", shape, rw.ints(node, [0])), to=int(DataType.INT64)
    )
    has_zero = rw.op(
        node,
        "Greater",
        rw.op(node, "ReduceSum", zeros, keepdims=0),
        rw.constant(node, np.array(0, np.int64)),
    )
    then = rw.branch(node, lambda op: op("ConstantOfShape", shape, value=fill))
    otherwise = rw.branch(node, lambda op: op("Reshape", x, shape))
    rw.replace(node, [rw.if_(node, has_zero, then, otherwise)])
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
        zeros = rw.node(
            node,
            "ConstantOfShape",
            [twice],
            [Attr("value", AttrType.TENSOR, ArrayTensor(np.zeros(1, np.int64)))],
        ).outputs[0]
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
        end = rw.op(
            node, "Slice", pads, rw.ints(node, [rank + axis]), rw.ints(node, [rank + axis + 1])
        )
        along = rw.ints(node, [axis])

        def length_of(value: Value, along=along, axis=axis) -> Value:
            return rw.op(
                node, "Slice", rw.op(node, "Shape", value), along, rw.ints(node, [axis + 1])
            )

        grow_begin, grow_end = rw.op(node, "Max", begin, zero), rw.op(node, "Max", end, zero)
        crop_begin = rw.op(node, "Max", rw.op(node, "Neg", begin), zero)
        crop_end = rw.op(node, "Max", rw.op(node, "Neg", end), zero)
        # Crop first, then wrap what is left (as onnxruntime does).
        core = rw.op(
            node,
            "Slice",
            current,
            crop_begin,
            rw.op(node, "Sub", length_of(current), crop_end),
            along,
        )
        length = length_of(core)
        head = rw.op(node, "Slice", core, rw.op(node, "Sub", length, grow_begin), length, along)
        tail = rw.op(node, "Slice", core, zero, grow_end, along)
        current = rw.op(node, "Concat", head, core, tail, axis=axis)
    rw.replace(node, [current])
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
    h_w = rw.op(
        node,
        "Div",
        rw.op(node, "Slice", shape, rw.ints(node, [2]), rw.ints(node, [4])),
        rw.ints(node, [block]),
    )
    h, w = (rw.op(node, "Slice", h_w, rw.ints(node, [i]), rw.ints(node, [i + 1])) for i in (0, 1))
    b = rw.ints(node, [block])
    split = rw.op(node, "Concat", n_c, h, b, w, b, axis=0)
    moved = rw.op(node, "Transpose", rw.op(node, "Reshape", x, split), perm=[0, 1, 3, 5, 2, 4])
    c = rw.op(node, "Slice", shape, rw.ints(node, [1]), rw.ints(node, [2]))
    depth = rw.op(node, "Mul", c, rw.ints(node, [block * block]))
    out_shape = rw.op(
        node,
        "Concat",
        rw.op(node, "Slice", shape, rw.ints(node, [0]), rw.ints(node, [1])),
        depth,
        h,
        w,
        axis=0,
    )
    rw.replace(node, [rw.op(node, "Reshape", moved, out_shape)])
    return True
