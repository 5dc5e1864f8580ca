"""The work of ``outline-functions``: from chosen scopes to calls of shared functions.

For each chosen scope: its members (shared computations left outside), its interface (inputs in
order of first use, outputs), a check that it is one contiguous run of the graph, a body with
relative tags, one definition per structural key, and the call node that replaces the members
with the record ``inline-functions`` needs (bodies, definitions and calls: :mod:`.calls`).
See :mod:`.outline_functions` for the rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hcc.ir import Function, HccError, Model, Node, Scope, Value

from .calls import BodiesAndCalls
from .keys import function_key
from .shared import (
    ROOT_KEY,
    reads,
    stable_topological_sort,
    top_level,
)

# Functions came with IR version 8.
_FUNCTIONS_IR_VERSION = 8


class OutlineError(HccError):
    """The chosen scopes cannot be outlined as asked."""


@dataclass(eq=False)
class _Instance:
    """One chosen scope of the graph and everything worked out about it."""

    scope: Scope
    nodes: list[Node]  # its nodes in graph order, before shared computations are taken out
    members: list[Node] = field(default_factory=list)  # what goes into the function
    inputs: list[Value] = field(default_factory=list)  # values passed in, in order of first use
    inside: list[Value] = field(default_factory=list)  # initializers copied into the body
    outputs: list[Value] = field(default_factory=list)
    moved: list[tuple[str, int]] = field(default_factory=list)  # outside nodes between members
    body: Function | None = None  # the body made from this instance
    key: tuple = ()


class Outliner(BodiesAndCalls):
    """Outlines chosen scopes of one model, one depth at a time; keeps the functions made so
    far by structural key so equal structures share one definition."""

    def __init__(
        self, model: Model, *, domain: str, inside: bool, inside_limit: int, record: str
    ) -> None:
        self.model = model
        self.graph = model.graph
        self.domain = domain
        self.inside = inside  # initializers are copied into bodies rather than passed in
        self.inside_limit = inside_limit
        self.record = record
        self._known: dict[tuple, Function] | None = None
        self._renamed: dict[int, Value] = {}

    @property
    def known(self) -> dict[tuple, Function]:
        """Functions already in the domain by structural key, so later runs reuse them."""
        if self._known is None:
            self._known = {}
            for function in self.model.functions.values():
                if function.domain == self.domain and ROOT_KEY in function.metadata_props:
                    self._known.setdefault(function_key(function), function)
        return self._known

    # -- one depth of chosen scopes (they are disjoint) --------------------------------------

    def outline(self, scopes: list[Scope]) -> bool:
        graph = self.graph
        position = {id(n): i for i, n in enumerate(graph.nodes)}
        instances = []
        for scope in scopes:
            nodes = [n for n in graph.nodes if n.scope.is_within(scope)]
            if nodes:
                instances.append(_Instance(scope, nodes))
        owner = {id(n): inst for inst in instances for n in inst.nodes}
        for inst in instances:
            shared = self._shared_computations(inst, owner)
            inst.members = [n for n in inst.nodes if id(n) not in shared]
        instances = [i for i in instances if i.members and not self._already_outlined(i)]
        if not instances:
            return False
        member_of = {id(n): inst for inst in instances for n in inst.members}
        for inst in instances:
            self._check_contiguous(inst, position, member_of)
            self._interface(inst)
            inst.moved = self._between(inst, position)
            inst.body = self._make_body(inst)
            inst.key = function_key(inst.body)

        groups: dict[tuple, list[_Instance]] = {}
        for inst in instances:
            groups.setdefault(inst.key, []).append(inst)
        embedded: dict[int, Value] = {}
        self._renamed = {}  # results of scopes replaced so far -> the calls' outputs
        for key, members in groups.items():
            function = self.known.get(key)
            if function is None:
                function = self._adopt(members)
                self.known[key] = function
            for inst in members:
                self._replace(inst, function)
                embedded.update((id(v), v) for v in inst.inside)
        self._drop_unused_initializers(list(embedded.values()))
        stable_topological_sort(graph)
        self.model.opset_imports.setdefault(self.domain, 1)
        self.model.ir_version = max(self.model.ir_version, _FUNCTIONS_IR_VERSION)
        return True

    def _shared_computations(self, inst: _Instance, owner: dict[int, _Instance]) -> set[int]:
        """Nodes of ``inst`` whose results it reads itself and another chosen scope reads too,
        with everything of ``inst`` they need: they stay outside, passed in to every caller.

        This is how exporters share work between layers (one shape or mask computed in the
        first layer, read by all). A layer's result read by the next layer is not such a node:
        the layer that computes it does not read it.
        """
        graph = self.graph
        mine = {id(n) for n in inst.nodes}

        def read_by(value: Value) -> set[int]:
            return {
                id(owner.get(id(top_level(user, graph)), inst))
                for user, _ in value.uses
                if id(top_level(user, graph)) in owner
            }

        stack = [
            n
            for n in inst.nodes
            if any(id(inst) in readers and len(readers) > 1 for readers in map(read_by, n.outputs))
        ]
        shared: set[int] = set()
        while stack:
            node = stack.pop()
            if id(node) in shared:
                continue
            shared.add(id(node))
            for value in reads(node):
                if value.producer is not None:
                    producer = top_level(value.producer, graph)
                    if id(producer) in mine:
                        stack.append(producer)
        return shared

    def _already_outlined(self, inst: _Instance) -> bool:
        """A scope that is already one call of this domain (the pass ran before)."""
        if len(inst.members) != 1:
            return False
        node = inst.members[0]
        return (
            node.domain == self.domain
            and node.scope == inst.scope
            and (node.domain, node.op_type, node.overload) in self.model.functions
        )

    def _check_contiguous(
        self, inst: _Instance, position: dict[int, int], member_of: dict[int, _Instance]
    ) -> None:
        """Refuse a scope that a path leaves and re-enters: one call cannot stand for it."""
        graph = self.graph
        mine = {id(n) for n in inst.members}
        first = position[id(inst.members[0])]
        last = position[id(inst.members[-1])]
        downstream: set[int] = set()  # outside nodes in the span that depend on the scope
        for node in graph.nodes[first : last + 1]:
            producers = [
                id(top_level(v.producer, graph)) for v in reads(node) if v.producer is not None
            ]
            if id(node) in mine:
                for p in producers:
                    if p in downstream:
                        culprit = next(n for n in graph.nodes[first : last + 1] if id(n) == p)
                        raise self._not_contiguous(inst, culprit, member_of)
            elif any(p in mine or p in downstream for p in producers):
                downstream.add(id(node))

    @staticmethod
    def _not_contiguous(
        inst: _Instance, culprit: Node, member_of: dict[int, _Instance]
    ) -> OutlineError:
        other = member_of.get(id(culprit))
        what = f"node {culprit.name or culprit.op_type!r}"
        if other is not None:
            return OutlineError(
                f"scopes {inst.scope.tag!r} and {other.scope.tag!r} overlap without nesting: "
                f"{inst.scope.tag!r} feeds {what} of {other.scope.tag!r}, which feeds "
                f"{inst.scope.tag!r} again; choose one of them, or a scope that holds both"
            )
        where = culprit.scope.tag or "no scope"
        return OutlineError(
            f"scope {inst.scope.tag!r} cannot become one call: {what} ({where}) runs between "
            "its nodes, reads from it and feeds it again (a module called more than once?); "
            "choose a narrower or a wider scope"
        )

    def _interface(self, inst: _Instance) -> None:
        graph = self.graph
        mine = {id(n) for n in inst.members}
        entering: dict[int, Value] = {}
        for node in inst.members:
            for value in reads(node):
                producer = value.producer
                if producer is None or id(top_level(producer, graph)) not in mine:
                    entering.setdefault(id(value), value)
        graph_inputs = {id(v) for v in graph.inputs}
        for value in entering.values():
            if self._goes_inside(value, graph_inputs):
                inst.inside.append(value)
            else:
                inst.inputs.append(value)
        graph_outputs = {id(v) for v in graph.outputs}
        inst.outputs = [
            value
            for node in inst.members
            for value in node.outputs
            if id(value) in graph_outputs
            or any(id(top_level(user, graph)) not in mine for user, _ in value.uses)
        ]
        if not inst.outputs:
            raise OutlineError(
                f"nothing outside scope {inst.scope.tag!r} reads what it computes; "
                "run remove-dead-code first"
            )

    def _goes_inside(self, value: Value, graph_inputs: set[int]) -> bool:
        if not self.inside or not value.is_initializer or id(value) in graph_inputs:
            return False
        if self.graph.initializers.get(value.name) is not value:
            return False  # an initializer of an enclosing graph, not this one
        return not self.inside_limit or value.const_value.size <= self.inside_limit

    def _between(self, inst: _Instance, position: dict[int, int]) -> list[tuple[str, int]]:
        """Named outside nodes that ran between the members, with the member they preceded."""
        offset = len(inst.inside)  # the body starts with the copied constants
        mine = {id(n): k for k, n in enumerate(inst.members)}
        nodes = self.graph.nodes
        first, last = position[id(inst.members[0])], position[id(inst.members[-1])]
        moved, pending = [], []
        for node in nodes[first : last + 1]:
            k = mine.get(id(node))
            if k is None:
                if node.name:
                    pending.append(node.name)
                continue
            moved.extend((name, offset + k) for name in pending)
            pending = []
        return moved

    # -- bodies ----------------------------------------------------------------------------------
