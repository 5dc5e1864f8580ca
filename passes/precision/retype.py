"""The work of ``convert-precision``: give every float32 value its new element type and put
Casts where a value's type and what its reader computes in differ.

Each node gets a *plan* from its operator schema: for every type parameter (``T`` of ``Add``)
the element type the node computes in. A node the policy keeps computes in float32; a node whose
schema does not allow the low type for that parameter does too. Inputs bound to a fixed type
(``Resize``'s float scales) keep their original type, and a few inputs accept any type
(``Shape``, ``Size``, ``Cast``): they never need a Cast. Nodes of other domains, function calls
and control flow (``If``, ``Loop``, ``Scan``) are opaque: their float inputs get their original
types back and their outputs are left alone; the bodies of control flow and functions are
converted on their own, with their interfaces unchanged.

Initializers and ``Constant`` tensors whose readers all compute in the low type are stored in
it (clamped to its range, with a warning); one read by a float32 node too stays float32 and the
low readers share one Cast. One Cast is made per (value, type) and graph, inserted before its
first reader, and tagged with the scope it serves: the common scope of its readers (the
producer's scope for a Cast that restores a graph output's type).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

from hcc.ir import (
    ArrayTensor,
    Attr,
    AttrType,
    DataType,
    Graph,
    Model,
    Node,
    Scope,
    Tensor,
    TensorType,
    Value,
    common_scope,
)

from .kept import decide_kept
from .policy import Policy
from .ranges import Clamped, to_low_precision
from .schema import binding as schema_binding
from .schema import dtype_code

FLOAT = DataType.FLOAT
_OTHER_FLOATS = frozenset({DataType.FLOAT16, DataType.BFLOAT16, DataType.DOUBLE})
_ANY_INPUT = {"Shape": None, "Size": None, "Cast": None, "CastLike": {0}}  # None: every input
_OPAQUE = {"If", "Loop", "Scan", "SequenceMap"}
# Ops whose output element type comes from an attribute, not from their inputs.
_TYPE_FROM_ATTRIBUTE = {
    "RandomNormal",
    "RandomUniform",
    "RandomNormalLike",
    "RandomUniformLike",
    "EyeLike",
    "Multinomial",
    "Bernoulli",
}


@dataclasses.dataclass
class Plan:
    """Element type per input and output: the type the node needs (None: whatever it gets)."""

    inputs: list[DataType | None]
    outputs: list[DataType | None]
    low: bool  # the node computes in the low type (Cast: its target becomes it)


class Conversion:
    """One run of the conversion over a model (see the module docstring)."""

    def __init__(self, model: Model, low: DataType, policy: Policy, *, io_converted: bool) -> None:
        self.model = model
        self.low = low
        self.policy = policy
        self.io_converted = io_converted
        self.original: dict[Value, DataType | int | None] = {}
        self.current: dict[Value, DataType | int | None] = {}
        self._plans: dict[Node, Plan] = {}
        self.kept: set[Node] = set()  # the nodes that compute in float32 (see .kept)
        self._casts: dict[tuple[int, Value, int], Value] = {}
        self._served: dict[Node, list[Scope]] = {}
        self._names = {v.name for g in model.graphs() for v in _values(g) if v.name}
        self._names |= {n.name for n in model.all_nodes() if n.name}
        self._opset_of: dict[int, int] = {}
        self.casts: list[Node] = []
        self.clamped: list[Clamped] = []
        self.converted_tensors = 0
        self.retyped = 0

    # -- driver -----------------------------------------------------------------------------------

    def run(self) -> None:
        main_opset = self.model.opset_imports.get("", self.model.opset_imports.get("ai.onnx", 1))
        for graph in self.model.graph.subgraphs(include_self=True):
            self._opset_of[id(graph)] = main_opset
        for function in self.model.functions.values():
            opset = function.opset_imports.get("", main_opset)
            for graph in function.graph.subgraphs(include_self=True):
                self._opset_of[id(graph)] = opset
        self._record_types()
        for graph in self.model.graphs():
            decide_kept(self, graph)
        if self.io_converted:
            for value in self.model.graph.inputs:
                if self.original.get(value) == FLOAT:
                    self._retype(value, self.low)
        for graph in self.model.graphs():
            self._convert_constants(graph)
        self._convert_graph(self.model.graph, keep_interface=not self.io_converted)
        if self.io_converted:
            for i, value in enumerate(self.model.graph.outputs):
                if self.current.get(value) == FLOAT and self.original.get(value) == FLOAT:
                    self.model.graph.outputs[i] = self._output_cast(
                        self.model.graph, value, self.low
                    )
        for function in self.model.functions.values():
            self._convert_graph(function.graph, keep_interface=True)
        for cast, scopes in self._served.items():
            cast.scope = _common(scopes)

    # -- types before the change ------------------------------------------------------------------

    def _record_types(self) -> None:
        """Original element types of every value; where the file states none, inferred forward
        from the schemas (function bodies: from the first call's types)."""
        for graph in self.model.graphs():
            for value in _values(graph):
                self.original[value] = value.dtype
        calls = {}
        for node in self.model.all_nodes():
            calls.setdefault((node.domain, node.op_type, node.overload), node)
        for _ in range(2):  # functions calling functions: a second round sees the inner calls
            for function in self.model.functions.values():
                call = calls.get(function.identifier)
                if call is not None:
                    for formal, actual in zip(function.inputs, call.inputs):
                        if actual is not None and self.original.get(formal) is None:
                            self.original[formal] = self.original.get(actual)
            for graph in self.model.graphs():
                for node in graph.nodes:
                    self._infer(node, graph)
        self.current = dict(self.original)

    def _infer(self, node: Node, graph: Graph) -> None:
        missing = [v for v in node.outputs if self.original.get(v) is None]
        if not missing:
            return
        if node.op_type == "Cast" and "to" in node.attributes:
            self.original[node.outputs[0]] = dtype_code(node.attributes["to"].value)
            return
        if node.op_type == "Constant" and "value" in node.attributes:
            self.original[node.outputs[0]] = node.attributes["value"].value.dtype
            return
        found = schema_binding(node, self._opset_of.get(id(graph), 1))
        if found is None:
            return
        params, fixed, _ = found
        for k, value in enumerate(node.outputs):
            param = params["out"][k] if k < len(params["out"]) else None
            if self.original.get(value) is not None or param is None:
                continue
            if param in fixed:
                self.original[value] = fixed[param]
                continue
            for i, source in enumerate(node.inputs):
                if source is not None and i < len(params["in"]) and params["in"][i] == param:
                    if self.original.get(source) is not None:
                        self.original[value] = self.original[source]
                        break

    # -- plans ------------------------------------------------------------------------------------

    def plan(self, node: Node) -> Plan:
        known = self._plans.get(node)
        if known is None:
            known = self._plans[node] = self._make_plan(node)
        return known

    def _make_plan(self, node: Node) -> Plan:
        graph = node.graph
        inputs = [self.original.get(v) if v is not None else None for v in node.inputs]
        keep_outputs: list[DataType | None] = [None] * len(node.outputs)
        opaque = Plan(inputs, keep_outputs, False)
        kept = node in self.kept
        if node.op_type in _OPAQUE or any(True for _ in node.subgraphs()):
            return opaque
        if node.op_type == "Cast":
            # A Cast from another float type (a float16 value widened on purpose, the Casts an
            # earlier conversion made) is a precision choice already: it stays.
            source = self.original.get(node.inputs[0]) if node.inputs else None
            low = (
                not kept
                and "to" in node.attributes
                and dtype_code(node.attributes["to"].value) == FLOAT
                and source not in _OTHER_FLOATS
            )
            return Plan([None], [self.low if low else None], low)
        found = (
            schema_binding(node, self._opset_of.get(id(graph), 1)) if graph is not None else None
        )
        if found is None or node.op_type in _TYPE_FROM_ATTRIBUTE:
            return opaque
        params, fixed, allowed = found
        low_name = f"tensor({_TYPE_NAMES[self.low]})"
        target: dict[str, DataType | int | None] = {}
        slots: dict[str, list[Value]] = {}
        for param, value in [*zip(params["in"], node.inputs), *zip(params["out"], node.outputs)]:
            if param is not None and value is not None:
                slots.setdefault(param, []).append(value)
        for param, bound in slots.items():
            if param in fixed:
                target[param] = fixed[param]
                continue
            types = [self.original.get(v) for v in bound]
            first = next((t for t in types if t is not None), None)
            if first == FLOAT and not kept and low_name in allowed.get(param, ()):
                target[param] = self.low
            else:
                target[param] = first if first in (FLOAT, self.low) else None
        any_input = _ANY_INPUT.get(node.op_type, set())
        plan_inputs = []
        for i, value in enumerate(node.inputs):
            param = params["in"][i] if i < len(params["in"]) else None
            free = any_input is None or i in any_input
            plan_inputs.append(
                None if value is None or free or param is None else target.get(param)
            )
        plan_outputs = [target.get(p) if p else None for p in params["out"]]
        plan_outputs += [None] * (len(node.outputs) - len(plan_outputs))
        low = any(t == self.low for t in target.values()) and not kept
        if node.op_type == "Constant":
            low = False  # decided by its readers, see _convert_constants
        return Plan(plan_inputs, plan_outputs, low)

    def reader_wants(self, node: Node, index: int) -> DataType | int | None:
        plan = self.plan(node)
        return plan.inputs[index] if index < len(plan.inputs) else None

    # -- initializers and Constant nodes ----------------------------------------------------------

    def _convert_constants(self, graph: Graph) -> None:
        interface = {id(v) for v in [*graph.inputs, *graph.outputs]}
        for value in list(graph.initializers.values()):
            if id(value) in interface or self.original.get(value) != FLOAT:
                continue
            if self._all_readers_low(value):
                value.const_value = self._lower(value.const_value, value.name, value)
                self._retype(value, self.low)
        for node in graph.nodes:
            if node.op_type != "Constant" or "value" not in node.attributes:
                continue
            value = node.outputs[0]
            attr = node.attributes["value"]
            if attr.value.dtype != FLOAT or id(value) in interface:
                continue
            if self._all_readers_low(value):
                attr.value = self._lower(attr.value, value.name, value)
                self._retype(value, self.low)

    def _all_readers_low(self, value: Value) -> bool:
        wants = [self.reader_wants(node, index) for node, index in value.uses]
        return bool(wants) and all(w in (self.low, None) for w in wants) and self.low in wants

    def _lower(self, tensor: Tensor, name: str, value: Value) -> Tensor:
        lowered, clamped = to_low_precision(tensor, self.low)
        if clamped is not None:
            count, largest = clamped
            scope = _common(value.scopes_of_uses()).tag or "/"
            self.clamped.append(Clamped(name, scope, count, largest))
        self.converted_tensors += 1
        return lowered

    # -- nodes ------------------------------------------------------------------------------------

    def _convert_graph(self, graph: Graph, *, keep_interface: bool) -> None:
        for node in list(graph.nodes):
            self._convert_node(node, graph)
            for sub in node.subgraphs():
                self._convert_graph(sub, keep_interface=True)
        if keep_interface:
            for i, value in enumerate(graph.outputs):
                want = self.original.get(value)
                if want is not None and self.current.get(value) != want:
                    graph.outputs[i] = self._output_cast(graph, value, want)

    def _convert_node(self, node: Node, graph: Graph) -> None:
        plan = self.plan(node)
        for i, value in enumerate(node.inputs):
            want = plan.inputs[i]
            if value is None or want is None:
                continue
            have = self.current.get(value)
            if have is not None and have != want and have in (FLOAT, self.low):
                node.replace_input_with(i, self._cast(graph, value, want, node))
        if node.op_type == "Cast" and plan.low:
            node.attributes["to"] = Attr.int("to", int(self.low))
        if node.op_type == "ConstantOfShape" and plan.outputs and plan.outputs[0] == self.low:
            attr = node.attributes.get("value")
            fill = attr.value if attr is not None else ArrayTensor(np.zeros(1, np.float32))
            node.attributes["value"] = Attr(
                "value", AttrType.TENSOR, self._lower(fill, node.outputs[0].name, node.outputs[0])
            )
        for value, want in zip(node.outputs, plan.outputs):
            if want is not None and self.current.get(value) != want:
                self._retype(value, want)

    def _cast(self, graph: Graph, value: Value, to: DataType, reader: Node) -> Value:
        for owner in _graph_chain(graph):
            made = self._casts.get((id(owner), value, int(to)))
            if made is not None:
                self._served[made.producer].append(reader.scope)
                return made
        out = Value(self._fresh(f"{value.name or 'value'}_{_SHORT[to]}"), _with_dtype(value, to))
        cast = Node(
            "",
            "Cast",
            [value],
            attributes=[Attr.int("to", int(to))],
            outputs=[out],
            name=self._fresh(f"{out.name}/Cast"),
            scope=reader.scope,
        )
        graph.insert_before(reader, cast)
        self._casts[(id(graph), value, int(to))] = out
        self._served[cast] = [reader.scope]
        self.casts.append(cast)
        self.current[out] = self.original[out] = to
        return out

    def _output_cast(self, graph: Graph, value: Value, to: DataType) -> Value:
        """A Cast that gives a graph output back ``to``; the output keeps its name."""
        out = Value(value.name, _with_dtype(value, to))
        value.name = self._fresh(f"{value.name}_{_SHORT[self.current[value]]}")
        producer = value.producer
        scope = (
            producer.scope
            if producer is not None
            else graph.parent.scope
            if graph.parent is not None
            else _root(graph)
        )
        cast = Node(
            "",
            "Cast",
            [value],
            attributes=[Attr.int("to", int(to))],
            outputs=[out],
            name=self._fresh(f"{out.name}/Cast"),
            scope=scope,
        )
        graph.append(cast)
        self.casts.append(cast)
        self.current[out] = self.original[out] = to
        return out

    # -- helpers ----------------------------------------------------------------------------------

    def _retype(self, value: Value, to: DataType) -> None:
        self.current[value] = to
        self.retyped += 1
        if isinstance(value.type, TensorType):
            value.type = dataclasses.replace(value.type, dtype=to)

    def _fresh(self, name: str) -> str:
        candidate, n = name, 1
        while candidate in self._names:
            n += 1
            candidate = f"{name}_{n}"
        self._names.add(candidate)
        return candidate


_SHORT = {DataType.FLOAT: "fp32", DataType.FLOAT16: "fp16", DataType.BFLOAT16: "bf16"}
_TYPE_NAMES = {DataType.FLOAT16: "float16", DataType.BFLOAT16: "bfloat16"}


def _values(graph: Graph) -> Iterator[Value]:
    yield from graph.values()


def _with_dtype(value: Value, to: DataType) -> TensorType:
    if isinstance(value.type, TensorType):
        return dataclasses.replace(value.type, dtype=to)
    return TensorType(to, None)


def _graph_chain(graph: Graph) -> Iterator[Graph]:
    while graph is not None:
        yield graph
        graph = graph.parent.graph if graph.parent is not None else None


def _common(scopes) -> Scope:
    try:
        return common_scope(scopes)
    except ValueError:  # readers under different roots: no scope holds them all
        return Scope.unknown()


def _root(graph: Graph) -> Scope:
    for node in graph.root().nodes:
        if not node.scope.is_unknown:
            return node.scope.root_scope
    return Scope.unknown()
