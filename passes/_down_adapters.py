"""Down-adapters: rewrite one node so that it is valid at a lower opset of the default domain.

An adapter gets the node, the rewriter (to make constants and new nodes with the node's scope)
and the target opset; it rewrites in place and returns True, or returns False when the node's
form cannot be expressed at the target (the pass then reports it). Ops whose schemas differ
only in the types they accept or in attributes left at their default need no adapter: the pass
checks them against the target schema generically.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from hcc.ir import ArrayTensor, Attr, AttrType, DataType, Graph, Node, Value

INT64_MAX = np.iinfo(np.int64).max


class Rewriter:
    """Makes the nodes an adapter needs, each with the scope of the node it replaces."""

    def __init__(self, graph: Graph, names: set[str]) -> None:
        self.graph = graph
        self.names = names

    def fresh(self, base: str) -> str:
        name = base
        count = 0
        while name in self.names:
            count += 1
            name = f"{base}_{count}"
        self.names.add(name)
        return name

    def node(self, anchor: Node, op: str, inputs: list[Value | None], attrs: list[Attr] = (),
             outputs: list[Value] | None = None, suffix: str = "") -> Node:
        """A new node placed before ``anchor``, named after it, in the same scope."""
        if outputs is None:
            outputs = [Value(self.fresh(f"{anchor.name or anchor.op_type}_{suffix or op}"))]
        node = Node("", op, inputs, attributes=list(attrs), outputs=outputs,
                    name=self.fresh(f"{anchor.name or anchor.op_type}_{suffix or op}"),
                    scope=anchor.scope)
        self.graph.insert_before(anchor, node)
        return node

    def constant(self, anchor: Node, array: np.ndarray, suffix: str = "const") -> Value:
        tensor = ArrayTensor(np.asarray(array))
        node = self.node(anchor, "Constant", [], [Attr(name="value", type=AttrType.TENSOR,
                                                       value=tensor)], suffix=suffix)
        return node.outputs[0]

    def replace(self, old: Node, new_outputs: list[Value | None]) -> None:
        """Route readers of ``old``'s outputs to ``new_outputs`` (keeping the tensor names, so
        graph outputs and downstream names stay put) and remove ``old``."""
        for value, new in zip(old.outputs, new_outputs):
            if new is None:
                if value.has_uses() or value in self.graph.outputs:
                    raise ValueError(f"{old.op_type} output {value.name!r} is used but has no "
                                     "replacement")
                continue
            name = value.name
            value.replace_all_uses_with(new)
            value.name = f"{name}__replaced"
            new.name = name
            if new.type is None:
                new.type = value.type
        self.graph.remove(old)


def constant_array(value: Value | None) -> np.ndarray | None:
    """The array a value always holds: an initializer or a Constant node's tensor."""
    if value is None:
        return None
    if value.const_value is not None:
        return value.const_value.numpy()
    producer = value.producer
    if producer is not None and producer.op_type == "Constant" and producer.domain == "":
        attr = producer.attributes.get("value")
        if attr is not None and attr.type == AttrType.TENSOR:
            return attr.value.numpy()
        for name in ("value_ints", "value_int"):
            if name in producer.attributes:
                return np.asarray(producer.attributes[name].value, dtype=np.int64)
    return None


def _float_dtype(value: Value) -> np.dtype:
    dtype = value.dtype
    if isinstance(dtype, DataType):
        try:
            return dtype.to_numpy()
        except TypeError:
            pass
    return np.dtype(np.float32)


Adapter = Callable[[Rewriter, Node, int], bool]
ADAPTERS: dict[str, Adapter] = {}


def adapter(*ops: str):
    def register(fn: Adapter) -> Adapter:
        for op in ops:
            ADAPTERS[op] = fn
        return fn

    return register


REDUCE_OPS_18 = ("ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                 "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")


@adapter(*REDUCE_OPS_18, "ReduceSum")
def reduce_axes_to_attribute(rw: Rewriter, node: Node, target: int) -> bool:
    """Opset 18 (13 for ReduceSum) moved ``axes`` from an attribute to an input."""
    if node.op_type == "ReduceSum" and target >= 13:
        return False
    axes_value = node.inputs[1] if len(node.inputs) > 1 else None
    noop = node.attr("noop_with_empty_axes", 0)
    if axes_value is None:
        if noop:
            identity = rw.node(node, "Identity", [node.inputs[0]])
            rw.replace(node, [identity.outputs[0]])
            return True
        node.attributes.pop("noop_with_empty_axes", None)
        return True
    axes = constant_array(axes_value)
    if axes is None:
        return False  # axes computed at run time have no attribute form
    if axes.size == 0 and noop:
        identity = rw.node(node, "Identity", [node.inputs[0]])
        rw.replace(node, [identity.outputs[0]])
        return True
    node.set_inputs([node.inputs[0]])
    node.attributes.pop("noop_with_empty_axes", None)
    if axes.size:
        node.attributes["axes"] = Attr.ints("axes", [int(a) for a in axes.reshape(-1)])
    return True


@adapter("Split")
def split_without_num_outputs(rw: Rewriter, node: Node, target: int) -> bool:
    """Opset 18 added ``num_outputs``; earlier opsets split evenly when no sizes are given."""
    count = node.attr("num_outputs")
    if count is None:
        return True  # the sizes input form is the same in 13
    node.attributes.pop("num_outputs")
    axis = node.attr("axis", 0)
    shape = node.inputs[0].shape if node.inputs[0] is not None else None
    size = shape[axis] if shape is not None and -len(shape) <= axis < len(shape) else None
    if isinstance(size, int) and size % count:
        # Opset 18 makes the last piece smaller; say so with explicit sizes.
        chunk = math.ceil(size / count)
        sizes = [chunk] * (count - 1) + [size - chunk * (count - 1)]
        node.set_inputs([node.inputs[0], rw.constant(node, np.array(sizes, np.int64), "split")])
    return True


@adapter("Gelu")
def gelu_expanded(rw: Rewriter, node: Node, target: int) -> bool:
    """Gelu (opset 20) as the formula it stands for, with Erf (or Tanh when approximate)."""
    x = node.inputs[0]
    dtype = _float_dtype(x)
    half = rw.constant(node, np.array(0.5, dtype), "half")
    one = rw.constant(node, np.array(1.0, dtype), "one")
    if node.attr("approximate", "none") == "tanh":
        cube = rw.node(node, "Mul", [x, rw.node(node, "Mul", [x, x]).outputs[0]]).outputs[0]
        scaled = rw.node(node, "Mul", [cube, rw.constant(node, np.array(0.044715, dtype))])
        inner = rw.node(node, "Add", [x, scaled.outputs[0]]).outputs[0]
        factor = rw.constant(node, np.array(math.sqrt(2.0 / math.pi), dtype))
        core = rw.node(node, "Tanh", [rw.node(node, "Mul", [inner, factor]).outputs[0]])
    else:
        scale = rw.constant(node, np.array(1.0 / math.sqrt(2.0), dtype), "inv_sqrt2")
        core = rw.node(node, "Erf", [rw.node(node, "Mul", [x, scale]).outputs[0]])
    plus = rw.node(node, "Add", [core.outputs[0], one]).outputs[0]
    halfx = rw.node(node, "Mul", [x, half]).outputs[0]
    result = rw.node(node, "Mul", [halfx, plus])
    rw.replace(node, [result.outputs[0]])
    return True


@adapter("LayerNormalization")
def layer_norm_expanded(rw: Rewriter, node: Node, target: int) -> bool:
    """LayerNormalization (opset 17) as mean, variance and scale over the normalised axes."""
    x, scale = node.inputs[0], node.inputs[1]
    bias = node.inputs[2] if len(node.inputs) > 2 else None
    axis = node.attr("axis", -1)
    rank = len(x.shape) if x.shape is not None else None
    if axis >= 0:
        if rank is None:
            return False
        axis -= rank
    axes = list(range(axis, 0))
    dtype = _float_dtype(x)
    epsilon = rw.constant(node, np.array(node.attr("epsilon", 1e-5), dtype), "epsilon")

    def mean(value: Value) -> Value:
        return rw.node(node, "ReduceMean", [value], [Attr.ints("axes", axes),
                                                     Attr.int("keepdims", 1)]).outputs[0]

    mu = mean(x)
    centred = rw.node(node, "Sub", [x, mu]).outputs[0]
    variance = mean(rw.node(node, "Mul", [centred, centred]).outputs[0])
    std = rw.node(node, "Sqrt", [rw.node(node, "Add", [variance, epsilon]).outputs[0]]).outputs[0]
    inverse = rw.node(node, "Reciprocal", [std]).outputs[0]
    normal = rw.node(node, "Mul", [centred, inverse]).outputs[0]
    result = rw.node(node, "Mul", [normal, scale]).outputs[0]
    if bias is not None:
        result = rw.node(node, "Add", [result, bias]).outputs[0]
    outputs: list[Value | None] = [result]
    if len(node.outputs) > 1:
        outputs.append(mu)
    if len(node.outputs) > 2:
        outputs.append(inverse)
    rw.replace(node, outputs)
    return True


@adapter("Shape")
def shape_without_range(rw: Rewriter, node: Node, target: int) -> bool:
    """Opset 15 added ``start``/``end``; before, slice the full shape."""
    start = node.attr("start", 0)
    end = node.attr("end")
    node.attributes.pop("start", None)
    node.attributes.pop("end", None)
    if start == 0 and end is None:
        return True
    full = Value(rw.fresh(f"{node.outputs[0].name}_full"))
    whole = rw.node(node, "Shape", [node.inputs[0]], outputs=[full])
    sliced = rw.node(node, "Slice", [
        full,
        rw.constant(node, np.array([start], np.int64), "start"),
        rw.constant(node, np.array([INT64_MAX if end is None else end], np.int64), "end"),
        rw.constant(node, np.array([0], np.int64), "axes"),
    ])
    del whole
    rw.replace(node, [sliced.outputs[0]])
    return True


@adapter("Reshape")
def reshape_without_allowzero(rw: Rewriter, node: Node, target: int) -> bool:
    """Opset 14 added ``allowzero``. With 0 (the default) the older form is the same. With 1,
    a 0 in the target shape means an empty dimension instead of "copy the input's": the same
    as the older form when the shape is a constant without zeros, or when it is computed at
    run time from the sizes of non-empty tensors (what exporters write). Constant shapes that
    hold a 0 have no older form."""
    if target >= 14:
        return True
    if node.attr("allowzero", 0):
        shape = constant_array(node.inputs[1])
        if shape is not None and (shape == 0).any():
            return False
    node.attributes.pop("allowzero", None)
    return True


@adapter("Cast", "CastLike")
def cast_without_saturate(rw: Rewriter, node: Node, target: int) -> bool:
    """Opset 19 added ``saturate``; it only matters for float8 targets."""
    node.attributes.pop("saturate", None)
    if node.op_type == "CastLike" and target < 15:
        return False
    return True


@adapter("Pad")
def pad_without_axes(rw: Rewriter, node: Node, target: int) -> bool:
    """Opset 18 added an ``axes`` input and 19 the ``wrap`` mode."""
    if node.attr("mode", "constant") == "wrap":
        return False
    if len(node.inputs) <= 3 or node.inputs[3] is None:
        if len(node.inputs) > 3:
            node.set_inputs(list(node.inputs[:3]))
        return True
    axes = constant_array(node.inputs[3])
    pads = constant_array(node.inputs[1])
    shape = node.inputs[0].shape
    if axes is None or pads is None or shape is None:
        return False
    rank = len(shape)
    full = np.zeros(2 * rank, np.int64)
    for i, axis in enumerate(int(a) % rank for a in axes.reshape(-1)):
        full[axis] = pads[i]
        full[axis + rank] = pads[i + len(axes)]
    node.set_inputs([node.inputs[0], rw.constant(node, full, "pads"),
                     *(node.inputs[2:3])])
    return True
