"""remove-dead-code: drop nodes nobody reads, then initializers nobody reads."""

from __future__ import annotations

from hcc.ir import Graph, Model, Node

from ._infra import Pass, PassResult
from ._options import Option
from ._registry import register_pass

# Operators of these domains are pure functions of their inputs, so an unread result means the
# node does nothing. A custom-domain op may have effects we cannot see (I/O, state), so it stays
# unless the user says otherwise.
_STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})


@register_pass(
    "remove-dead-code", summary="remove nodes whose results are never read, and unread initializers"
)
class RemoveDeadCodePass(Pass):
    """Remove nodes none of whose outputs is read or is a graph output, repeating until nothing
    more goes (removing a node can leave its producers unread), in the main graph, subgraphs and
    function bodies. Initializers that nothing reads are removed too. Graph inputs and outputs
    never change."""

    aggressive = Option(
        bool, False, "also remove unused nodes of custom domains (they may have side effects)"
    )

    def call(self, model: Model) -> PassResult:
        removed_any = False
        # One sweep walks each graph backwards, so chains go at once; another sweep is needed
        # only when a subgraph lost a node and with it the last read of an outer value.
        while self._sweep(model):
            removed_any = True
        return PassResult(model, removed_any)

    def _sweep(self, model: Model) -> bool:
        # A subgraph may list a value of an enclosing graph as its output, which is not a "use";
        # so every graph's outputs count as live everywhere.
        outputs = {id(v) for graph in model.graphs() for v in graph.outputs}
        removed = self._sweep_graph(model.graph, outputs)
        for function in model.functions.values():
            removed = self._sweep_graph(function.graph, outputs) or removed
        return removed

    def _sweep_graph(self, graph: Graph, outputs: set[int]) -> bool:
        removed = False
        gone: set[int] = set()
        for node in reversed(graph.nodes):
            if self._is_dead(node, outputs):
                _remove_with_subgraphs(graph, node)
                gone.update(id(v) for v in node.outputs)
                removed = True
                continue
            for subgraph in node.subgraphs():
                removed = self._sweep_graph(subgraph, outputs) or removed
        removed = _remove_unused_initializers(graph, outputs, gone) or removed
        if gone:
            graph.value_info[:] = [v for v in graph.value_info if id(v) not in gone]
        return removed

    def _is_dead(self, node: Node, graph_outputs: set[int]) -> bool:
        if node.domain not in _STANDARD_DOMAINS and not self.aggressive:
            return False
        return not any(v.has_uses() or id(v) in graph_outputs for v in node.outputs)


def _remove_with_subgraphs(graph: Graph, node: Node) -> None:
    # Graph.remove detaches the node's own inputs; the nodes of its subgraphs still hold uses of
    # outer values, which would keep those values alive. Empty the subgraphs first.
    for subgraph in node.subgraphs():
        for inner in reversed(subgraph.nodes):
            _remove_with_subgraphs(subgraph, inner)
    graph.remove(node, safe=False)


def _remove_unused_initializers(graph: Graph, outputs: set[int], gone: set[int]) -> bool:
    # An initializer that is also a graph input (IR < 4 style, an overridable default) is part of
    # the model's signature and stays.
    inputs = {id(v) for v in graph.inputs}
    unused = [
        name
        for name, value in graph.initializers.items()
        if not value.has_uses() and id(value) not in inputs and id(value) not in outputs
    ]
    for name in unused:
        gone.add(id(graph.remove_initializer(name)))
    return bool(unused)
