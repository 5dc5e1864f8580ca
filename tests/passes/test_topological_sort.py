"""topological-sort."""

from __future__ import annotations

import random

import pytest

from hcc.ir import HccError, Node
from hcc.passes import TopologicalSortPass


def _names(graph) -> list[str]:
    return [n.name for n in graph.nodes]


def test_a_sorted_graph_keeps_its_order(graph_builder):
    b = graph_builder()
    x = b.input("x")
    a = b.op("Relu", x, name="a")
    c = b.op("Neg", x, name="c")
    b.output(b.op("Add", a, c, name="d"))
    model = b.model()
    assert not TopologicalSortPass().run(model).changed
    assert _names(model.graph) == ["a", "c", "d"]


def test_moves_only_what_must_move(graph_builder):
    b = graph_builder()
    x = b.input("x")
    a = b.op("Relu", x, name="a")
    late = b.op("Neg", x, name="late")
    b.op("Abs", x, name="independent")
    b.output(b.op("Add", a, late, name="sum"))
    model = b.model()
    # Put the consumer first: it must go after both its producers, the rest keep their order.
    nodes = {n.name: n for n in model.graph.nodes}
    model.graph.sort_nodes([nodes["sum"], nodes["independent"], nodes["late"], nodes["a"]])
    assert TopologicalSortPass().run(model).changed
    assert _names(model.graph) == ["independent", "late", "a", "sum"]


def test_any_shuffle_sorts_to_a_valid_order_the_same_way_each_time(graph_builder):
    b = graph_builder()
    values = [b.input("x")]
    for i in range(30):
        picks = random.Random(i).sample(values, k=min(2, len(values)))
        values.append(b.op("Add", *picks, name=f"n{i}"))
    b.output(values[-1])
    model = b.model()
    original = list(model.graph.nodes)

    def sort_shuffled(seed: int) -> list[str]:
        shuffled = list(original)
        random.Random(seed).shuffle(shuffled)
        model.graph.sort_nodes(shuffled)
        TopologicalSortPass().run(model)
        return _names(model.graph)

    for seed in range(5):
        order = sort_shuffled(seed)
        position = {name: i for i, name in enumerate(order)}
        for node in model.graph.nodes:
            for value in node.inputs:
                if value.producer is not None:
                    assert position[value.producer.name] < position[node.name]
        assert sort_shuffled(seed) == order
        assert not TopologicalSortPass().run(model).changed


def test_subgraph_reads_order_the_owner_after_the_producer(graph_builder):
    b = graph_builder()
    cond, x = b.input("cond"), b.input("x")
    then, orelse = graph_builder("then"), graph_builder("else")
    captured = b.op("Relu", x, name="captured")
    then.output(then.op("Identity", captured, name="t"))
    orelse.output(orelse.op("Identity", x, name="e"))
    b.output(
        b.op(
            "If",
            cond,
            name="if",
            subgraphs={"then_branch": then.graph, "else_branch": orelse.graph},
        )
    )
    model = b.model()
    nodes = {n.name: n for n in model.graph.nodes}
    model.graph.sort_nodes([nodes["if"], nodes["captured"]])
    assert TopologicalSortPass().run(model).changed
    assert _names(model.graph) == ["captured", "if"]


def test_sorts_inside_subgraphs_and_functions(graph_builder):
    from hcc.ir import Function

    b = graph_builder()
    cond, x = b.input("cond"), b.input("x")
    then, orelse = graph_builder("then"), graph_builder("else")
    inner = then.op("Neg", x, name="inner")
    then.output(then.op("Relu", inner, name="inner_out"))
    orelse.output(orelse.op("Identity", x, name="e"))
    b.output(
        b.op(
            "If",
            cond,
            name="if",
            subgraphs={"then_branch": then.graph, "else_branch": orelse.graph},
        )
    )
    then.graph.sort_nodes(list(reversed(then.graph.nodes)))

    body = graph_builder("body")
    a = body.input("a")
    body.output(body.op("Relu", body.op("Neg", a, name="f1"), name="f2"))
    body.graph.sort_nodes(list(reversed(body.graph.nodes)))
    model = b.model()
    function = Function("local", "F", body.graph)
    model.functions[function.identifier] = function

    assert TopologicalSortPass().run(model).changed
    assert _names(then.graph) == ["inner", "inner_out"]
    assert _names(body.graph) == ["f1", "f2"]


def test_a_cycle_is_an_error(graph_builder):
    b = graph_builder()
    x = b.input("x")
    first = b.op("Relu", x, name="first")
    second = b.op("Neg", first, name="second")
    b.op("Abs", x, name="bystander")
    b.output(second)
    model = b.model()
    first.producer.replace_input_with(0, second)  # first <- second <- first
    with pytest.raises(HccError, match=r"graph 'main' has a cycle: Node\('(first|second)'"):
        TopologicalSortPass().run(model)


def test_a_node_reading_its_own_output_is_a_cycle(graph_builder):
    b = graph_builder()
    x = b.input("x")
    node = Node("", "Add", [x], name="self_loop")
    node.append_input(node.outputs[0])
    b.graph.append(node)
    with pytest.raises(HccError, match="self_loop"):
        TopologicalSortPass().run(b.model())
