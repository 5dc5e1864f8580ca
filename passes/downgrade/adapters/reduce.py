"""Reduce* down to the opsets where ``axes`` was an attribute (before 18; 13 for ReduceSum).

Constant axes become the attribute. Axes computed at run time have no attribute form; for
ReduceSum-like operators onnx's function bodies lead to ReduceSum-13, which still takes axes
as an input. ReduceMean, ReduceMax, ReduceMin and ReduceProd reduce the same over several axes
one axis at a time, so they become a chain over the input's axes: each step reduces its axis
(kept as size 1) when the run-time axes name it, under an If. Without keepdims the reduced
axes are squeezed at the end.
"""

from __future__ import annotations

import numpy as np

from hcc.ir import DataType, Node, Value
from hcc.ir.onnx import schemas

from ..generic import type_string
from ..literals import constant_array
from ..rewriter import Rewriter, adapter

ATTRIBUTE_AXES_UNTIL = {
    op: 18
    for op in (
        "ReduceMean",
        "ReduceMax",
        "ReduceMin",
        "ReduceProd",
        "ReduceL1",
        "ReduceL2",
        "ReduceLogSum",
        "ReduceLogSumExp",
        "ReduceSumSquare",
    )
}
ATTRIBUTE_AXES_UNTIL["ReduceSum"] = 13

# Reducing axis by axis gives the same result as reducing them together.
_STEPWISE = ("ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd")


@adapter(*ATTRIBUTE_AXES_UNTIL)
def reduce_axes_to_attribute(rw: Rewriter, node: Node) -> bool:
    if rw.target >= ATTRIBUTE_AXES_UNTIL[node.op_type] or "axes" in node.attributes:
        return False
    x = node.inputs[0]
    axes_value = node.inputs[1] if len(node.inputs) > 1 else None
    noop = node.attr("noop_with_empty_axes", 0)
    axes = constant_array(axes_value) if axes_value is not None else np.zeros(0, np.int64)
    if axes is None:
        return _stepwise(rw, node) if node.op_type in _STEPWISE else False
    if axes.size == 0 and noop:
        rw.replace(node, [rw.op(node, "Identity", x)])
        return True
    node.set_inputs([x])
    node.attributes.pop("noop_with_empty_axes", None)
    if axes.size:
        node.attributes["axes"] = _ints("axes", axes)
    return True


def _ints(name: str, array: np.ndarray):
    from ..literals import make_attr

    return make_attr(name, [int(a) for a in array.reshape(-1)])


def _stepwise(rw: Rewriter, node: Node) -> bool:
    x, axes = node.inputs[0], node.inputs[1]
    rank = rw.rank(x)
    sig = schemas.signature("", node.op_type, rw.target)
    if rank is None or sig is None or rw.dtype(axes) != DataType.INT64:
        return False
    allowed = sig.type_constraints.get(sig.inputs[0][2], frozenset())
    if type_string(rw.type_of(x)) not in allowed:
        return False  # the pass widens the type first, then comes back here
    noop = node.attr("noop_with_empty_axes", 0)
    keepdims = node.attr("keepdims", 1)
    normal = rw.op(node, "Mod", axes, rw.constant(node, np.array(rank, np.int64)))
    zero = rw.constant(node, np.array(0, np.int64))
    empty = rw.op(node, "Equal", rw.op(node, "Size", axes), zero)
    current: Value = x
    chosen: list[Value] = []
    for axis in range(rank):
        named = rw.op(node, "Equal", normal, rw.constant(node, np.array(axis, np.int64)))
        hits = rw.op(
            node, "ReduceSum", rw.op(node, "Cast", named, to=int(DataType.INT64)), keepdims=0
        )
        reduce_here = rw.op(node, "Greater", hits, zero)
        if not noop:
            reduce_here = rw.op(node, "Or", reduce_here, empty)
        before = current
        then = rw.branch(
            node, lambda op, v=before, a=axis: op(node.op_type, v, axes=[a], keepdims=1)
        )
        otherwise = rw.branch(node, lambda op, v=before: op("Identity", v))
        current = rw.if_(node, reduce_here, then, otherwise)
        chosen.append(reduce_here)
    if not keepdims:
        current = _squeeze_chosen(rw, node, current, chosen)
    rw.replace(node, [current])
    return True


def _squeeze_chosen(rw: Rewriter, node: Node, value: Value, chosen: list[Value]) -> Value:
    """Squeeze the axes whose flag in ``chosen`` is set (none may be)."""
    first = rw.ints(node, [0])
    flags = rw.op(node, "Concat", *[rw.op(node, "Unsqueeze", c, first) for c in chosen], axis=0)
    axes = rw.op(node, "Reshape", rw.op(node, "NonZero", flags), rw.ints(node, [-1]))
    some = rw.op(
        node, "Greater", rw.op(node, "Size", axes), rw.constant(node, np.array(0, np.int64))
    )
    # Squeeze-13 with an empty axes list would squeeze every size-1 axis: skip it instead.
    then = rw.branch(node, lambda op: op("Squeeze", value, axes))
    otherwise = rw.branch(node, lambda op: op("Identity", value))
    return rw.if_(node, some, then, otherwise)
