"""Give back scopes after a foreign tool rewrote a model.

onnxsim, onnxslim, onnx-graphsurgeon and onnx's version converter drop node metadata, so a
model comes back from them with no tags. Before handing a model over, :meth:`Origins.record`
notes for every node its name, op, the names of the values it reads and writes, and its scope;
that needs only names, so the record survives whatever the tool does to the model objects.
:func:`reattach` then finds, for every node of the result, the node(s) it came from:

1. **outputs**: a node that writes a value the old model had computes that value, so it has
   the scope of the old producer (tools keep value names far more often than node names);
2. **name**: a node keeping an old node's name is that node;
3. **structure**, for nodes the tool made:
   a. the old nodes that lie on paths from the new node's inputs to the origins of its consumers
      are what it replaced: their common scope;
   b. otherwise the common scope of its neighbours whose origin is known: the old readers of the
      values it reads, and its consumers. A node that computes only from constants (a folded
      constant) looks at its consumers only, since constants are shared across layers.
4. whatever is left has no origin: it is listed in :attr:`Reattached.unmatched` and gets a
   scope by the ordinary tagging rules (``tag-auxiliary`` then ``propagate-tags``), so every node
   ends up tagged.

A node that kept its op and matched one old node also gets back the old node's other metadata
(the exporter's records); ``namespace`` keeps the full class names the old model stored; model
metadata keys the tool dropped are restored.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from hcc.ir import (
    MODULE_KEY,
    NAMESPACE_KEY,
    TAG_KEY,
    Model,
    Node,
    Scope,
    common_scope,
    namespace_of,
)

from .propagate_tags import SCOPES_KEY, PropagateTagsPass, record_initializer_scopes
from .tag_auxiliary import tag_by_consumers

_SCOPE_KEYS = frozenset((TAG_KEY, MODULE_KEY, NAMESPACE_KEY))
_MAIN = "main"


# -- the record ----------------------------------------------------------------------------------


class _Section:
    """The old nodes of the main graph (with its subgraphs) or of one function body, by index."""

    def __init__(self, nodes: Iterable[Node], constants: Iterable[str]) -> None:
        self.scopes: list[Scope] = []
        self.ops: list[str] = []
        self.metadata: list[dict[str, str]] = []
        self.by_name: dict[str, int] = {}
        self.producer: dict[str, int] = {}
        self.consumers: dict[str, list[int]] = {}
        self.constants: set[str] = set(constants)
        duplicate_names: set[str] = set()
        inputs: list[list[str]] = []
        for i, node in enumerate(nodes):
            self.scopes.append(node.scope)
            self.ops.append(node.op_type)
            self.metadata.append(
                {k: v for k, v in node.metadata_props.items() if k not in _SCOPE_KEYS}
            )
            if node.name:
                if node.name in self.by_name:
                    duplicate_names.add(node.name)
                self.by_name.setdefault(node.name, i)
            names = [v.name for v in node.inputs if v is not None and v.name]
            inputs.append(names)
            for name in dict.fromkeys(names):
                self.consumers.setdefault(name, []).append(i)
            for value in node.outputs:
                if value.name:
                    self.producer.setdefault(value.name, i)
                    if node.op_type == "Constant" and not node.inputs:
                        self.constants.add(value.name)
        # A name two old nodes share says nothing about which one a new node is.
        for name in duplicate_names:
            del self.by_name[name]
        self.pred: list[list[int]] = [
            sorted({self.producer[n] for n in names if n in self.producer}) for names in inputs
        ]
        self.succ: list[list[int]] = [[] for _ in inputs]
        for i, preds in enumerate(self.pred):
            for p in preds:
                self.succ[p].append(i)

    def __len__(self) -> int:
        return len(self.scopes)

    def knows(self, value_name: str) -> bool:
        return value_name in self.producer or value_name in self.consumers

    def between(self, starts: set[int], ends: set[int]) -> frozenset[int]:
        """Old nodes reachable from ``starts`` (included) that reach ``ends`` (excluded)."""
        # Every node on a path from a start to an end is an ancestor of an end, so the forward
        # walk can stay inside the ancestors: its cost is bounded by that set.
        ancestors: set[int] = set()
        stack = [p for e in ends for p in self.pred[e]]
        while stack:
            i = stack.pop()
            if i not in ancestors:
                ancestors.add(i)
                stack.extend(self.pred[i])
        region: set[int] = set()
        stack = [s for s in starts if s in ancestors]
        while stack:
            i = stack.pop()
            if i not in region:
                region.add(i)
                stack.extend(s for s in self.succ[i] if s in ancestors)
        return frozenset(region)


class Origins:
    """What a model's nodes looked like before a tool rewrote it; see :func:`reattach`."""

    def __init__(
        self,
        sections: dict,
        metadata: dict[str, str],
        initializer_scopes: bool,
        namespaces: dict[Scope, str] | None = None,
    ) -> None:
        self.sections = sections
        self.metadata = metadata
        self.initializer_scopes = initializer_scopes
        self.namespaces = namespaces or {}

    @classmethod
    def record(cls, model: Model) -> Origins:
        graphs = list(model.graph.subgraphs(include_self=True))
        sections = {
            _MAIN: _Section(model.graph.all_nodes(), _initializer_names(graphs)),
        }
        for key, function in model.functions.items():
            body = list(function.graph.subgraphs(include_self=True))
            sections[key] = _Section(function.graph.all_nodes(), _initializer_names(body))
        initializer_scopes = any(
            SCOPES_KEY in v.const_value.metadata_props
            for g in model.graphs()
            for v in g.initializers.values()
        )
        # The stored namespace names each level's full class (the exporter knew it); a scope
        # read back from a tag knows only the short name. Keep the full text per scope.
        namespaces: dict[Scope, str] = {}
        for node in model.all_nodes():
            text = node.metadata_props.get(NAMESPACE_KEY)
            if text and not node.scope.is_unknown:
                namespaces.setdefault(node.scope, text)
        return cls(sections, dict(model.metadata_props), initializer_scopes, namespaces)

    @property
    def has_scopes(self) -> bool:
        """True when any old node had a scope (otherwise there is nothing to give back)."""
        return any(not s.is_unknown for section in self.sections.values() for s in section.scopes)


def _initializer_names(graphs) -> set[str]:
    return {name for g in graphs for name in g.initializers}


# -- putting scopes back ------------------------------------------------------------------------


@dataclass
class Reattached:
    """How each node of the result got its scope. ``unmatched`` names the nodes whose origin
    was not found (``<op>#<position>`` for nodes without a name)."""

    kept: int = 0
    by_output: int = 0
    by_name: int = 0
    by_structure: int = 0
    unmatched: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.kept + self.by_output + self.by_name + self.by_structure + len(self.unmatched)


def reattach(model: Model, origins: Origins, *, fallback: bool = True) -> Reattached:
    """Give the nodes of ``model`` (a tool's result) the scopes recorded in ``origins``.

    Nodes that already have a scope keep it. With ``fallback`` the nodes whose origin was not
    found are tagged by the ordinary tagging rules (when the old model had any scopes).
    Initializers get their users' scopes again if the old model recorded them.
    """
    report = Reattached()
    for key, value in origins.metadata.items():
        model.metadata_props.setdefault(key, value)
    for key, nodes in _new_sections(model):
        section = origins.sections.get(key)
        if section is None:  # a function the tool made: nothing to match against
            report.unmatched.extend(_label(n, i) for i, n in enumerate(nodes) if n.scope.is_unknown)
            continue
        _Matcher(section, nodes, report).run()
    if fallback and origins.has_scopes and any(n.scope.is_unknown for n in model.all_nodes()):
        for graph in model.graphs():
            tag_by_consumers(graph)
        PropagateTagsPass(record_initializers=False).call(model)
    if origins.namespaces:
        for node in model.all_nodes():
            rich = origins.namespaces.get(node.scope)
            plain = node.metadata_props.get(NAMESPACE_KEY) == namespace_of(node.scope)
            if rich is not None and plain:
                node.metadata_props[NAMESPACE_KEY] = rich
    if origins.initializer_scopes:
        for graph in model.graphs():
            record_initializer_scopes(graph)
    return report


def _new_sections(model: Model) -> Iterator[tuple[object, list[Node]]]:
    yield _MAIN, list(model.graph.all_nodes())
    for key, function in model.functions.items():
        yield key, list(function.graph.all_nodes())


def _label(node: Node, position: int) -> str:
    return node.name or f"{node.op_type}#{position}"


def _common(scopes: Iterable[Scope]) -> Scope:
    try:
        return common_scope(scopes)
    except ValueError:  # scopes under different roots: no honest common scope
        return Scope.unknown()


class _Matcher:
    """Matches the new nodes of one section against the old ones."""

    def __init__(self, old: _Section, nodes: list[Node], report: Reattached) -> None:
        self.old = old
        self.nodes = nodes
        self.report = report
        # id(new node) -> old node indices it stands for (empty: placed by its neighbours)
        self.origin: dict[int, frozenset[int]] = {}

    def run(self) -> None:
        pending = [n for n in self.nodes if not self._match_directly(n)]
        rules = (self._by_region, self._by_neighbours)
        while pending:
            # Always retry the most specific rule first: each placed node may unlock it.
            for rule in rules:
                still = [n for n in reversed(pending) if not rule(n)]
                still.reverse()
                if len(still) < len(pending):
                    pending = still
                    break
            else:
                break
        positions = {id(n): i for i, n in enumerate(self.nodes)}
        self.report.unmatched.extend(_label(n, positions[id(n)]) for n in pending)

    # -- rules 1 and 2 ----------------------------------------------------------------------------

    def _match_directly(self, node: Node) -> bool:
        old = self.old
        hits = list(
            dict.fromkeys(old.producer[v.name] for v in node.outputs if v.name in old.producer)
        )
        how = "by_output"
        if not hits and node.name in old.by_name:
            hits, how = [old.by_name[node.name]], "by_name"
        if not hits:
            if node.scope.is_unknown:
                return False
            self.report.kept += 1  # the tool kept its tag; nothing to find
            self.origin[id(node)] = frozenset()
            return True
        self.origin[id(node)] = frozenset(hits)
        if not node.scope.is_unknown:
            self.report.kept += 1
            return True
        setattr(self.report, how, getattr(self.report, how) + 1)
        scope = _common(old.scopes[i] for i in hits)
        if not scope.is_unknown:
            node.scope = scope
        if len(hits) == 1 and old.ops[hits[0]] == node.op_type:
            # The same operation: the exporter's records for it are still true.
            for key, value in old.metadata[hits[0]].items():
                node.metadata_props.setdefault(key, value)
        return True

    # -- rule 3 -----------------------------------------------------------------------------------

    def _by_region(self, node: Node) -> bool:
        ends: set[int] = set()
        for user in _consumers(node):
            ends |= self.origin.get(id(user), frozenset())
        if not ends:
            return False
        # Weights usually have one reader, so when a node reads nothing but constants their
        # readers still say where it sits; shared constants are cut down by the path condition.
        starts = self._old_readers(node, include_constants=False) or self._old_readers(
            node, include_constants=True
        )
        if not starts:
            return False
        # A node the tool put in front of the nodes it fused (a Reshape before a Gemm) lies on no
        # path strictly between: it belongs to the fused nodes it feeds.
        region = self.old.between(starts, ends) or frozenset(starts & ends)
        scope = _common(self.old.scopes[i] for i in region)
        if scope.is_unknown:
            return False
        self._place(node, scope, region)
        return True

    def _by_neighbours(self, node: Node) -> bool:
        scopes = [u.scope for u in _consumers(node) if id(u) in self.origin]
        data_readers = self._old_readers(node, include_constants=False)
        scopes.extend(self.old.scopes[i] for i in sorted(data_readers))
        scope = _common(scopes)
        if scope.is_unknown:
            return False
        self._place(node, scope, frozenset())
        return True

    def _place(self, node: Node, scope: Scope, region: frozenset[int]) -> None:
        self.origin[id(node)] = region
        if node.scope.is_unknown:
            node.scope = scope
        self.report.by_structure += 1

    def _old_readers(self, node: Node, *, include_constants: bool) -> set[int]:
        """Old nodes that read what ``node`` reads: it most likely replaced some of them."""
        old = self.old
        readers: set[int] = set()
        for value in node.inputs:
            if value is None or (not include_constants and self._is_constant(value)):
                continue
            if value.name and old.knows(value.name):
                readers.update(old.consumers.get(value.name, ()))
            elif value.producer is not None:
                # A value the tool made: whatever read its producer's origin before.
                for i in self.origin.get(id(value.producer), ()):
                    readers.update(old.succ[i])
        return readers

    def _is_constant(self, value) -> bool:
        if value.name in self.old.constants or value.is_initializer:
            return True
        producer = value.producer
        return producer is not None and producer.op_type == "Constant" and not producer.inputs


def _consumers(node: Node) -> list[Node]:
    users: dict[int, Node] = {}
    for value in node.outputs:
        for user, _ in value.uses:
            users.setdefault(id(user), user)
    return list(users.values())
