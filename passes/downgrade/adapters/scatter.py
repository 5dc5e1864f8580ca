"""Scatters that reduce, and TensorScatter, below the opsets that introduced them.

ScatterND and ScatterElements gained ``reduction`` (add and mul in 16, max and min in 18); at
13 they only overwrite. A reducing scatter is written as a Loop over the updates, one index at
a time: read the current element, combine it with the update, write it back. Updates to the
same index thus combine in order, as the reduction defines. TensorScatter (24) writes a window
of updates at per-batch offsets along one axis: a ScatterElements with computed indices.
"""

from __future__ import annotations

import numpy as np

from hcc.ir import DataType, Node, TensorType, Value

from ..rewriter import Rewriter, adapter

_COMBINE = {"add": "Add", "mul": "Mul", "max": "Max", "min": "Min"}


def _reduction(node: Node) -> str:
    value = node.attr("reduction", "none")
    return value.decode() if isinstance(value, bytes) else value


@adapter("ScatterND", "ScatterElements")
def scatter_reduction_as_loop(rw: Rewriter, node: Node) -> bool:
    reduction = _reduction(node)
    if reduction == "none":
        return False  # the older form is the same (the pass checks types)
    since = 16 if reduction in ("add", "mul") else 18
    if rw.target >= since or reduction not in _COMBINE:
        return False
    data, indices, updates = node.inputs
    if node.op_type == "ScatterElements":
        coordinates = _element_coordinates(rw, node, data, indices)
        if coordinates is None:
            return False
        flat_updates = rw.op(node, "Reshape", updates, rw.ints(node, [-1]))
    else:
        depth = rw.shape(indices)
        if depth is None or not isinstance(depth[-1], int):
            return False
        coordinates = rw.op(node, "Reshape", indices, rw.ints(node, [-1, depth[-1]]))
        # One row of updates per index row: the leading index dims flattened.
        slice_shape = rw.op(
            node,
            "Slice",
            rw.op(node, "Shape", data),
            rw.ints(node, [depth[-1]]),
            rw.ints(node, [np.iinfo(np.int64).max]),
        )
        flat_updates = rw.op(
            node,
            "Reshape",
            updates,
            rw.op(node, "Concat", rw.ints(node, [-1]), slice_shape, axis=0),
        )
    count = rw.op(
        node,
        "Gather",
        rw.op(node, "Shape", coordinates),
        rw.constant(node, np.array(0, np.int64)),
        axis=0,
    )
    combine = _COMBINE[reduction]

    def body(op, step, _cond, current):
        start = op("Unsqueeze", step, rw_ints0)
        end = op("Add", start, rw_ints1)
        where = op("Slice", coordinates, start, end, rw_ints0)
        update = op("Slice", flat_updates, start, end, rw_ints0)
        merged = op(combine, op("GatherND", current, where), update)
        return [op("Identity", _cond), op("ScatterND", current, where, merged)]

    rw_ints0 = rw.ints(node, [0])
    rw_ints1 = rw.ints(node, [1])
    loop_body = rw.branch(
        node,
        body,
        [TensorType(DataType.INT64, ()), TensorType(DataType.BOOL, ()), rw.type_of(data)],
    )
    from hcc.ir import Attr, AttrType

    loop = rw.node(node, "Loop", [count, None, data], [Attr("body", AttrType.GRAPH, loop_body)])
    rw.replace(node, [loop.outputs[0]])
    return True


def _element_coordinates(rw: Rewriter, node: Node, data: Value, indices: Value) -> Value | None:
    """For ScatterElements: the full coordinates [M, rank] in ``data`` of every update."""
    rank = rw.rank(indices)
    if rank is None or rw.dtype(indices) not in (DataType.INT64, DataType.INT32):
        return None
    axis = node.attr("axis", 0) % rank
    index_shape = rw.op(node, "Shape", indices)
    index64 = rw.op(node, "Cast", indices, to=int(DataType.INT64))
    # Negative indices count from the end of the data's axis.
    size = rw.op(
        node,
        "Gather",
        rw.op(node, "Shape", data),
        rw.constant(node, np.array(axis, np.int64)),
        axis=0,
    )
    negative = rw.op(node, "Less", index64, rw.constant(node, np.array(0, np.int64)))
    index64 = rw.op(node, "Where", negative, rw.op(node, "Add", index64, size), index64)
    columns = []
    for dim in range(rank):
        if dim == axis:
            grid = index64
        else:
            grid = rw.op(node, "Expand", _positions(rw, node, index_shape, dim, rank), index_shape)
        columns.append(rw.op(node, "Unsqueeze", grid, rw.ints(node, [-1])))
    stacked = rw.op(node, "Concat", *columns, axis=-1)
    return rw.op(node, "Reshape", stacked, rw.ints(node, [-1, rank]))


def _positions(rw: Rewriter, node: Node, shape: Value, axis: int, rank: int) -> Value:
    """0, 1, ..., shape[axis] - 1 laid along ``axis`` of a rank-``rank`` tensor (size 1 on the
    other axes), to broadcast against it."""
    length = rw.op(node, "Gather", shape, rw.constant(node, np.array(axis, np.int64)), axis=0)
    steps = rw.op(
        node,
        "Range",
        rw.constant(node, np.array(0, np.int64)),
        length,
        rw.constant(node, np.array(1, np.int64)),
    )
    along = [-1 if d == axis else 1 for d in range(rank)]
    return rw.op(node, "Reshape", steps, rw.ints(node, along))


@adapter("TensorScatter")
def tensor_scatter_as_scatter_elements(rw: Rewriter, node: Node) -> bool:
    """TensorScatter (24): update[b, ..., s, ...] goes to position write_indices[b] + s along
    ``axis`` (modulo its length in circular mode)."""
    past, update = node.inputs[:2]
    offsets = node.inputs[2] if len(node.inputs) > 2 else None
    rank = rw.rank(past)
    if rank is None or rank < 2:
        return False
    axis = node.attr("axis", -2) % rank
    mode = node.attr("mode", "linear")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    shape = rw.op(node, "Shape", update)
    position = _positions(rw, node, shape, axis, rank)
    if offsets is not None:
        per_batch = [-1 if d == 0 else 1 for d in range(rank)]
        position = rw.op(
            node, "Add", position, rw.op(node, "Reshape", offsets, rw.ints(node, per_batch))
        )
    if mode == "circular":
        size = rw.op(
            node,
            "Gather",
            rw.op(node, "Shape", past),
            rw.constant(node, np.array(axis, np.int64)),
            axis=0,
        )
        position = rw.op(node, "Mod", position, size)
    where = rw.op(node, "Expand", position, shape)
    rw.replace(node, [rw.op(node, "ScatterElements", past, where, update, axis=axis)])
    return True
