"""Pieces of a split model: which nodes each piece holds, its boundary, and extraction.

``split`` records its decision on the model (``model.meta["hcc.pieces"]``, a list of
:class:`Piece` in execution order) without cutting anything; ``internalize-constants`` adds
copies of cheap helper nodes to pieces; writers turn each piece into a standalone model with
:func:`extract_piece`. Nodes are referred to by identity, so passes that run in between must
keep the nodes they do not remove.

A piece writes only the nodes something needs: its boundary outputs, the model outputs it makes,
or another node it writes. A node whose every reader copied it (a RoPE table that each layer now
computes for itself) is left out of its own piece; the copies stand in for it.
"""

from __future__ import annotations

import heapq
import json
from dataclasses import dataclass, field

from hcc.ir import Attr, Graph, HccError, Model, Node, Scope, TensorType, Type, Value
from hcc.ir import owner_in as _top
from hcc.ir._clone import clone_nodes, clone_value

PIECES_KEY = "hcc.pieces"
ONLY_KEY = "hcc.pieces.only"  # names of the pieces to write, when not all (split's only=)
# Tensors that stay on the boundary whatever internalize-constants finds cheap (extract's
# modules take and return their activations, however small the model).
KEEP_KEY = "hcc.pieces.keep"
# metadata_props of a written piece
PIECE_KEY = "hcc.piece"
MODEL_INPUTS_KEY = "hcc.model_inputs"
MODEL_OUTPUTS_KEY = "hcc.model_outputs"

# Operators of these domains are pure functions of their inputs: one nobody reads does nothing.
# A custom-domain node may have effects we cannot see, so its piece always writes it.
_PURE_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})


@dataclass(eq=False)
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
    # What the piece holds besides its chosen scopes: "embeddings" and/or "head".
    joined: list[str] = field(default_factory=list)

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
        raise HccError("the model has not been split; run the split pass first")
    return pieces


def node_order(graph: Graph) -> dict[Node, int]:
    return {node: i for i, node in enumerate(graph.nodes)}


@dataclass
class Boundary:
    inputs: list[Value]  # graph inputs and values made by other pieces, in order of first use
    outputs: list[Value]  # values read by other pieces or listed as model outputs
    initializers: list[Value]
    nodes: list[Node] = field(default_factory=list)  # what the piece writes, in graph order


def piece_inputs(
    graph: Graph,
    piece: Piece,
    nodes: list[Node] | None = None,
    order: dict[Node, int] | None = None,
) -> tuple[list[Value], list[Value]]:
    """What ``nodes`` (default: all the piece's nodes) read from outside the piece:
    ``(inputs, initializers)``, each in order of first use. Costs only the piece's size."""
    if nodes is None:
        nodes = piece.all_nodes(order if order is not None else node_order(graph))
    members = set(piece.nodes) | set(piece.copied)
    inputs: dict[Value, None] = {}
    initializers: dict[Value, None] = {}
    graph_inputs = set(graph.inputs)
    for node in nodes:
        for value in piece.reads(node):
            producer = _top(value.producer, graph) if value.producer is not None else None
            if producer is not None and producer in members:
                continue
            if value.is_initializer and value.graph is graph:
                initializers[value] = None
            elif producer is None and value.const_value is None and value not in graph_inputs:
                continue  # a subgraph's own value; not a boundary
            else:
                inputs[value] = None
    return list(inputs), list(initializers)


def boundaries(model: Model | Graph, pieces: list[Piece]) -> list[Boundary]:
    """The boundary of every piece, in one sweep over the model (linear in its size).

    Pieces run in order and read only from earlier ones, so walking them from the last to the
    first, each piece knows what the later pieces need from it before it decides what to write.
    """
    graph = model.graph if isinstance(model, Model) else model
    order = node_order(graph)
    model_outputs = set(graph.outputs)
    owner = {node: index for index, piece in enumerate(pieces) for node in piece.nodes}
    # needed[i]: values of piece i's own nodes that a later piece reads (and did not copy).
    needed: list[set[Value]] = [set() for _ in pieces]
    result: list[Boundary | None] = [None] * len(pieces)
    for index in range(len(pieces) - 1, -1, -1):
        piece = pieces[index]
        nodes = piece.all_nodes(order)
        outputs = {v for n in piece.nodes for v in n.outputs if v in model_outputs}
        outputs |= needed[index]
        written = _live(nodes, piece, outputs, graph)
        inputs, initializers = piece_inputs(graph, piece, written)
        for value in inputs:
            if value.producer is not None:
                source = owner.get(_top(value.producer, graph))
                if source is not None and source != index:
                    needed[source].add(value)
        ordered = [v for n in written for v in n.outputs if v in outputs]
        result[index] = Boundary(inputs, ordered, initializers, written)
    return result  # type: ignore[return-value]


def boundary(model: Model | Graph, piece: Piece, pieces: list[Piece]) -> Boundary:
    """The boundary of one piece (computes all of them: prefer :func:`boundaries` in loops)."""
    for candidate, edge in zip(pieces, boundaries(model, pieces)):
        if candidate is piece:
            return edge
    raise HccError(f"piece {piece.name!r} is not one of the model's pieces")


def _live(nodes: list[Node], piece: Piece, outputs: set[Value], graph: Graph) -> list[Node]:
    """The nodes of ``nodes`` that make ``outputs``, directly or through each other."""
    members = set(nodes)
    live: set[Node] = set()
    wanted = set(outputs)
    for node in reversed(nodes):
        if (
            node in live
            or node.domain not in _PURE_DOMAINS
            or not node.outputs
            or any(v in wanted for v in node.outputs)
        ):
            live.add(node)
            for value in piece.reads(node):
                if value.producer is not None and _top(value.producer, graph) in members:
                    wanted.add(value)
    return [n for n in nodes if n in live]


def boundary_types(model: Model, edges: list[Boundary]) -> dict[Value, Type]:
    """Types for the boundary values of ``edges`` that the model leaves untyped (or without a
    shape), from shape inference over the whole model (run only when some value needs it).

    A piece's inputs and outputs must carry a type to be valid ONNX; a model written without
    value_info records none for the tensors between its nodes.
    """
    missing = list(
        dict.fromkeys(v for edge in edges for v in (*edge.inputs, *edge.outputs) if _untyped(v))
    )
    if not missing:
        return {}
    from hcc.ir.onnx.inference import infer_types

    return infer_types(model, missing)


def _untyped(value: Value) -> bool:
    if value.type is None:
        return value.const_value is None
    return isinstance(value.type, TensorType) and value.type.shape is None


def extract_piece(
    model: Model,
    piece: Piece,
    pieces: list[Piece],
    edge: Boundary | None = None,
    types: dict[Value, Type] | None = None,
) -> Model:
    """A standalone model for ``piece``: its nodes, boundary inputs and outputs, initializers.

    Tensors are shared with ``model`` (no bytes are copied); names are kept, so the boundary
    tensors of consecutive pieces match by name. Pass ``edge`` when it is already known, and
    ``types`` (:func:`boundary_types` of all edges) to infer missing types once for all pieces.
    Every input and output of the piece carries a type, or this raises.
    """
    graph = model.graph
    if edge is None:
        edge = boundary(model, piece, pieces)
    if types is None:
        types = boundary_types(model, [edge])
    value_map: dict[Value, Value] = {}
    inputs = []
    for value in edge.inputs:
        copy = clone_value(value)
        copy.const_value = None
        if value in types:
            copy.type = types[value]
        elif copy.type is None and value.const_value is not None:
            # A constant made by a node and read across the boundary: its tensor's type.
            copy.type = TensorType(value.const_value.dtype, tuple(value.const_value.shape))
        value_map[value] = copy
        inputs.append(copy)
    initializers = []
    for value in edge.initializers:
        value_map[value] = clone_value(value)
        initializers.append(value_map[value])
    originals = _topological(edge.nodes, piece)
    nodes = clone_nodes(originals, value_map)
    for original, copy in zip(originals, nodes):
        for index, value in piece.rebased.get(original, {}).items():
            copy.replace_input_with(index, value_map[value])
        for name, number in piece.rebased_attributes.get(original, {}).items():
            copy.attributes[name] = Attr.int(name, number)
    outputs = [value_map[v] for v in edge.outputs]
    for original, copy in zip(edge.outputs, outputs):
        if original in types:
            copy.type = types[original]
    for value in (*inputs, *outputs):
        if value.type is None:
            raise HccError(
                f"piece {piece.name!r}: the tensor {value.name!r} crosses its "
                "boundary, but the model records no type for it and shape inference "
                "finds none (add value_info to the model)"
            )
    new_graph = Graph(
        inputs,
        outputs,
        nodes,
        initializers=initializers,
        name=f"{graph.name or 'graph'}_{piece.name}",
    )
    for value in graph.value_info:
        if value in value_map:
            new_graph.value_info.append(value_map[value])
    functions = [
        f
        for f in model.functions.values()
        if any((n.domain, n.op_type) == (f.domain, f.name) for n in nodes)
    ]
    piece_model = Model(
        new_graph,
        ir_version=model.ir_version,
        opset_imports=model.opset_imports,
        producer_name=model.producer_name,
        producer_version=model.producer_version,
        domain=model.domain,
        model_version=model.model_version,
        doc_string=model.doc_string,
        metadata_props=model.metadata_props,
        functions=functions,
    )
    piece_model.metadata_props[PIECE_KEY] = piece.name
    # The whole model's interface, so pieces combined without a manifest still know which
    # tensors the model takes and returns (a model output may also feed a later piece).
    piece_model.metadata_props[MODEL_INPUTS_KEY] = json.dumps([v.name for v in graph.inputs])
    piece_model.metadata_props[MODEL_OUTPUTS_KEY] = json.dumps([v.name for v in graph.outputs])
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
            while (
                producer is not None
                and producer not in members
                and producer.graph is not None
                and producer.graph.parent is not None
            ):
                producer = producer.graph.parent
            if producer is not None and producer in members and producer is not node:
                producers.add(producer)
        waiting[node] = len(producers)
        for producer in producers:
            dependents[producer].append(node)
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
        raise HccError(f"piece {piece.name!r} has a cycle; its nodes cannot be ordered")
    return ordered
