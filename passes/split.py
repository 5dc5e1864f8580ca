"""``split``: choose the pieces of a model by module scope, in execution order.

Pieces are chosen by one of:

``by``       a glob over scopes' class paths or module paths (``*/GPT2Block.*``, ``*.layer.*``);
             the outermost matching scopes become pieces;
``depth``    every scope at that depth of the tree;
``scopes``   an explicit list of class paths.

``group`` puts that many consecutive chosen scopes into one piece. Nodes outside the chosen
scopes are placed by a fixed rule: those that do not depend on any chosen scope's output are the
*embeddings* (the start of the model), the others the *head*; a node that depends on nothing
chosen but is read only by the head (a transposed tied weight, say) goes with the head.
``embeddings = first`` joins the embeddings to the first piece (``own``: a piece of its own),
``head = last`` the head to the last piece.

The pass cuts nothing: it records the pieces (``model.meta["hcc.pieces"]``) for
``internalize-constants`` and the writers. Every node belongs to exactly one piece.
"""

from __future__ import annotations

import difflib
import fnmatch

from hcc.ir import Graph, HccError, Model, Node, Scope

from ._infra import Pass, PassResult
from ._options import Option
from ._pieces import PIECES_KEY, Piece, node_order
from ._registry import register_pass


class SplitError(HccError):
    """The requested pieces cannot be made."""


@register_pass("split", summary="choose per-module pieces of the model (by scope pattern, depth or list)")
class SplitPass(Pass):
    by = Option(str, "", "glob over class paths or module paths of scopes")
    depth = Option(int, 0, "choose every scope at this depth (0: not used)", min=0)
    scopes = Option(list[str], [], "choose exactly these scopes (class paths)")
    group = Option(int, 1, "chosen scopes per piece", min=1)
    embeddings = Option(str, "first", "where nodes before the chosen scopes go",
                        choices=["first", "own"])
    head = Option(str, "last", "where nodes after the chosen scopes go", choices=["last", "own"])

    def call(self, model: Model) -> PassResult:
        graph = model.graph
        chosen = self._choose(graph)
        pieces = partition(graph, chosen, group=self.group, embeddings=self.embeddings,
                           head=self.head)
        model.meta[PIECES_KEY] = pieces
        return PassResult(model, True)

    def _choose(self, graph: Graph) -> list[Scope]:
        ways = [bool(self.by), bool(self.depth), bool(self.scopes)]
        if sum(ways) != 1:
            raise SplitError("give exactly one of by=, depth= or scopes= to choose the pieces")
        every = all_scopes(graph)
        if self.by:
            matches = [s for s in every if fnmatch.fnmatchcase(s.tag, self.by)
                       or (s.module_path and fnmatch.fnmatchcase(s.module_path, self.by))]
            if not matches:
                raise SplitError(f"pattern {self.by!r} matches no scope; {_near(self.by, every)}")
            return outermost(matches)
        if self.depth:
            matches = [s for s in every if s.depth == self.depth]
            if not matches:
                deepest = max((s.depth for s in every), default=0)
                raise SplitError(f"no scope at depth {self.depth}; the deepest is {deepest}")
            return matches
        by_tag = {s.tag: s for s in every}
        chosen = []
        for tag in self.scopes:
            if tag not in by_tag:
                raise SplitError(f"no scope {tag!r}; {_near(tag, every)}")
            chosen.append(by_tag[tag])
        for a in chosen:
            for b in chosen:
                if a is not b and a.is_within(b):
                    raise SplitError(f"scopes overlap: {a.tag!r} lies within {b.tag!r}")
        return chosen


def all_scopes(graph: Graph) -> list[Scope]:
    """Every scope of the graph's nodes and their ancestors, in order of first appearance."""
    seen: dict[Scope, None] = {}
    for node in graph.nodes:
        for scope in reversed(list(node.scope.ancestors(include_self=True))):
            if not scope.is_unknown:
                seen[scope] = None
    return list(seen)


def outermost(scopes: list[Scope]) -> list[Scope]:
    return [s for s in scopes if not any(o is not s and o != s and s.is_within(o) for o in scopes)]


def _near(text: str, scopes: list[Scope]) -> str:
    names = [s.tag for s in scopes] + [s.module_path for s in scopes if s.module_path]
    close = difflib.get_close_matches(text, names, n=5, cutoff=0.3)
    if not close:
        close = [s.tag for s in scopes if s.depth <= 2][:8]
    return "scopes near it: " + ", ".join(close)


def partition(graph: Graph, chosen: list[Scope], *, group: int = 1, embeddings: str = "first",
              head: str = "last") -> list[Piece]:
    order = node_order(graph)
    anchor_of: dict[Node, int] = {}
    first_seen: dict[int, int] = {}
    for node in graph.nodes:
        for index, scope in enumerate(chosen):
            if node.scope.is_within(scope):
                anchor_of[node] = index
                first_seen.setdefault(index, order[node])
                break
    empty = [s.tag for i, s in enumerate(chosen) if i not in first_seen]
    if empty:
        raise SplitError(f"chosen scopes hold no nodes: {', '.join(empty)}")
    # Execution order of the chosen scopes: where their first node sits.
    ranked = sorted(range(len(chosen)), key=first_seen.__getitem__)
    rank = {index: position for position, index in enumerate(ranked)}
    groups = [ranked[i:i + group] for i in range(0, len(ranked), group)]

    # Nodes outside the chosen scopes: after (they depend on a chosen scope) or before.
    after: set[Node] = set()
    for node in graph.nodes:
        if node in anchor_of:
            continue
        for value in _inputs(node):
            producer = value.producer
            if producer is not None and (producer in anchor_of or producer in after):
                after.add(node)
                break
    # A "before" node read only by "after" nodes belongs with them (visit consumers first).
    for node in reversed(graph.nodes):
        if node in anchor_of or node in after:
            continue
        users = {_top(u, graph) for v in node.outputs for u, _ in v.uses}
        if users and all(u in after for u in users) and not any(v in graph.outputs for v in node.outputs):
            after.add(node)
    before = [n for n in graph.nodes if n not in anchor_of and n not in after]

    pieces: list[Piece] = []
    for members in groups:
        scopes = [chosen[i] for i in members]
        names = [s.class_name for s in scopes]
        name = names[0] if len(names) == 1 else f"{names[0]}-{names[-1].rsplit('.', 1)[-1]}"
        nodes = [n for n in graph.nodes if n in anchor_of and anchor_of[n] in members]
        pieces.append(Piece(name, nodes, scopes))
    if before:
        if embeddings == "own":
            pieces.insert(0, Piece("embeddings", before, []))
        else:
            pieces[0].nodes = sorted(set(pieces[0].nodes) | set(before), key=order.__getitem__)
    tail = [n for n in graph.nodes if n in after]
    if tail:
        if head == "own":
            pieces.append(Piece("head", tail, []))
        else:
            pieces[-1].nodes = sorted(set(pieces[-1].nodes) | set(tail), key=order.__getitem__)
    _check_order(graph, pieces)
    return pieces


def _inputs(node: Node):
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


def _check_order(graph: Graph, pieces: list[Piece]) -> None:
    """Each piece may read only from earlier pieces: the pieces run one after another."""
    position = {node: i for i, piece in enumerate(pieces) for node in piece.nodes}
    for i, piece in enumerate(pieces):
        for node in piece.nodes:
            for value in _inputs(node):
                producer = value.producer
                if producer is None:
                    continue
                j = position.get(_top(producer, graph))
                if j is not None and j > i:
                    raise SplitError(
                        f"piece {piece.name!r} reads {value.name!r} from the later piece "
                        f"{pieces[j].name!r}; choose pieces that follow the execution order"
                    )
