"""Resize below opset 18, which added ``axes``, ``keep_aspect_ratio_policy`` and
``antialias`` (and 19 the "half_pixel_symmetric" coordinate mode).

Older opsets take scales or sizes for every axis: the given ones are scattered into ones (for
scales) or the input's own sizes. A keep-aspect-ratio policy becomes the sizes it produces: one
scale for all resized axes, the smallest (not_larger) or largest (not_smaller) of the asked
ones, times each input size, rounded half up. Antialiasing and the symmetric half-pixel mode
have no older equivalent.
"""

from __future__ import annotations

import numpy as np

from hcc.ir import DataType, Node, Value

from ..literals import constant_array
from ..rewriter import Refuse, Rewriter, adapter


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@adapter("Resize")
def resize_full_rank(rw: Rewriter, node: Node) -> bool:
    if rw.target >= 18:
        if (
            rw.target < 19
            and _text(node.attr("coordinate_transformation_mode", "")) == "half_pixel_symmetric"
        ):
            raise Refuse("the half_pixel_symmetric mode is newer than the target")
        return False
    mode = _text(node.attr("mode", "nearest"))
    if node.attr("antialias", 0) and mode != "nearest":
        raise Refuse("antialiasing is newer than the target")
    if _text(node.attr("coordinate_transformation_mode", "")) == "half_pixel_symmetric":
        raise Refuse("the half_pixel_symmetric mode is newer than the target")
    inputs = list(node.inputs) + [None] * (4 - len(node.inputs))
    x, roi, scales, sizes = inputs[:4]
    axes = node.attr("axes")
    policy = _text(node.attr("keep_aspect_ratio_policy", "stretch"))
    rank = rw.rank(x)
    if (axes is not None or policy != "stretch") and rank is None:
        return False
    axes_list = (
        [a % rank for a in axes]
        if axes is not None
        else (list(range(rank)) if rank is not None else None)
    )
    where = rw.ints(node, axes_list) if axes_list is not None else None
    shape = rw.op(node, "Shape", x) if sizes is not None else None
    if axes is not None:
        if scales is not None and not _empty(scales):
            ones = rw.constant(node, np.ones(rank, np.float32))
            scales = rw.op(node, "ScatterElements", ones, where, scales, axis=0)
        if sizes is not None and not _empty(sizes):
            sizes = rw.op(node, "ScatterElements", shape, where, sizes, axis=0)
        if roi is not None and not _empty(roi):
            dtype = rw.numpy_dtype(roi)
            if dtype is None:
                return False
            frame = rw.constant(node, np.concatenate([np.zeros(rank), np.ones(rank)]).astype(dtype))
            both = rw.ints(node, axes_list + [a + rank for a in axes_list])
            roi = rw.op(node, "ScatterElements", frame, both, roi, axis=0)
    if policy != "stretch" and sizes is not None and not _empty(sizes):
        sizes = _keep_aspect_ratio(rw, node, shape, sizes, where, policy)
    for name in ("axes", "antialias", "keep_aspect_ratio_policy"):
        node.attributes.pop(name, None)
    node.set_inputs([x, roi, scales, sizes][: max(len(node.inputs), 1)])
    return True


def _empty(value: Value) -> bool:
    array = constant_array(value)
    return array is not None and array.size == 0


def _keep_aspect_ratio(
    rw: Rewriter, node: Node, shape: Value, sizes: Value, where: Value, policy: str
) -> Value:
    if policy not in ("not_larger", "not_smaller"):
        raise Refuse(f"unknown keep_aspect_ratio_policy {policy!r}")
    as_float = DataType.FLOAT
    given = rw.op(node, "Cast", rw.op(node, "Gather", sizes, where, axis=0), to=int(as_float))
    own = rw.op(node, "Cast", rw.op(node, "Gather", shape, where, axis=0), to=int(as_float))
    ratios = rw.op(node, "Div", given, own)
    scale = rw.op(node, "ReduceMin" if policy == "not_larger" else "ReduceMax", ratios, keepdims=1)
    half = rw.constant(node, np.array(0.5, np.float32))
    rounded = rw.op(node, "Floor", rw.op(node, "Add", rw.op(node, "Mul", own, scale), half))
    fitted = rw.op(node, "Cast", rounded, to=int(DataType.INT64))
    return rw.op(node, "ScatterElements", sizes, where, fitted, axis=0)
