"""Pieces of a split model: which nodes each piece holds, its boundary, and extraction.

``split`` records its decision on the model (``model.meta["hcc.pieces"]``, a list of
:class:`Piece` in execution order) without cutting anything; ``internalize-constants`` adds
copies of cheap helper nodes to pieces; writers turn each piece into a standalone model with
:func:`extract_piece`. Nodes are referred to by identity, so passes that run in between must
keep the nodes they do not remove.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hcc.ir import Graph, Model, Node, Scope, Value
from hcc.ir._clone import clone_nodes, clone_value

PIECES_KEY = "hcc.pieces"


@dataclass
class Piece:
    name: str
    nodes: list[Node]  # in graph order
    scopes: list[Scope]  # the scopes the piece was chosen for (empty for embeddings/head)
    copied: list[Node] = field(default_factory=list)  # helpers replicated from other pieces

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


def boundary(model: Model, piece: Piece, pieces: list[Piece]) -> Boundary:
    graph = model.graph
    order = node_order(graph)
    members = set(piece.nodes) | set(piece.copied)
    inputs: dict[Value, None] = {}
    initializers: dict[Value, None] = {}
    for node in piece.all_nodes(order):
        for value in _reads(node):
            producer = _top(value.producer, graph) if value.producer is not None else None
            if producer is not None and producer in members:
                continue
            if value.is_initializer and value.graph is graph:
                initializers[value] = None
            elif producer is None and value.const_value is None and value not in graph.inputs:
                continue  # a subgraph's own value; not a boundary
            else:
                inputs[value] = None
    model_outputs = set(graph.outputs)
    readers_elsewhere: dict[Value, None] = {}
    others = [set(p.nodes) | set(p.copied) for p in pieces if p is not piece]
    for node in piece.nodes:
        for value in node.outputs:
            if value in model_outputs:
                readers_elsewhere[value] = None
                continue
            for user, _ in value.uses:
                top = _top(user, graph)
                if any(top in other for other in others):
                    readers_elsewhere[value] = None
                    break
    return Boundary(list(inputs), list(readers_elsewhere), list(initializers))


def _reads(node: Node):
    for value in node.inputs:
        if value is not None:
            yield value
    for sub in node.subgraphs():
        for inner in sub.all_nodes():
            for value in inner.inputs:
                if value is not None:
                    yield value


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
    nodes = clone_nodes(piece.all_nodes(node_order(graph)), value_map)
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
