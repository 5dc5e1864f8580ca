"""The IR: models, graphs, nodes, values, attributes and functions.

Use-def information is kept current by the mutation methods here; code outside this module
changes the graph only through them (``Node.replace_input_with``, ``Value.replace_all_uses_with``,
``Graph.append`` / ``insert_before`` / ``remove`` ...), never by assigning to private fields.

Every node has exactly one :class:`Scope`. Setting ``node.scope`` also writes the standard
storage (``metadata_props`` keys ``hcc.tag``, ``hcc.module`` and ``namespace``), so the stored
tags and the IR's scopes cannot drift apart.

``proto_extras`` on each object is owned by :mod:`hcc.ir.onnx`: it records details of the file
format that the IR does not model (field presence, rarely used fields) so export is lossless.
Passes leave it alone.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ._dtypes import DataType
from ._scope import Scope
from ._tensors import Tensor
from ._types import TensorType, Type

TAG_KEY = "hcc.tag"
MODULE_KEY = "hcc.module"
# Model Explorer groups nodes by this key: one "<module path>: <class>" entry per level, joined
# by "/", the root with an empty path.
NAMESPACE_KEY = "namespace"


def namespace_of(scope: Scope) -> str:
    """The ``namespace`` metadata string that shows ``scope`` as nested groups in viewers."""
    levels = reversed(list(scope.ancestors(include_self=True)))
    return "/".join(f"{s.module_path}: {s.qualified_class or s.class_name}" for s in levels)


class AttrType(enum.IntEnum):
    """Attribute kinds, numbered as in ONNX's AttributeProto.AttributeType."""

    UNDEFINED = 0
    FLOAT = 1
    INT = 2
    STRING = 3
    TENSOR = 4
    GRAPH = 5
    FLOATS = 6
    INTS = 7
    STRINGS = 8
    TENSORS = 9
    GRAPHS = 10
    SPARSE_TENSOR = 11
    SPARSE_TENSORS = 12
    TYPE_PROTO = 13
    TYPE_PROTOS = 14


class SparseTensor:
    """A sparse tensor: non-zero ``values``, their ``indices`` and the dense ``dims``."""

    __slots__ = ("values", "indices", "dims")

    def __init__(self, values: Tensor, indices: Tensor, dims: Sequence[int]) -> None:
        self.values = values
        self.indices = indices
        self.dims = tuple(int(d) for d in dims)

    def __repr__(self) -> str:
        return f"<SparseTensor {self.values.name!r} dims={list(self.dims)}>"


class Attr:
    """A node attribute. ``ref_attr_name`` is set inside functions for attributes that refer to
    an attribute of the calling node; such attributes carry no value."""

    __slots__ = ("name", "type", "value", "doc_string", "ref_attr_name", "proto_extras")

    def __init__(
        self,
        name: str,
        type: AttrType | int,
        value: Any,
        *,
        doc_string: str = "",
        ref_attr_name: str | None = None,
    ) -> None:
        self.name = name
        self.type = type
        self.value = value
        self.doc_string = doc_string
        self.ref_attr_name = ref_attr_name
        self.proto_extras: dict[str, Any] = {}

    @property
    def is_ref(self) -> bool:
        return self.ref_attr_name is not None

    def __repr__(self) -> str:
        if self.is_ref:
            return f"Attr({self.name!r}, ref={self.ref_attr_name!r})"
        return f"Attr({self.name!r}, {getattr(self.type, 'name', self.type)}, {self.value!r})"


# Small constructors so passes can write ``Attr.int("axis", 1)``.
def _attr_ctor(kind: AttrType):
    def make(name: str, value: Any) -> Attr:
        if kind in (AttrType.FLOATS, AttrType.INTS, AttrType.STRINGS):
            value = list(value)
        return Attr(name, kind, value)

    make.__doc__ = f"An attribute of type {kind.name}."
    return staticmethod(make)


Attr.float = _attr_ctor(AttrType.FLOAT)  # type: ignore[attr-defined]
Attr.int = _attr_ctor(AttrType.INT)  # type: ignore[attr-defined]
Attr.string = _attr_ctor(AttrType.STRING)  # type: ignore[attr-defined]
Attr.tensor = _attr_ctor(AttrType.TENSOR)  # type: ignore[attr-defined]
Attr.graph = _attr_ctor(AttrType.GRAPH)  # type: ignore[attr-defined]
Attr.floats = _attr_ctor(AttrType.FLOATS)  # type: ignore[attr-defined]
Attr.ints = _attr_ctor(AttrType.INTS)  # type: ignore[attr-defined]
Attr.strings = _attr_ctor(AttrType.STRINGS)  # type: ignore[attr-defined]


class Value:
    """A tensor (or sequence, map, ...) flowing between nodes.

    A value is produced by at most one node output (``producer``/``index``), or is a graph input
    or initializer (then ``producer`` is None). ``uses`` lists every (node, input index) that
    reads it, in the order the uses were made; nodes of subgraphs that read an outer value are
    listed too. An initializer has ``const_value`` set.
    """

    __slots__ = (
        "name",
        "type",
        "doc_string",
        "metadata_props",
        "const_value",
        "meta",
        "proto_extras",
        "_producer",
        "_index",
        "_uses",
        "__weakref__",
    )

    def __init__(
        self,
        name: str = "",
        type: Type | None = None,
        *,
        const_value: Tensor | None = None,
        doc_string: str = "",
        metadata_props: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.type = type
        self.doc_string = doc_string
        self.metadata_props: dict[str, str] = dict(metadata_props or {})
        self.const_value = const_value
        self.meta: dict[str, Any] = {}
        self.proto_extras: dict[str, Any] = {}
        self._producer: Node | None = None
        self._index: int | None = None
        self._uses: dict[tuple[Node, int], None] = {}

    # -- def-use --------------------------------------------------------------------------------

    @property
    def producer(self) -> Node | None:
        return self._producer

    @property
    def index(self) -> int | None:
        """Which output of the producer this value is."""
        return self._index

    @property
    def uses(self) -> list[tuple[Node, int]]:
        return list(self._uses)

    def consumers(self) -> list[Node]:
        """Nodes reading this value, each once, in order of first use."""
        return list(dict.fromkeys(node for node, _ in self._uses))

    def has_uses(self) -> bool:
        return bool(self._uses)

    def replace_all_uses_with(self, other: Value, *, graph_outputs: bool = True) -> None:
        """Make every reader of this value read ``other`` instead.

        With ``graph_outputs`` the replacement also happens in the output lists of graphs
        (the owning graph and any subgraph) that list this value.
        """
        if other is self:
            return
        for node, idx in list(self._uses):
            node.replace_input_with(idx, other)
        if graph_outputs:
            graph = self.graph
            if graph is not None:
                for g in graph.root().subgraphs(include_self=True):
                    g.outputs[:] = [other if v is self else v for v in g.outputs]

    @property
    def graph(self) -> Graph | None:
        """The graph that defines this value, when known."""
        if self._producer is not None:
            return self._producer.graph
        return self.meta.get("_graph")

    # -- convenience ----------------------------------------------------------------------------

    @property
    def dtype(self) -> DataType | int | None:
        if isinstance(self.type, TensorType):
            return self.type.dtype
        if self.const_value is not None:
            return self.const_value.dtype
        return None

    @property
    def shape(self) -> tuple | None:
        if isinstance(self.type, TensorType):
            return self.type.shape
        if self.const_value is not None:
            return self.const_value.shape
        return None

    @property
    def is_initializer(self) -> bool:
        return self.const_value is not None and self._producer is None

    def scopes_of_uses(self) -> list[Scope]:
        """Every distinct scope that reads this value (an initializer's owners), in order."""
        return list(dict.fromkeys(node.scope for node, _ in self._uses))

    def __repr__(self) -> str:
        return f"Value({self.name!r}, {self.type})"


class Node:
    """One operator call: inputs, outputs, attributes, and the scope it came from."""

    __slots__ = (
        "domain",
        "op_type",
        "overload",
        "name",
        "doc_string",
        "attributes",
        "metadata_props",
        "meta",
        "proto_extras",
        "_inputs",
        "_outputs",
        "_graph",
        "_scope",
        "__weakref__",
    )

    def __init__(
        self,
        domain: str,
        op_type: str,
        inputs: Sequence[Value | None] = (),
        *,
        attributes: Iterable[Attr] | dict[str, Attr] = (),
        outputs: Sequence[Value] | None = None,
        num_outputs: int = 1,
        name: str = "",
        overload: str = "",
        doc_string: str = "",
        metadata_props: dict[str, str] | None = None,
        scope: Scope | None = None,
    ) -> None:
        self.domain = domain
        self.op_type = op_type
        self.overload = overload
        self.name = name
        self.doc_string = doc_string
        if isinstance(attributes, dict):
            attributes = attributes.values()
        self.attributes: dict[str, Attr] = {a.name: a for a in attributes}
        self.metadata_props: dict[str, str] = dict(metadata_props or {})
        self.meta: dict[str, Any] = {}
        self.proto_extras: dict[str, Any] = {}
        self._graph: Graph | None = None
        if outputs is None:
            outputs = [Value() for _ in range(num_outputs)]
        # Check before registering anything, so a refused node leaves no uses behind.
        for value in outputs:
            if value._producer is not None:
                raise ValueError(f"value {value.name!r} already has a producer")
        self._inputs: list[Value | None] = []
        for value in inputs:
            self._inputs.append(value)
            if value is not None:
                value._uses[(self, len(self._inputs) - 1)] = None
        self._outputs: list[Value] = []
        for i, value in enumerate(outputs):
            value._producer, value._index = self, i
            self._outputs.append(value)
        self._claim_subgraphs()
        self._scope = Scope.unknown()
        if scope is not None:
            self.scope = scope

    # -- scope ----------------------------------------------------------------------------------

    @property
    def scope(self) -> Scope:
        return self._scope

    @scope.setter
    def scope(self, scope: Scope) -> None:
        if not isinstance(scope, Scope):
            raise TypeError(f"a node's scope must be a Scope, not {type(scope).__name__}")
        self._scope = scope
        if scope.is_unknown:
            for key in (TAG_KEY, MODULE_KEY, NAMESPACE_KEY):
                self.metadata_props.pop(key, None)
        else:
            self.metadata_props[TAG_KEY] = scope.tag
            self.metadata_props[MODULE_KEY] = scope.module_path
            self.metadata_props[NAMESPACE_KEY] = namespace_of(scope)

    def _set_scope_quietly(self, scope: Scope) -> None:
        """Set the scope without touching metadata (the importer: it already holds the tags)."""
        self._scope = scope

    # -- inputs and outputs ---------------------------------------------------------------------

    @property
    def inputs(self) -> tuple[Value | None, ...]:
        return tuple(self._inputs)

    @property
    def outputs(self) -> tuple[Value, ...]:
        return tuple(self._outputs)

    @property
    def graph(self) -> Graph | None:
        return self._graph

    def replace_input_with(self, index: int, value: Value | None) -> None:
        old = self._inputs[index]
        if old is value:
            return
        if old is not None:
            old._uses.pop((self, index), None)
        self._inputs[index] = value
        if value is not None:
            value._uses[(self, index)] = None

    def set_inputs(self, values: Sequence[Value | None]) -> None:
        """Replace the whole input list."""
        self._detach_inputs()
        self._inputs = list(values)
        for i, value in enumerate(self._inputs):
            if value is not None:
                value._uses[(self, i)] = None

    def append_input(self, value: Value | None) -> None:
        self._inputs.append(value)
        if value is not None:
            value._uses[(self, len(self._inputs) - 1)] = None

    def append_output(self, value: Value | None = None) -> Value:
        value = value if value is not None else Value()
        if value._producer is not None:
            raise ValueError(f"value {value.name!r} already has a producer")
        value._producer, value._index = self, len(self._outputs)
        self._outputs.append(value)
        return value

    def _detach_inputs(self) -> None:
        for i, value in enumerate(self._inputs):
            if value is not None:
                value._uses.pop((self, i), None)

    def _attach_inputs(self) -> None:
        for i, value in enumerate(self._inputs):
            if value is not None:
                value._uses[(self, i)] = None

    def _claim_subgraphs(self) -> None:
        """Point the ``parent`` of every subgraph in the attributes at this node."""
        for sub in self.subgraphs():
            sub.parent = self

    # -- attributes and subgraphs ---------------------------------------------------------------

    def attr(self, name: str, default: Any = None) -> Any:
        """The value of attribute ``name``, or ``default`` if the node has none."""
        attribute = self.attributes.get(name)
        return default if attribute is None else attribute.value

    def subgraphs(self) -> Iterator[Graph]:
        for attribute in self.attributes.values():
            if attribute.type == AttrType.GRAPH and attribute.value is not None:
                yield attribute.value
            elif attribute.type == AttrType.GRAPHS:
                yield from attribute.value

    def __repr__(self) -> str:
        domain = f"{self.domain}::" if self.domain else ""
        return f"Node({self.name!r}, {domain}{self.op_type}, scope={self._scope.tag!r})"


class Graph:
    """An ordered list of nodes with inputs, outputs, initializers and value_info.

    ``value_info`` lists the values whose type is recorded as ONNX value_info, in file order.
    A subgraph (the body of If/Loop/Scan) has ``parent`` set to the node that owns it.
    """

    def __init__(
        self,
        inputs: Sequence[Value] = (),
        outputs: Sequence[Value] = (),
        nodes: Iterable[Node] = (),
        *,
        initializers: Iterable[Value] = (),
        name: str = "",
        doc_string: str = "",
        metadata_props: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.doc_string = doc_string
        self.metadata_props: dict[str, str] = dict(metadata_props or {})
        self.inputs: list[Value] = list(inputs)
        self.outputs: list[Value] = list(outputs)
        self.initializers: dict[str, Value] = {}
        self.sparse_initializers: list[SparseTensor] = []
        self.value_info: list[Value] = []
        self.parent: Node | None = None
        self.meta: dict[str, Any] = {}
        self.proto_extras: dict[str, Any] = {}
        self._nodes: list[Node] = []
        for value in self.inputs:
            value.meta["_graph"] = self
        for value in initializers:
            self.add_initializer(value)
        self.extend(nodes)

    # -- nodes ----------------------------------------------------------------------------------

    @property
    def nodes(self) -> tuple[Node, ...]:
        return tuple(self._nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(list(self._nodes))

    def __len__(self) -> int:
        return len(self._nodes)

    def _adopt(self, node: Node) -> None:
        if node._graph is not None:
            raise ValueError(f"{node!r} already belongs to a graph")
        node._graph = self
        # ``remove`` dropped the uses of a node (and its subgraphs' reads of outer values);
        # a node moved here reads its inputs again. Registering is idempotent.
        node._attach_inputs()
        node._claim_subgraphs()
        for sub in node.subgraphs():
            for inner in sub.all_nodes():
                inner._attach_inputs()
                inner._claim_subgraphs()

    def append(self, node: Node) -> Node:
        self._adopt(node)
        self._nodes.append(node)
        return node

    def extend(self, nodes: Iterable[Node]) -> None:
        for node in nodes:
            self.append(node)

    def insert_before(self, anchor: Node, node: Node) -> Node:
        position = self._position(anchor)
        self._adopt(node)
        self._nodes.insert(position, node)
        return node

    def insert_after(self, anchor: Node, node: Node) -> Node:
        position = self._position(anchor)
        self._adopt(node)
        self._nodes.insert(position + 1, node)
        return node

    def _position(self, node: Node) -> int:
        if node._graph is not self:
            raise ValueError(f"{node!r} is not in this graph")
        for i, candidate in enumerate(self._nodes):
            if candidate is node:
                return i
        raise AssertionError("node claims this graph but is not in its list")

    def remove(self, nodes: Node | Iterable[Node], *, safe: bool = True) -> None:
        """Remove nodes and drop their uses of other values.

        With ``safe`` (the default) a node whose outputs are still read by a node that stays, or
        that are graph outputs, is refused with ValueError: removing it would leave dangling values.
        """
        group = [nodes] if isinstance(nodes, Node) else list(nodes)
        removing = {id(n) for n in group}
        for node in group:
            if node._graph is not self:
                raise ValueError(f"{node!r} is not in this graph")
        if safe:
            outputs = {id(v) for v in self.outputs}
            for node in group:
                for value in node._outputs:
                    if id(value) in outputs:
                        raise ValueError(f"cannot remove {node!r}: {value.name!r} is a graph output")
                    for user, _ in value._uses:
                        if id(user) not in removing and not _is_inside(user, removing):
                            raise ValueError(
                                f"cannot remove {node!r}: {value.name!r} is still used by {user!r}"
                            )
        for node in group:
            node._detach_inputs()
            _detach_captures(node)
            node._graph = None
        self._nodes = [n for n in self._nodes if id(n) not in removing]

    def sort_nodes(self, order: Sequence[Node]) -> None:
        """Reorder the node list; ``order`` must hold exactly this graph's nodes."""
        if len(order) != len(self._nodes) or {id(n) for n in order} != {id(n) for n in self._nodes}:
            raise ValueError("sort_nodes needs a permutation of the graph's nodes")
        self._nodes = list(order)

    # -- initializers ---------------------------------------------------------------------------

    def add_initializer(self, value: Value) -> Value:
        if value.const_value is None:
            raise ValueError(f"initializer {value.name!r} has no const_value")
        if not value.name:
            raise ValueError("an initializer needs a name")
        if value.name in self.initializers and self.initializers[value.name] is not value:
            raise ValueError(f"duplicate initializer {value.name!r}")
        value.meta["_graph"] = self
        self.initializers[value.name] = value
        return value

    def remove_initializer(self, name: str) -> Value:
        value = self.initializers[name]
        if value.has_uses():
            raise ValueError(f"initializer {name!r} is still used")
        del self.initializers[name]
        return value

    # -- traversal ------------------------------------------------------------------------------

    def root(self) -> Graph:
        graph = self
        while graph.parent is not None and graph.parent._graph is not None:
            graph = graph.parent._graph
        return graph

    def subgraphs(self, *, include_self: bool = False) -> Iterator[Graph]:
        """This graph (optionally) and every graph nested in its nodes, depth first."""
        if include_self:
            yield self
        for node in self._nodes:
            for sub in node.subgraphs():
                yield from sub.subgraphs(include_self=True)

    def all_nodes(self) -> Iterator[Node]:
        """Every node of this graph and of its subgraphs, each subgraph after its owner."""
        for node in self._nodes:
            yield node
            for sub in node.subgraphs():
                yield from sub.all_nodes()

    def values(self) -> Iterator[Value]:
        """Inputs, initializers, then node outputs, each once."""
        seen: set[int] = set()
        for value in [*self.inputs, *self.initializers.values()]:
            if id(value) not in seen:
                seen.add(id(value))
                yield value
        for node in self._nodes:
            for value in node._outputs:
                if id(value) not in seen:
                    seen.add(id(value))
                    yield value

    def find_value(self, name: str) -> Value | None:
        for value in self.values():
            if value.name == name:
                return value
        return None

    # -- scope queries --------------------------------------------------------------------------

    def scopes(self) -> list[Scope]:
        """Distinct scopes of the nodes, in order of first appearance."""
        return list(dict.fromkeys(node.scope for node in self._nodes))

    def nodes_in(self, scope: Scope) -> list[Node]:
        """Nodes whose scope is ``scope`` or lies below it, in graph order."""
        return [n for n in self._nodes if n.scope.is_within(scope)]

    def child_scopes(self, scope: Scope | None = None) -> list[Scope]:
        """Direct children of ``scope`` that hold nodes (the roots when ``scope`` is None)."""
        children: dict[Scope, None] = {}
        for node in self._nodes:
            s = node.scope
            if s.is_unknown:
                continue
            if scope is None:
                children[s.root_scope] = None
            elif s.is_within(scope) and s.depth > scope.depth:
                children[s.at_depth(scope.depth + 1)] = None
        return list(children)

    def values_entering(self, scope: Scope) -> list[Value]:
        """Values read by nodes in ``scope`` but defined outside it (inputs, initializers, or
        outputs of nodes in other scopes), in order of first use."""
        inside = {id(n) for n in self.nodes_in(scope)}
        entering: dict[int, Value] = {}
        for node in self._nodes:
            if id(node) not in inside:
                continue
            for value in _reads(node):
                producer = value._producer
                if producer is None or id(producer) not in inside:
                    entering.setdefault(id(value), value)
        return list(entering.values())

    def values_leaving(self, scope: Scope) -> list[Value]:
        """Values defined by nodes in ``scope`` and read outside it or listed as graph outputs."""
        inside = {id(n) for n in self.nodes_in(scope)}
        outputs = {id(v) for v in self.outputs}
        leaving: list[Value] = []
        for node in self._nodes:
            if id(node) not in inside:
                continue
            for value in node._outputs:
                if id(value) in outputs or any(
                    id(_top_level_owner(user, self)) not in inside for user, _ in value._uses
                ):
                    leaving.append(value)
        return leaving

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, {len(self._nodes)} nodes)"


def _reads(node: Node) -> Iterator[Value]:
    """Values a node reads: its inputs and the outer values its subgraphs capture."""
    for value in node._inputs:
        if value is not None:
            yield value
    for sub in node.subgraphs():
        defined = {id(v) for g in sub.subgraphs(include_self=True) for v in g.values()}
        for inner in sub.all_nodes():
            for value in inner._inputs:
                if value is not None and id(value) not in defined:
                    yield value


def _detach_captures(node: Node) -> None:
    """Drop the uses that nodes in ``node``'s subgraphs make of values defined outside them.

    The subgraphs' own use-def stays intact, so a removed node can be inspected or re-inserted.
    """
    subs = list(node.subgraphs())
    if not subs:
        return
    defined = {id(v) for sub in subs for g in sub.subgraphs(include_self=True) for v in g.values()}
    for sub in subs:
        for inner in sub.all_nodes():
            for i, value in enumerate(inner._inputs):
                if value is not None and id(value) not in defined:
                    value._uses.pop((inner, i), None)


def owner_in(node: Node, graph: Graph) -> Node:
    """The node of ``graph`` that is ``node`` or holds it in one of its subgraphs."""
    while node._graph is not None and node._graph is not graph and node._graph.parent is not None:
        node = node._graph.parent
    return node


_top_level_owner = owner_in


def node_reads(node: Node) -> Iterator[Value]:
    """Every value ``node`` reads: its inputs, then what the nodes of its subgraphs read
    (outer values and the subgraphs' own)."""
    for value in node._inputs:
        if value is not None:
            yield value
    for sub in node.subgraphs():
        for inner in sub.all_nodes():
            for value in inner._inputs:
                if value is not None:
                    yield value


def _is_inside(node: Node, owners: set[int]) -> bool:
    graph = node._graph
    while graph is not None and graph.parent is not None:
        if id(graph.parent) in owners:
            return True
        graph = graph.parent._graph
    return False


class Function:
    """A model-local function: a graph body plus its identity, attributes and opset imports.

    ``attributes`` names the attributes a call may set (without defaults); ``attribute_defaults``
    holds those declared with a default value.
    """

    def __init__(
        self,
        domain: str,
        name: str,
        graph: Graph,
        *,
        overload: str = "",
        attributes: Sequence[str] = (),
        attribute_defaults: Iterable[Attr] = (),
        opset_imports: dict[str, int] | None = None,
        doc_string: str = "",
        metadata_props: dict[str, str] | None = None,
    ) -> None:
        self.domain = domain
        self.name = name
        self.overload = overload
        self.graph = graph
        self.attributes: list[str] = list(attributes)
        self.attribute_defaults: dict[str, Attr] = {a.name: a for a in attribute_defaults}
        self.opset_imports: dict[str, int] = dict(opset_imports or {})
        self.doc_string = doc_string
        self.metadata_props: dict[str, str] = dict(metadata_props or {})
        self.meta: dict[str, Any] = {}
        self.proto_extras: dict[str, Any] = {}

    @property
    def identifier(self) -> tuple[str, str, str]:
        return (self.domain, self.name, self.overload)

    @property
    def inputs(self) -> list[Value]:
        return self.graph.inputs

    @property
    def outputs(self) -> list[Value]:
        return self.graph.outputs

    def __repr__(self) -> str:
        return f"Function({self.domain}::{self.name}, {len(self.graph)} nodes)"


class Model:
    """A whole model: the main graph, functions, opset imports and model-level metadata."""

    def __init__(
        self,
        graph: Graph,
        *,
        ir_version: int = 10,
        opset_imports: dict[str, int] | None = None,
        producer_name: str = "",
        producer_version: str = "",
        domain: str = "",
        model_version: int = 0,
        doc_string: str = "",
        metadata_props: dict[str, str] | None = None,
        functions: Iterable[Function] = (),
    ) -> None:
        self.graph = graph
        self.ir_version = ir_version
        self.opset_imports: dict[str, int] = dict(opset_imports or {})
        self.producer_name = producer_name
        self.producer_version = producer_version
        self.domain = domain
        self.model_version = model_version
        self.doc_string = doc_string
        self.metadata_props: dict[str, str] = dict(metadata_props or {})
        self.functions: dict[tuple[str, str, str], Function] = {}
        for function in functions:
            self.functions[function.identifier] = function
        self.meta: dict[str, Any] = {}
        self.proto_extras: dict[str, Any] = {}

    def graphs(self) -> Iterator[Graph]:
        """The main graph, function bodies and all their subgraphs."""
        yield from self.graph.subgraphs(include_self=True)
        for function in self.functions.values():
            yield from function.graph.subgraphs(include_self=True)

    def all_nodes(self) -> Iterator[Node]:
        for graph in self.graphs():
            yield from graph.nodes

    def __repr__(self) -> str:
        return f"Model(ir={self.ir_version}, opsets={self.opset_imports}, {self.graph!r})"
