"""The toolbox of down-adapters: new nodes in the replaced node's scope, and types on demand.

A down-adapter replaces one node by nodes valid at a lower opset. The :class:`Rewriter` makes
those nodes (placed before the node they replace, named after it, with its scope and metadata),
and answers type questions about any value: from the IR when the file recorded the type, else
from onnx's per-node inference run along the producers, so adapters can decide by dtype and
rank even inside graphs that carry no value_info.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from hcc.ir import ArrayTensor, Attr, AttrType, DataType, Graph, Node, TensorType, Value
from hcc.ir.onnx import schemas

from .literals import constant_array, make_attr

INT64_MAX = np.iinfo(np.int64).max

# An adapter rewrites one node into nodes valid at ``rw.target`` and returns True, or returns
# False, without having changed anything, when the node's form is not one it handles (the pass
# then tries the generic conversions).
Adapter = Callable[["Rewriter", Node], bool]


class Refuse(Exception):
    """Raised by an adapter for a node that has no form at the target at all (a newer mode
    of the operator, say), so that no generic conversion is tried after it."""


ADAPTERS: dict[str, Adapter] = {}


def adapter(*ops: str):
    """Register the decorated function as the down-adapter of ``ops``."""

    def register(fn: Adapter) -> Adapter:
        for op in ops:
            if op in ADAPTERS:
                raise ValueError(f"two down-adapters for {op}")
            ADAPTERS[op] = fn
        return fn

    return register


class Rewriter:
    """Makes nodes for adapters and knows each node's opset and each value's type.

    ``target`` is the opset being converted to; nodes made here are valid at it. Nodes not yet
    converted are read at the opset recorded for them (``opset_of``).
    """

    def __init__(self, names: set[str], target: int) -> None:
        self.names = names
        self.target = target
        self._opsets: dict[int, int] = {}
        self._types: dict[int, object] = {}
        self._made: set[int] = set()  # values made here, free to take another name
        self._created: list[Node] = []  # nodes made since the last take_created()

    # -- names and opsets ---------------------------------------------------------------------

    def fresh(self, base: str) -> str:
        name = base
        count = 0
        while name in self.names:
            count += 1
            name = f"{base}_{count}"
        self.names.add(name)
        return name

    def opset_of(self, node: Node) -> int:
        return self._opsets.get(id(node), self.target)

    def set_opset(self, node: Node, opset: int) -> None:
        self._opsets[id(node)] = opset

    # -- making nodes -------------------------------------------------------------------------

    def node(
        self,
        anchor: Node,
        op: str,
        inputs: Sequence[Value | None],
        attrs: Sequence[Attr] = (),
        *,
        outputs: int | list[Value] = 1,
        suffix: str = "",
    ) -> Node:
        """A new node of the default domain placed before ``anchor``, with its scope."""
        base = f"{anchor.name or anchor.op_type}_{suffix or op}"
        if isinstance(outputs, int):
            outputs = [Value(self.fresh(base)) for _ in range(outputs)]
        node = Node(
            "", op, list(inputs), attributes=list(attrs), outputs=outputs, name=self.fresh(base)
        )
        self.adopt_scope(node, anchor)
        anchor.graph.insert_before(anchor, node)
        self.set_opset(node, self.target)
        self.made(node)
        return node

    def made(self, node: Node) -> None:
        """Record a new node: the pass checks it, and ``replace`` may rename its outputs."""
        self._made.update(id(v) for v in node.outputs)
        self._created.append(node)

    def take_created(self) -> list[Node]:
        created, self._created = self._created, []
        return created

    def op(self, anchor: Node, op: str, *inputs: Value | None, suffix: str = "", **attrs) -> Value:
        """The single output of a new node; keyword attributes become ONNX attributes."""
        return self.node(
            anchor, op, inputs, [make_attr(k, v) for k, v in attrs.items()], suffix=suffix
        ).outputs[0]

    def constant(self, anchor: Node, array, dtype=None, suffix: str = "const") -> Value:
        array = np.asarray(array, dtype=dtype)
        value = self.node(
            anchor,
            "Constant",
            [],
            [Attr("value", AttrType.TENSOR, ArrayTensor(array))],
            suffix=suffix,
        ).outputs[0]
        value.type = TensorType(DataType.from_numpy(array.dtype), tuple(array.shape))
        return value

    def ints(self, anchor: Node, values, suffix: str = "ints") -> Value:
        return self.constant(anchor, np.asarray(values, np.int64).reshape(-1), suffix=suffix)

    def scalar_like(self, anchor: Node, number, like: Value, suffix: str = "const") -> Value | None:
        """A 0-d constant of ``like``'s element type (None when that type is unknown)."""
        dtype = self.numpy_dtype(like)
        if dtype is None:
            return None
        return self.constant(anchor, np.array(number).astype(dtype), suffix=suffix)

    def branch(self, anchor: Node, build, inputs: Sequence = ()) -> Graph:
        """A subgraph (for If and Loop) whose nodes share ``anchor``'s scope. ``build`` gets a
        function ``op(op_type, *inputs, **attrs) -> Value`` followed by one Value per type in
        ``inputs`` (the subgraph's inputs), and returns the subgraph's output value(s)."""
        graph = Graph(name=self.fresh(f"{anchor.name or anchor.op_type}_branch"))
        for ir_type in inputs:
            value = Value(self.fresh(f"{anchor.name or anchor.op_type}_in"), ir_type)
            graph.inputs.append(value)
            value.meta["_graph"] = graph

        def op(op_type: str, *inputs: Value | None, **attrs) -> Value:
            base = f"{anchor.name or anchor.op_type}_{op_type}"
            node = Node(
                "",
                op_type,
                list(inputs),
                attributes=[make_attr(k, v) for k, v in attrs.items()],
                outputs=[Value(self.fresh(base))],
                name=self.fresh(base),
            )
            self.adopt_scope(node, anchor)
            graph.append(node)
            self.set_opset(node, self.target)
            self.made(node)
            return node.outputs[0]

        result = build(op, *graph.inputs)
        results = list(result) if isinstance(result, (list, tuple)) else [result]
        for value in results:
            # A branch must compute its outputs; an outer value is passed through.
            own = value.producer is not None and value.producer.graph is graph
            graph.outputs.append(value if own else op("Identity", value))
        return graph

    def if_(self, anchor: Node, condition: Value, then: Graph, otherwise: Graph) -> Value:
        return self.node(
            anchor,
            "If",
            [condition],
            [
                Attr("then_branch", AttrType.GRAPH, then),
                Attr("else_branch", AttrType.GRAPH, otherwise),
            ],
        ).outputs[0]

    @staticmethod
    def adopt_scope(node: Node, anchor: Node) -> None:
        """Give ``node`` the origin of ``anchor``: its metadata and its scope."""
        node.metadata_props.update(anchor.metadata_props)
        node.scope = anchor.scope

    def replace(self, old: Node, new_outputs: Sequence[Value | None]) -> None:
        """Route readers of ``old``'s outputs to ``new_outputs`` and remove ``old``.

        The new values take the old names, so graph outputs and downstream names stay put. A
        replacement that is not a fresh node output (a graph input, or a value that already
        has a name of its own to keep) is passed through an Identity first.
        """
        for value, new in zip(old.outputs, new_outputs):
            if new is None:
                if value.has_uses() or _is_graph_output(value):
                    raise ValueError(
                        f"{old.op_type} output {value.name!r} is used but has no replacement"
                    )
                continue
            if id(new) not in self._made or _is_graph_output(new):
                new = self.node(old, "Identity", [new]).outputs[0]
            name = value.name
            value.replace_all_uses_with(new)
            value.name = self.fresh(f"{name}__replaced")
            self.names.discard(new.name)
            new.name = name
            if value.type is not None:
                new.type = value.type
        old.graph.remove(old)

    # -- types --------------------------------------------------------------------------------

    def type_of(self, value: Value | None):
        """The best known type of ``value``: recorded, else inferred from its producers."""
        if value is None:
            return None
        if _complete(value.type):
            return value.type
        known = self._types.get(id(value))
        if known is not None:
            return known
        if value.producer is None:
            if value.type is None and value.const_value is not None:
                tensor = value.const_value
                return TensorType(tensor.dtype, tuple(tensor.shape))
            if value.type is None:
                self._types[id(value)] = self._body_input_type(value)
                return self._types[id(value)]
            return value.type
        self._infer_upwards(value.producer)
        return self._types.get(id(value), value.type)

    def dtype(self, value: Value | None) -> DataType | None:
        ir_type = self.type_of(value)
        if isinstance(ir_type, TensorType) and isinstance(ir_type.dtype, DataType):
            return ir_type.dtype
        return None

    def shape(self, value: Value | None) -> tuple | None:
        ir_type = self.type_of(value)
        return ir_type.shape if isinstance(ir_type, TensorType) else None

    def rank(self, value: Value | None) -> int | None:
        shape = self.shape(value)
        return None if shape is None else len(shape)

    def numpy_dtype(self, value: Value | None) -> np.dtype | None:
        dtype = self.dtype(value)
        if dtype is None:
            return None
        try:
            return dtype.to_numpy()
        except (TypeError, KeyError, ValueError):
            return None

    def _infer_loop(self, node: Node) -> None:
        """Loop and Scan outputs: carried states keep their type, scanned outputs are stacks
        of the body's outputs (element type known, shape left open)."""
        body = node.attr("body")
        if body is None:
            return
        if node.op_type == "Loop":
            carried = node.inputs[2:]
            body_outputs = body.outputs[1:]
        else:
            carried = node.inputs[: len(node.inputs) - node.attr("num_scan_inputs", 0)]
            body_outputs = body.outputs
        for index, value in enumerate(node.outputs):
            if index < len(carried):
                self._types[id(value)] = self.type_of(carried[index])
            elif index < len(body_outputs):
                inner = self.type_of(body_outputs[index])
                self._types[id(value)] = (
                    TensorType(inner.dtype) if isinstance(inner, TensorType) else None
                )

    def _body_input_type(self, value: Value):
        """The type of an untyped input of a Loop or Scan body, from the loop's inputs."""
        graph = value.graph
        owner = graph.parent if graph is not None else None
        if owner is None or owner.domain != "" or value not in graph.inputs:
            return None
        index = graph.inputs.index(value)
        if owner.op_type == "Loop":
            if index < 2:
                return TensorType(DataType.INT64 if index == 0 else DataType.BOOL, ())
            return self.type_of(owner.inputs[index]) if index < len(owner.inputs) else None
        if owner.op_type == "Scan":
            scans = owner.attr("num_scan_inputs", 0)
            states = len(owner.inputs) - scans
            if index >= len(owner.inputs):
                return None
            outer = self.type_of(owner.inputs[index])
            if index < states or not isinstance(outer, TensorType) or outer.shape is None:
                return outer
            axes = owner.attr("scan_input_axes") or [0] * scans
            axis = axes[index - states] % len(outer.shape)
            return TensorType(outer.dtype, outer.shape[:axis] + outer.shape[axis + 1 :])
        return None

    def _infer_upwards(self, start: Node) -> None:
        """Infer the outputs of ``start``, first inferring its producers' (no recursion: a
        long chain of untyped values must not hit Python's stack limit)."""
        stack = [start]
        visiting: set[int] = set()
        while stack:
            node = stack[-1]
            pending = [
                v.producer
                for v in node.inputs
                if v is not None
                and v.producer is not None
                and not _complete(v.type)
                and id(v) not in self._types
                and id(v.producer) not in visiting
            ]
            if pending and id(node) not in visiting:
                visiting.add(id(node))
                stack.extend(pending)
                continue
            stack.pop()
            visiting.add(id(node))
            if all(id(v) in self._types for v in node.outputs):
                continue
            self._infer_node(node)

    def _infer_node(self, node: Node) -> None:
        if node.op_type == "Constant" and node.domain == "":
            array = constant_array(node.outputs[0])
            if array is not None:
                self._types[id(node.outputs[0])] = TensorType(
                    DataType.from_numpy(array.dtype), tuple(array.shape)
                )
                return
        if node.op_type == "If" and node.domain == "":
            # onnx infers one node without its subgraphs; the branches' outputs say it all.
            branches = [node.attr("then_branch"), node.attr("else_branch")]
            if all(b is not None and len(b.outputs) == len(node.outputs) for b in branches):
                for index, value in enumerate(node.outputs):
                    self._types[id(value)] = _join(
                        [self.type_of(b.outputs[index]) for b in branches]
                    )
                return
        if node.op_type in ("Loop", "Scan") and node.domain == "":
            self._infer_loop(node)
            return
        inputs = [self.type_of(v) if v is not None else None for v in node.inputs]
        constants = {
            k: constant_array(v)
            for k, v in enumerate(node.inputs)
            if v is not None and _maybe_constant(v)
        }
        inferred = schemas.infer_output_types(node, self.opset_of(node), inputs, constants)
        for value, ir_type in zip(node.outputs, inferred):
            self._types[id(value)] = _merge(value.type, ir_type)


def _complete(ir_type) -> bool:
    return (
        isinstance(ir_type, TensorType)
        and isinstance(ir_type.dtype, DataType)
        and ir_type.shape is not None
    )


def _join(types):
    """The type of a value that is one of ``types`` (an If's output)."""
    first = types[0]
    if all(t == first for t in types):
        return first
    if not all(isinstance(t, TensorType) and t.dtype == first.dtype for t in types):
        return None
    return first if all(t.shape == first.shape for t in types) else TensorType(first.dtype)


def _merge(recorded, inferred):
    if recorded is None:
        return inferred
    if isinstance(recorded, TensorType) and isinstance(inferred, TensorType):
        if recorded.shape is None and recorded.dtype == inferred.dtype:
            return inferred
    return recorded


def _maybe_constant(value: Value) -> bool:
    producer = value.producer
    return value.const_value is not None or (
        producer is not None and producer.op_type == "Constant"
    )


def _is_graph_output(value: Value) -> bool:
    graph = value.graph
    return graph is not None and any(v is value for v in graph.outputs)
