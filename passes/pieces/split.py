"""``split``: choose the pieces of a model by module scope, in execution order.

Pieces are chosen by one of:

``by``       a glob over scopes' class paths or module paths (``*/GPT2Block.*``, ``*.layer.*``;
             ``|`` separates alternatives); the outermost matching scopes become pieces;
``depth``    every scope at that depth of the tree;
``scopes``   an explicit list of class paths.

``group`` puts that many consecutive chosen scopes into one piece. Every other node runs after
the latest group it depends on: nodes that depend on no chosen scope are the *embeddings* (the
start of the model), nodes that depend on the last group are the *head*, and a node that only
the head reads (a transposed tied weight) goes with the head. Code between two groups (the
parent module's glue between its layers, an encoder's final norm before the decoder's layers)
goes with the group it follows. Leaving out an element of a module list whose other elements
are chosen (``scopes = [Block.0, Block.2]``) is an error: the choice is incomplete.
``embeddings = first`` joins the embeddings to the first piece (``own``: a piece of its own),
``head = last`` the head to the last piece.

``only`` keeps the cut of the whole model but has the writers write just the pieces whose name
or chosen scope matches one of its globs (one layer, one attention block): each is standalone,
its inputs are the tensors the whole model hands it.

The pass cuts nothing: it records the pieces (``model.meta["hcc.pieces"]``) for
``internalize-constants`` and the writers. Every node belongs to exactly one piece (which
does not write a helper that every reader copied; see :mod:`.model`).
"""

from __future__ import annotations

from hcc.ir import Graph, HccError, Model, Node, Scope, node_reads
from hcc.ir import owner_in as _top

from .._infra import Pass, PassResult
from .._options import Option
from .._registry import register_pass
from .._scope_patterns import ScopePattern, all_scopes, near, outermost
from .model import KEEP_KEY, ONLY_KEY, PIECES_KEY, Piece, node_order

# Ops whose result depends on their input's shape, not on its values.
SIZE_OPS = ("Shape", "Size")


class SplitError(HccError):
    """The requested pieces cannot be made."""


@register_pass(
    "split", summary="choose per-module pieces of the model (by scope pattern, depth or list)"
)
class SplitPass(Pass):
    by = Option(str, "", "glob over class paths or module paths of scopes; '|' separates globs")
    depth = Option(int, 0, "choose every scope at this depth (0: not used)", min=0)
    scopes = Option(list[str], [], "choose exactly these scopes (class paths)")
    group = Option(int, 1, "chosen scopes per piece", min=1)
    embeddings = Option(
        str, "first", "where nodes before the chosen scopes go", choices=["first", "own"]
    )
    head = Option(str, "last", "where nodes after the chosen scopes go", choices=["last", "own"])
    only = Option(
        list[str],
        [],
        "write only the pieces whose name, class path or module path "
        "matches one of these globs (empty: all)",
    )

    def call(self, model: Model) -> PassResult:
        graph = model.graph
        chosen = self._choose(graph)
        pieces = partition(
            graph, chosen, group=self.group, embeddings=self.embeddings, head=self.head
        )
        model.meta[PIECES_KEY] = pieces
        model.meta.pop(KEEP_KEY, None)  # an earlier extract's: not this choice's
        if self.only:
            model.meta[ONLY_KEY] = _only(pieces, self.only)
        else:
            model.meta.pop(ONLY_KEY, None)
        return PassResult(model, True)

    def _choose(self, graph: Graph) -> list[Scope]:
        ways = [bool(self.by), bool(self.depth), bool(self.scopes)]
        if sum(ways) != 1:
            raise SplitError("give exactly one of by=, depth= or scopes= to choose the pieces")
        every = all_scopes(graph)
        if self.by:
            pattern = ScopePattern(self.by)
            matches = [s for s in every if pattern.matches(s)]
            if not matches:
                raise SplitError(f"pattern {self.by!r} matches no scope; {near(self.by, every)}")
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
                raise SplitError(f"no scope {tag!r}; {near(tag, every)}")
            chosen.append(by_tag[tag])
        for a in chosen:
            for b in chosen:
                if a is not b and a.is_within(b):
                    raise SplitError(f"scopes overlap: {a.tag!r} lies within {b.tag!r}")
        return chosen


def _only(pieces: list[Piece], globs: list[str]) -> list[str]:
    """Names of the pieces ``globs`` select; a glob that selects none is an error."""
    import fnmatch

    chosen: list[str] = []
    for glob in globs:
        pattern = ScopePattern(glob)
        hits = [
            p.name
            for p in pieces
            if fnmatch.fnmatchcase(p.name, glob) or any(pattern.matches(s) for s in p.scopes)
        ]
        if not hits:
            raise SplitError(
                f"only = {glob!r} selects no piece; pieces: {', '.join(p.name for p in pieces)}"
            )
        chosen += [name for name in hits if name not in chosen]
    return chosen


SplitPass.__doc__ = __doc__  # `hcc passes split` shows the whole description


def partition(
    graph: Graph,
    chosen: list[Scope],
    *,
    group: int = 1,
    embeddings: str = "first",
    head: str = "last",
) -> list[Piece]:
    order = node_order(graph)
    anchor_of = _anchors(graph, chosen)
    # Execution order of the chosen scopes: where their first node that computes on the model's
    # inputs sits. Nodes that read only weights and constants may sit anywhere (the TorchScript
    # exporter writes the Identity copies of equal weights at the top of the graph), so they
    # place a scope only when it has nothing else (a scope that computes a weight).
    on_inputs = _reading_inputs(graph)
    first_seen: dict[int, int] = {}
    first_on_inputs: dict[int, int] = {}
    for node, index in anchor_of.items():
        first_seen[index] = min(first_seen.get(index, len(order)), order[node])
        if node in on_inputs:
            first_on_inputs[index] = min(first_on_inputs.get(index, len(order)), order[node])
    first_seen.update(first_on_inputs)
    empty = [s.tag for i, s in enumerate(chosen) if i not in first_seen]
    if empty:
        raise SplitError(f"chosen scopes hold no nodes: {', '.join(empty)}")
    _check_complete(graph, anchor_of, chosen)
    ranked = sorted(range(len(chosen)), key=first_seen.__getitem__)
    groups = [ranked[i : i + group] for i in range(0, len(ranked), group)]
    group_of = {index: g for g, members in enumerate(groups) for index in members}
    last = len(groups) - 1

    # Every other node runs after the latest group it depends on (-1: none, the embeddings).
    level = levels_after(graph, {node: group_of[index] for node, index in anchor_of.items()})
    # The head: what depends on the last group, unless the last group itself reads it (an
    # untagged node inside the last layer), and what only the head reads (a transposed tied
    # weight, a mask used by the output layer). Consumers are visited before their producers.
    outputs = set(graph.outputs)
    after: set[Node] = set()
    inside_last: set[Node] = set()
    for node in reversed(graph.nodes):
        if node in anchor_of:
            continue
        users = {_top(u, graph) for v in node.outputs for u, _ in v.uses}
        if level[node] == last:
            if any(u in anchor_of or u in inside_last for u in users):
                inside_last.add(node)
            else:
                after.add(node)
        elif users and users <= after and not any(v in outputs for v in node.outputs):
            after.add(node)

    pieces: list[Piece] = []
    members_of: list[list[Node]] = [[] for _ in groups]
    for node in graph.nodes:
        if node in anchor_of:
            members_of[group_of[anchor_of[node]]].append(node)
        elif node not in after and level[node] >= 0:
            members_of[level[node]].append(node)  # glue between layers: with the layer it follows
    scopes_of = [[chosen[i] for i in members] for members in groups]
    names = _names(scopes_of, lambda s: s.class_name)
    if len(set(names)) < len(names):
        # Class segments repeat below the layers (every layer has a BertAttention): module
        # paths are unique.
        names = _names(scopes_of, lambda s: s.module_path or s.class_name)
    for g, scopes in enumerate(scopes_of):
        pieces.append(Piece(names[g], members_of[g], scopes))
    before = [n for n in graph.nodes if n in level and level[n] < 0 and n not in after]
    if before:
        if embeddings == "own":
            pieces.insert(0, Piece("embeddings", before, []))
        else:
            pieces[0].nodes = sorted(set(pieces[0].nodes) | set(before), key=order.__getitem__)
            pieces[0].joined.append("embeddings")
    tail = [n for n in graph.nodes if n in after]
    if tail:
        if head == "own":
            pieces.append(Piece("head", tail, []))
        else:
            pieces[-1].nodes = sorted(set(pieces[-1].nodes) | set(tail), key=order.__getitem__)
            pieces[-1].joined.append("head")
    _check_order(graph, pieces)
    return pieces


def _reading_inputs(graph: Graph) -> set[Node]:
    """The nodes that depend, directly or through other nodes, on the data of a graph input
    (a Shape reads only its input's size: a layer that sizes a mask by the input early on
    has not started computing)."""
    found: set[Node] = set()
    inputs = set(graph.inputs)
    for node in graph.nodes:
        if node.op_type in SIZE_OPS and node.domain in ("", "ai.onnx"):
            continue
        for value in node_reads(node):
            producer = value.producer
            if value in inputs or producer is not None and _top(producer, graph) in found:
                found.add(node)
                break
    return found


def _names(scopes_of: list[list[Scope]], label) -> list[str]:
    """One name per group: its scope's label, or ``first-last`` (the last one's final segment)."""
    names = []
    for scopes in scopes_of:
        first, last = label(scopes[0]), label(scopes[-1])
        names.append(first if len(scopes) == 1 else f"{first}-{last.rsplit('.', 1)[-1]}")
    return names


def _anchors(graph: Graph, chosen: list[Scope]) -> dict[Node, int]:
    """Each node inside a chosen scope, mapped to that scope's index in ``chosen``."""
    index_of = {scope: i for i, scope in enumerate(chosen)}
    anchor_of: dict[Node, int] = {}
    found: dict[Scope, int | None] = {}  # memo: a node's scope -> the chosen scope it lies in
    for node in graph.nodes:
        scope = node.scope
        if scope not in found:
            found[scope] = next(
                (index_of[s] for s in scope.ancestors(include_self=True) if s in index_of), None
            )
        if found[scope] is not None:
            anchor_of[node] = found[scope]
    return anchor_of


def _check_complete(graph: Graph, anchor_of: dict[Node, int], chosen: list[Scope]) -> None:
    """Refuse a choice that leaves out an element of a module list whose other elements are
    chosen (``scopes = [Block.0, Block.2]``, a pattern matching only some layers): its nodes
    would silently join a neighbouring piece, or the embeddings or head."""
    families = {(s.parent, _family(s.class_name)): s for s in chosen if s.parent is not None}
    checked: dict[Scope, Scope | None] = {}
    for node in graph.nodes:
        if node in anchor_of or node.scope in checked and checked[node.scope] is None:
            continue
        scope = node.scope
        if scope not in checked:
            checked[scope] = next(
                (
                    s
                    for s in scope.ancestors(include_self=True)
                    if s.parent is not None
                    and _family(s.class_name) is not None
                    and (s.parent, _family(s.class_name)) in families
                ),
                None,
            )
        left_out = checked[scope]
        if left_out is not None:
            sibling = families[(left_out.parent, _family(left_out.class_name))]
            raise SplitError(
                f"the choice is incomplete: {left_out.tag!r} is not chosen but "
                f"{sibling.tag!r} is; choose every element of the list (a pattern "
                f"like '*/{_family(left_out.class_name)}.*'), or group them"
            )


def _family(class_name: str) -> str | None:
    """``GPT2Block`` for the list element ``GPT2Block.3``; None for a module of its own."""
    head, dot, index = class_name.rpartition(".")
    return head if dot and index.isdigit() else None


def _check_order(graph: Graph, pieces: list[Piece]) -> None:
    """Each piece may read only from earlier pieces: the pieces run one after another."""
    position = {node: i for i, piece in enumerate(pieces) for node in piece.nodes}
    for i, piece in enumerate(pieces):
        for node in piece.nodes:
            for value in node_reads(node):
                producer = value.producer
                if producer is None:
                    continue
                j = position.get(_top(producer, graph))
                if j is not None and j > i:
                    raise SplitError(
                        f"piece {piece.name!r} reads {value.name!r} from the later piece "
                        f"{pieces[j].name!r}; choose pieces that follow the execution order"
                    )


def levels_after(graph: Graph, member_level: dict[Node, int]) -> dict[Node, int]:
    """The level of every top-level node not in ``member_level``: the highest level among the
    members and other nodes it reads from, or -1 when it reads from none (it runs before all)."""
    level: dict[Node, int] = {}
    for node in graph.nodes:
        if node in member_level:
            continue
        deepest = -1
        for value in node_reads(node):
            producer = value.producer
            if producer is None:
                continue
            producer = _top(producer, graph)
            deepest = max(deepest, member_level.get(producer, level.get(producer, -1)))
        level[node] = deepest
    return level
