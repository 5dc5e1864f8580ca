"""Pieces of a split model: which nodes each piece holds, its boundary, and extraction.

``split`` records its decision on the model (``model.meta["hcc.pieces"]``, a list of
:class:`Piece` in execution order) without cutting anything; ``internalize-constants`` adds
copies of cheap helper nodes to pieces; writers turn each piece into a standalone model with
:func:`extract_piece`. Nodes are referred to by identity, so passes that run in between must
keep the nodes they do not remove.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hcc.ir import Attr, Graph, Model, Node, Scope, Value
from hcc.ir._clone import clone_nodes, clone_value

PIECES_KEY = "hcc.pieces"


@dataclass
class Piece:
    name: str
    nodes: list[Node]  # in graph order
    scopes: list[Scope]  # the scopes the piece was chosen for (empty for embeddings/head)
    copied: list[Node] = field(default_factory=list)  # helpers replicated from other pieces
    # Inputs of copied nodes read from another value in this piece: node -> {index: value}.
    # (A copied Shape reads an available tensor of the same shape instead of its original.)
    rebased: dict[Node, dict[int, Value]] = field(default_factory=dict)
    # Attributes a rebased copy needs (Shape's start/end when the tensor read has another rank).
    rebased_attributes: dict[Node, dict[str, int]] = field(default_factory=dict)

    def reads(self, node: Node):
        """The values ``node`` reads in this piece (with rebased inputs), subgraphs included."""
        substitutes = self.rebased.get(node, {})
        for index, value in enumerate(node.inputs):
            value = substitutes.get(index, value)
            if value is not None:
                yield value
        for sub in node.subgraphs():
            for inner in sub.all_nodes():
                for value in inner.inputs:
                    if value is not None:
                        yield value

    def all_nodes(self, order: dict[Node, int]) -> list[Node]:
        """Own and copied nodes, in the original graph's order (a valid topological order)."""
        return sorted(set(self.nodes) | set(self.copied), key=order.__getitem__)


def pieces_of(model: Model) -> list[Piece]:
    pieces = model.meta.get(PIECES_KEY)
    if not pieces:
        from hcc.ir import HccError

        raise HccError("the model has not been split; run the split pass first")
    return pieces


def node_order(graph: Graph) -> dict[Node, int]:
    return {node: i for i, node in enumerate(graph.nodes)}


@dataclass
class Boundary:
    inputs: list[Value]  # graph inputs and values made by other pieces, in order of first use
    outputs: list[Value]  # values read by other pieces or listed as model outputs
    initializers: list[Value]


def boundary(model: Model | Graph, piece: Piece, pieces: list[Piece]) -> Boundary:
    graph = model.graph if isinstance(model, Model) else model
    order = node_order(graph)
    members = set(piece.nodes) | set(piece.copied)
    inputs: dict[Value, None] = {}
    initializers: dict[Value, None] = {}
    for node in piece.all_nodes(order):
        for value in piece.reads(node):
            producer = _top(value.producer, graph) if value.producer is not None else None
            if producer is not None and producer in members:
                continue
            if value.is_initializer and value.graph is graph:
                initializers[value] = None
            elif producer is None and value.const_value is None and value not in graph.inputs:
                continue  # a subgraph's own value; not a boundary
            else:
                inputs[value] = None
    # Outputs: values of this piece's own nodes that the model returns or that another piece
    # reads without computing them itself (a piece that copied the producer has its own).
    own = set(piece.nodes)
    outputs: dict[Value, None] = {v: None for n in piece.nodes for v in n.outputs
                                  if v in set(graph.outputs)}
    for other in pieces:
        if other is piece:
            continue
        copied = set(other.copied)
        for node in other.all_nodes(order):
            for value in other.reads(node):
                producer = value.producer
                if producer is None:
                    continue
                top = _top(producer, graph)
                if top in own and top not in copied:
                    outputs[value] = None
    ordered = [v for n in piece.all_nodes(order) for v in n.outputs if v in outputs]
    return Boundary(list(inputs), ordered, list(initializers))


def _top(node: Node, graph: Graph) -> Node:
    while node.graph is not None and node.graph is not graph and node.graph.parent is not None:
        node = node.graph.parent
    return node


def extract_piece(model: Model, piece: Piece, pieces: list[Piece]) -> Model:
    """A standalone model for ``piece``: its nodes, boundary inputs and outputs, initializers.

    Tensors are shared with ``model`` (no bytes are copied); names are kept, so the boundary
    tensors of consecutive pieces match by name.
    """
    graph = model.graph
    edge = boundary(model, piece, pieces)
    value_map: dict[Value, Value] = {}
    inputs = []
    for value in edge.inputs:
        copy = clone_value(value)
        copy.const_value = None
        value_map[value] = copy
        inputs.append(copy)
    initializers = []
    for value in edge.initializers:
        value_map[value] = clone_value(value)
        initializers.append(value_map[value])
    originals = _topological(piece.all_nodes(node_order(graph)), piece)
    nodes = clone_nodes(originals, value_map)
    for original, copy in zip(originals, nodes):
        for index, value in piece.rebased.get(original, {}).items():
            copy.replace_input_with(index, value_map[value])
        for name, number in piece.rebased_attributes.get(original, {}).items():
            copy.attributes[name] = Attr.int(name, number)
    outputs = [value_map[v] for v in edge.outputs]
    new_graph = Graph(inputs, outputs, nodes, initializers=initializers,
                      name=f"{graph.name or 'graph'}_{piece.name}")
    known = {v.name: v for v in value_map.values()}
    for value in graph.value_info:
        if value.name in known and value in value_map:
            new_graph.value_info.append(value_map[value])
    functions = [f for f in model.functions.values()
                 if any((n.domain, n.op_type) == (f.domain, f.name) for n in nodes)]
    piece_model = Model(new_graph, ir_version=model.ir_version,
                        opset_imports=model.opset_imports, producer_name=model.producer_name,
                        producer_version=model.producer_version, domain=model.domain,
                        model_version=model.model_version, doc_string=model.doc_string,
                        metadata_props=model.metadata_props, functions=functions)
    piece_model.metadata_props["hcc.piece"] = piece.name
    return piece_model


def _topological(nodes: list[Node], piece: Piece) -> list[Node]:
    """``nodes`` in an order where every node follows the producers it reads (rebased inputs
    included), keeping the given order wherever it is already valid."""
    members = set(nodes)
    position = {node: i for i, node in enumerate(nodes)}
    waiting: dict[Node, int] = {}
    dependents: dict[Node, list[Node]] = {node: [] for node in nodes}
    for node in nodes:
        producers = set()
        for value in piece.reads(node):
            producer = value.producer
            while producer is not None and producer not in members and producer.graph is not None \
                    and producer.graph.parent is not None:
                producer = producer.graph.parent
            if producer is not None and producer in members and producer is not node:
                producers.add(producer)
        waiting[node] = len(producers)
        for producer in producers:
            dependents[producer].append(node)
    import heapq

    ready = [position[n] for n in nodes if waiting[n] == 0]
    heapq.heapify(ready)
    ordered = []
    while ready:
        node = nodes[heapq.heappop(ready)]
        ordered.append(node)
        for dependent in dependents[node]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, position[dependent])
    if len(ordered) != len(nodes):
        from hcc.ir import HccError

        raise HccError(f"piece {piece.name!r} has a cycle; its nodes cannot be ordered")
    return ordered
