"""``tag-auxiliary``: give helper nodes without a scope the common scope of their consumers.

Exporters leave some nodes without a module record: constants, ``Shape``/``Cast`` helpers,
nodes that an optimizer made (e.g. ``Split``), nodes marked with the empty-module-stack hook.
Such a node exists to feed its consumers, so it belongs where they are: its scope becomes the
deepest scope that contains all of its consumers' scopes. Nodes are visited from the last to the
first, so a chain of helpers takes the scope of the node the chain feeds. A constant shared by
several layers goes to the scope that holds them all (splitting copies it where needed).

Nodes that no scoped node consumes are left to ``propagate-tags``. Nodes in subgraphs count as
consumers through the node that owns the subgraph.
"""

from __future__ import annotations

from hcc.ir import Graph, Model, Node, Scope, common_scope
from hcc.ir import owner_in as _owner_in

from ._infra import Pass, PassResult
from ._registry import register_pass


@register_pass("tag-auxiliary", summary="scope helper nodes by the common scope of their consumers")
class TagAuxiliaryPass(Pass):
    def call(self, model: Model) -> PassResult:
        changed = False
        for graph in model.graphs():
            changed |= tag_by_consumers(graph)
        return PassResult(model, changed)


def tag_by_consumers(graph: Graph) -> bool:
    changed = False
    for node in reversed(graph.nodes):
        if not node.scope.is_unknown:
            continue
        scopes = [s for s in consumer_scopes(node, graph) if not s.is_unknown]
        if not scopes:
            continue
        try:
            scope = common_scope(scopes)
        except ValueError:  # consumers under different roots: no honest common scope
            continue
        if not scope.is_unknown:
            node.scope = scope
            changed = True
    return changed


def consumer_scopes(node: Node, graph: Graph) -> list[Scope]:
    """Scopes of the nodes of ``graph`` that read any output of ``node`` (directly or from one
    of their subgraphs), in order of use."""
    scopes: dict[Scope, None] = {}
    for value in node.outputs:
        for user, _ in value.uses:
            scopes[_owner_in(user, graph).scope] = None
    return list(scopes)
