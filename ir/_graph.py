"""Graphs: ordered nodes with inputs, outputs and initializers, and the walks over them
(subgraphs, the values a node reads, the values crossing a scope's boundary)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ._nodes import Node, Value
from ._scope import Scope

if TYPE_CHECKING:
    from ._attributes import SparseTensor


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
                        raise ValueError(
                            f"cannot remove {node!r}: {value.name!r} is a graph output"
                        )
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
