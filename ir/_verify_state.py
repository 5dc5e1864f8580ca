"""The state of one verification run and how its messages name things (see :mod:`.verifier`).

:class:`RunState` holds the lexical environment the walk keeps (which names are visible, how
each value was defined), the survey that locates every graph and node before the walk, and the
phrases messages use for nodes, values and graphs, so a message can say why a value read is
undefined (too early, removed, or from a graph that does not enclose the reader).
"""

from __future__ import annotations

from ._attributes import AttrType
from ._graph import Graph
from ._model import Function
from ._nodes import Node, Value


def function_name(function: Function) -> str:
    domain = f"{function.domain}::" if function.domain else ""
    overload = f":{function.overload}" if function.overload else ""
    return f"function '{domain}{function.name}{overload}'"


def graph_name(graph: Graph) -> str:
    return f"graph '{graph.name}'" if graph.name else "graph <unnamed>"


def _op(node: Node) -> str:
    domain = f"{node.domain}::" if node.domain else ""
    overload = f":{node.overload}" if node.overload else ""
    return f"{domain}{node.op_type}{overload}"


class RunState:
    """One verification run. ``visible`` and ``defined`` describe the lexical environment of the
    node being checked; entering a subgraph adds to them and leaving it takes its names out."""

    def __init__(self, require_scopes: bool) -> None:
        self.require_scopes = require_scopes
        self.problems: list[str] = []
        # Filled by the survey before the walk: where each graph sits, each node's position,
        # so messages can name unnamed nodes and foreign graphs.
        self.graph_where: dict[int, str] = {}
        self.node_index: dict[int, int] = {}
        # The lexical environment: value name -> (value, id of the graph defining it) and
        # id(value) -> how it was defined (a phrase, or the producing node for outputs, formatted
        # only when a message needs it).
        self.visible: dict[str, tuple[Value, int]] = {}
        self.defined: dict[int, str | Node] = {}
        self.open_graphs: set[int] = set()  # the graph being walked and those enclosing it
        self.walked: set[int] = set()
        self.walked_nodes: set[int] = set()
        self.value_groups: list[tuple[str, list[Value]]] = []
        # id(scope) -> (tag, module path); scopes are held by their nodes for the whole run.
        self.tags: dict[int, tuple[str, str]] = {}

    # -- survey: locations of graphs and positions of nodes ---------------------------------------

    def _survey(self, graph: Graph, where: str) -> None:
        if id(graph) in self.graph_where:
            return  # a graph attached twice; the walk reports it
        self.graph_where[id(graph)] = where
        for position, node in enumerate(graph._nodes):
            self.node_index[id(node)] = position
            for name, sub in named_subgraphs(node):
                self._survey(sub, f"{where} > {self._node(node)}.{name}")

    # -- naming things in messages ---------------------------------------------------------------

    def _node(self, node: Node) -> str:
        if node.name:
            return f"node '{node.name}' ({_op(node)})"
        position = self.node_index.get(id(node))
        return f"node #{position} ({_op(node)})" if position is not None else f"node ({_op(node)})"

    def _how(self, value: Value, how: str | Node) -> str:
        if isinstance(how, Node):
            return f"output {value._index} of {self._node(how)}"
        return how

    def _value(self, value: Value) -> str:
        if value.name:
            return f"%{value.name}"
        producer = value._producer
        if producer is not None:
            return f"%<output {value._index} of {self._node(producer)}>"
        return "%<unnamed>"

    def _why_undefined(self, value: Value) -> str:
        """Why a value read here is not in the environment: too early, or not here at all."""
        producer = value._producer
        if producer is not None:
            owner = producer._graph
            if owner is None:
                return f"is produced by {self._node(producer)}, which is in no graph (removed?)"
            if id(owner) in self.open_graphs:
                return (
                    f"is used before it is defined: its producer {self._node(producer)} comes "
                    "later (nodes out of topological order)"
                )
            return (
                f"is produced in {self.graph_where.get(id(owner), graph_name(owner))}, which "
                "does not enclose this node (dangling value)"
            )
        home = value.meta.get("_graph")
        if home is not None and id(home) in self.open_graphs:
            return (
                f"belongs to {self.graph_where.get(id(home), graph_name(home))} but is no longer "
                "its input or initializer (dangling value)"
            )
        if home is not None:
            return (
                f"is an input or initializer of {self.graph_where.get(id(home), graph_name(home))}"
                ", which does not enclose this node (dangling value)"
            )
        return "has no producer and is no graph input or initializer here (dangling value)"


_GRAPH, _GRAPHS = int(AttrType.GRAPH), int(AttrType.GRAPHS)
_TENSOR, _TENSORS = int(AttrType.TENSOR), int(AttrType.TENSORS)


def named_subgraphs(node: Node):
    """(attribute name, graph) for every graph held in the node's attributes."""
    # Most nodes hold no graph: answer them without starting a generator.
    for attribute in node.attributes.values():
        kind = attribute.type
        if kind == _GRAPH or kind == _GRAPHS:
            return _graph_attributes(node.attributes)
    return ()


def _graph_attributes(attributes):
    for attribute in attributes.values():
        if attribute.type == AttrType.GRAPH and attribute.value is not None:
            yield attribute.name, attribute.value
        elif attribute.type == AttrType.GRAPHS:
            for k, sub in enumerate(attribute.value):
                yield f"{attribute.name}[{k}]", sub


def attribute_tensors(node: Node):
    """(attribute name, tensor) for every tensor held directly in the node's attributes."""
    for attribute in node.attributes.values():
        kind = attribute.type
        if kind == _TENSOR and attribute.value is not None:
            yield attribute.name, attribute.value
        elif kind == _TENSORS:
            for k, tensor in enumerate(attribute.value or ()):
                yield f"{attribute.name}[{k}]", tensor


def owners(graph: Graph) -> list[tuple[Graph, Node]]:
    """(enclosing graph, owning node) pairs from the root down to ``graph``'s owner."""
    chain: list[tuple[Graph, Node]] = []
    while graph.parent is not None and graph.parent._graph is not None:
        chain.append((graph.parent._graph, graph.parent))
        graph = graph.parent._graph
    chain.reverse()
    return chain
