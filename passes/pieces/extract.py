"""``extract``: write chosen modules as standalone pieces, each holding that module and nothing else.

``split`` cuts a whole model into pieces that chain (the code between two chosen modules goes
with the one before it); ``extract`` is for a component on its own, at any depth: one
attention block (``scopes = ["model.layers.0.self_attn"]`` or
``["*/LlamaDecoderLayer.0/LlamaAttention"]``), an MLP, an encoder layer. Each glob of
``scopes`` (over class paths or module paths, as ``split``'s ``by``) must choose at least one
module; of nested matches the outermost is taken.

The decision is recorded as ``split``'s is (a list of pieces that covers every node, in
execution order), so ``internalize-constants``, validation and the writers work unchanged;
only the chosen modules' pieces are written (as ``split(only = ...)``), each reading the
tensors the whole model hands it. The rest of the model is kept in unwritten pieces: what runs
before the first chosen module, and what runs after each.

A node outside a chosen module that both reads from it and feeds it (an untagged node in the
middle of the module's computation) belongs to the module's piece: without it the piece
could not run.
"""

from __future__ import annotations

from hcc.ir import DataType, Graph, Model, Node, Scope, node_reads
from hcc.ir import owner_in as _top

from .._infra import Pass, PassResult
from .._options import Option
from .._registry import register_pass
from .._scope_patterns import ScopePattern, all_scopes, near, outermost
from .model import KEEP_KEY, ONLY_KEY, PIECES_KEY, Piece, boundaries, node_order
from .split import SplitError, _anchors, _check_order, levels_after


@register_pass("extract", summary="write chosen modules (any depth) as standalone pieces")
class ExtractPass(Pass):
    scopes = Option(list[str], [], "globs over class paths or module paths of the modules to write")

    def call(self, model: Model) -> PassResult:
        if not self.scopes:
            raise SplitError("extract needs scopes = [...]: the modules to write")
        graph = model.graph
        chosen = _choose(graph, self.scopes)
        pieces = _pieces(graph, chosen)
        model.meta[PIECES_KEY] = pieces
        model.meta[ONLY_KEY] = [p.name for p in pieces if p.scopes]
        model.meta[KEEP_KEY] = _activations(model, pieces)
        return PassResult(model, True)


ExtractPass.__doc__ = __doc__  # `hcc passes extract` shows the whole description


def _choose(graph: Graph, globs: list[str]) -> list[Scope]:
    every = all_scopes(graph)
    chosen: list[Scope] = []
    for glob in globs:
        pattern = ScopePattern(glob)
        matches = [s for s in every if pattern.matches(s)]
        if not matches:
            raise SplitError(f"scopes: {glob!r} matches no module; {near(glob, every)}")
        chosen += [s for s in matches if s not in chosen]
    return outermost(chosen)


def _pieces(graph: Graph, chosen: list[Scope]) -> list[Piece]:
    order = node_order(graph)
    anchor_of = _anchors(graph, chosen)
    first: dict[int, int] = {}
    for node, index in anchor_of.items():
        first[index] = min(first.get(index, len(order)), order[node])
    empty = [s.tag for i, s in enumerate(chosen) if i not in first]
    if empty:
        raise SplitError(f"chosen modules hold no nodes: {', '.join(empty)}")
    ranked = sorted(range(len(chosen)), key=first.__getitem__)
    rank = {index: r for r, index in enumerate(ranked)}
    members: dict[Node, int] = {node: rank[index] for node, index in anchor_of.items()}
    for r, index in enumerate(ranked):
        for node in _entangled(graph, [n for n, i in anchor_of.items() if i == index], members):
            members[node] = r
    # Every other node runs after the latest chosen module it depends on (-1: before all).
    level = levels_after(graph, members)
    pieces: list[Piece] = []
    before = [n for n in graph.nodes if level.get(n) == -1]
    if before:
        pieces.append(Piece("before", before, []))
    names = _names([chosen[index] for index in ranked])
    for r, index in enumerate(ranked):
        own = [n for n in graph.nodes if members.get(n) == r]
        pieces.append(Piece(names[r], own, [chosen[index]]))
        after = [n for n in graph.nodes if n not in members and level[n] == r]
        if after:
            pieces.append(Piece(f"after {names[r]}", after, []))
    _check_order(graph, pieces)
    return pieces


def _entangled(graph: Graph, inside: list[Node], members: dict[Node, int]) -> set[Node]:
    """Nodes of no chosen module that read from ``inside`` and that ``inside`` reads from."""
    inside_set = set(inside)
    downstream: set[Node] = set()
    stack = list(inside)
    while stack:
        for value in stack.pop().outputs:
            for user, _ in value.uses:
                user = _top(user, graph)
                if user not in inside_set and user not in members and user not in downstream:
                    downstream.add(user)
                    stack.append(user)
    if not downstream:
        return set()
    upstream: set[Node] = set()
    stack = list(inside)
    while stack:
        for value in node_reads(stack.pop()):
            producer = value.producer
            if producer is None:
                continue
            producer = _top(producer, graph)
            if producer in downstream and producer not in upstream:
                upstream.add(producer)
                stack.append(producer)
    return upstream


_FLOATS = (DataType.FLOAT, DataType.FLOAT16, DataType.BFLOAT16, DataType.DOUBLE)


def _activations(model: Model, pieces: list[Piece]) -> list[str]:
    """The floating-point tensors the chosen modules take and return: what the torch modules
    take and return. In a small model internalize-constants would find them cheap to recompute
    (an embedding of a few kilobytes), and a piece would take the token ids instead of its
    hidden state, or lose its outputs to a copy in the piece after it."""
    names: dict[str, None] = {}
    for piece, edge in zip(pieces, boundaries(model, pieces)):
        if piece.scopes:
            for value in [*edge.inputs, *edge.outputs]:
                if value.dtype in _FLOATS:
                    names[value.name] = None
    return list(names)


def _names(scopes: list[Scope]) -> list[str]:
    """Module paths name the pieces (unique, unlike class names: every layer has an
    attention block)."""
    return [s.module_path or s.class_name for s in scopes]
