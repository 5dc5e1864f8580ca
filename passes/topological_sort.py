"""topological-sort: order every graph so each node comes after the nodes it reads from."""

from __future__ import annotations

import heapq

from hcc.ir import Graph, HccError, Model, Node

from ._infra import Pass, PassResult
from ._registry import register_pass


@register_pass("topological-sort", summary="order nodes so that producers come before consumers")
class TopologicalSortPass(Pass):
    """Sort the main graph, every subgraph and every function body topologically.

    The sort is stable: among the nodes that are ready, the one that came first goes first, so
    a graph that is already in order keeps its order exactly and the result depends only on the
    input. A subgraph's reads of outer values count as reads of the node that owns it.
    A cycle is an error.
    """

    def call(self, model: Model) -> PassResult:
        changed = False
        for graph in list(model.graphs()):
            changed = _sort_graph(graph) or changed
        return PassResult(model, changed)


def _sort_graph(graph: Graph) -> bool:
    nodes = graph.nodes
    position = {id(node): i for i, node in enumerate(nodes)}
    producers: list[list[int]] = []
    consumers: list[list[int]] = [[] for _ in nodes]
    for i, node in enumerate(nodes):
        found = {
            position[id(value.producer)]
            for value in _values_read(node)
            if value.producer is not None and id(value.producer) in position
        }
        producers.append(sorted(found))
        for producer in found:
            consumers[producer].append(i)
    waiting_for = [len(p) for p in producers]

    ready = [i for i, count in enumerate(waiting_for) if count == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for consumer in consumers[i]:
            waiting_for[consumer] -= 1
            if waiting_for[consumer] == 0:
                heapq.heappush(ready, consumer)

    if len(order) != len(nodes):
        where = f"graph {graph.name!r}" if graph.name else "a graph"
        on_cycle = nodes[_node_on_cycle(producers, waiting_for)]
        raise HccError(f"{where} has a cycle: {on_cycle!r} depends on its own output")
    if order == list(range(len(nodes))):
        return False
    graph.sort_nodes([nodes[i] for i in order])
    return True


def _node_on_cycle(producers: list[list[int]], waiting_for: list[int]) -> int:
    """A node on a cycle: walking back from an unordered node through unordered producers must
    come back to a node already seen, and that node is on the cycle."""
    current = next(i for i, count in enumerate(waiting_for) if count > 0)
    seen: set[int] = set()
    while current not in seen:
        seen.add(current)
        current = next(p for p in producers[current] if waiting_for[p] > 0)
    return current


def _values_read(node: Node):
    """The node's inputs and every value read anywhere inside its subgraphs (inner values too:
    their producers are not in the graph being sorted, so they drop out)."""
    for value in node.inputs:
        if value is not None:
            yield value
    for subgraph in node.subgraphs():
        for inner in subgraph.all_nodes():
            for value in inner.inputs:
                if value is not None:
                    yield value
