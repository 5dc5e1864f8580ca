"""``propagate-tags``: make scope coverage complete and record which scopes use each initializer.

After ``recover-scopes`` and ``tag-auxiliary`` some nodes may still have no scope: nodes whose
outputs only leave the graph or feed other unscoped nodes. This pass gives them one by fixed
rules, applied in order until nothing changes:

1. a node inside a subgraph (If/Loop/Scan body) with no scope takes the scope of the node that
   owns the subgraph;
2. a node takes the common scope of the nodes that produce its inputs (visited first to last,
   so chains follow their start);
3. a node takes the common scope of its consumers (as ``tag-auxiliary`` does);
4. what is left takes the model's root scope (the root of the scoped nodes, or of the module
   tree in ``hcc.hierarchy``).

Then every initializer lists the scopes of the nodes that read it in its tensor's
``metadata_props["hcc.scopes"]`` (a JSON list of tags, in order of first use), so a tied weight
shows every module that uses it. A node read by nodes of two or more scopes (a RoPE table or a
mask computed once and used by every layer) keeps its one scope and records its readers' scopes
the same way, in its own ``metadata_props["hcc.scopes"]``.
"""

from __future__ import annotations

import json

from hcc.ir import HIERARCHY_KEY, Graph, Model, Node, Scope, common_scope

from ._infra import Pass, PassResult
from ._options import Option
from ._registry import register_pass
from ._tag_rules import ModuleTreeError, parse_module_tree
from .tag_auxiliary import _owner_in, tag_by_consumers

SCOPES_KEY = "hcc.scopes"


@register_pass(
    "propagate-tags", summary="give every remaining node a scope; record initializer users"
)
class PropagateTagsPass(Pass):
    record_initializers = Option(bool, True, "write each initializer's user scopes (hcc.scopes)")
    record_shared = Option(
        bool,
        True,
        "write the reader scopes (hcc.scopes) of each node that nodes of several scopes read",
    )

    def call(self, model: Model) -> PassResult:
        changed = False
        progress = True
        while progress:
            progress = False
            for graph in model.graphs():
                progress |= _tag_from_owner(graph)
                progress |= _tag_by_producers(graph)
                progress |= tag_by_consumers(graph)
            changed |= progress
        root = model_root_scope(model)
        if root is not None:
            for node in model.all_nodes():
                if node.scope.is_unknown:
                    node.scope = root
                    changed = True
        if self.record_initializers:
            for graph in model.graphs():
                changed |= record_initializer_scopes(graph)
        if self.record_shared:
            for graph in model.graphs():
                changed |= record_shared_node_scopes(graph)
        return PassResult(model, changed)


def _tag_from_owner(graph: Graph) -> bool:
    owner = graph.parent
    if owner is None or owner.scope.is_unknown:
        return False
    changed = False
    for node in graph.nodes:
        if node.scope.is_unknown:
            node.scope = owner.scope
            changed = True
    return changed


def _tag_by_producers(graph: Graph) -> bool:
    changed = False
    for node in graph.nodes:
        if not node.scope.is_unknown:
            continue
        scopes = [s for s in producer_scopes(node, graph) if not s.is_unknown]
        if not scopes:
            continue
        try:
            scope = common_scope(scopes)
        except ValueError:
            continue
        if not scope.is_unknown:
            node.scope = scope
            changed = True
    return changed


def producer_scopes(node: Node, graph: Graph) -> list[Scope]:
    scopes: dict[Scope, None] = {}
    for value in node.inputs:
        if value is not None and value.producer is not None:
            scopes[_owner_in(value.producer, graph).scope] = None
    return list(scopes)


def model_root_scope(model: Model) -> Scope | None:
    """The root scope of the model's scoped nodes, else of its module tree, else None."""
    for node in model.all_nodes():
        if not node.scope.is_unknown:
            return node.scope.root_scope
    text = model.metadata_props.get(HIERARCHY_KEY)
    if text:
        try:
            tree = parse_module_tree(text)
            return Scope.root(tree["tag"].strip("/") or tree["class"], tree["qualified_class"])
        except (ModuleTreeError, KeyError, TypeError, AttributeError):
            return None
    return None


def record_initializer_scopes(graph: Graph) -> bool:
    changed = False
    for value in graph.initializers.values():
        tags = [
            s.tag
            for s in dict.fromkeys(_owner_in(n, graph).scope for n, _ in value.uses)
            if not s.is_unknown
        ]
        if not tags:
            continue
        text = json.dumps(tags, separators=(",", ":"))
        tensor = value.const_value
        if tensor.metadata_props.get(SCOPES_KEY) != text:
            tensor.metadata_props[SCOPES_KEY] = text
            changed = True
    return changed


def record_shared_node_scopes(graph: Graph) -> bool:
    """``hcc.scopes`` on every node whose outputs nodes of two or more scopes read (their tags,
    in order of first use); removed where it no longer holds."""
    changed = False
    for node in graph:
        readers = dict.fromkeys(
            _owner_in(user, graph).scope for value in node.outputs for user, _ in value.uses
        )
        tags = [s.tag for s in readers if not s.is_unknown]
        if len(tags) < 2:
            if SCOPES_KEY in node.metadata_props:
                del node.metadata_props[SCOPES_KEY]
                changed = True
            continue
        text = json.dumps(tags, separators=(",", ":"))
        if node.metadata_props.get(SCOPES_KEY) != text:
            node.metadata_props[SCOPES_KEY] = text
            changed = True
    return changed
