"""remove-dead-code."""

from __future__ import annotations

from hcc.ir import Graph, Node, Value
from hcc.passes import RemoveDeadCodePass


def _ops(graph) -> list[str]:
    return [n.name for n in graph.nodes]


def test_removes_chains_of_unused_nodes_at_once(graph_builder):
    b = graph_builder()
    x = b.input("x")
    kept = b.op("Relu", x, name="kept")
    dead1 = b.op("Neg", x, name="dead1")
    b.op("Abs", dead1, name="dead2")
    b.output(kept)
    model = b.model()
    result = RemoveDeadCodePass().run(model)
    assert result.changed and result.model is model
    assert _ops(model.graph) == ["kept"]
    assert [node.name for node in x.consumers()] == ["kept"]
    assert not RemoveDeadCodePass().run(model).changed


def test_keeps_graph_inputs_outputs_and_partly_used_nodes(graph_builder):
    b = graph_builder()
    x, unused_input = b.input("x"), b.input("unused")
    first, second = b.op("Split", x, outputs=2, name="split")
    b.output(first)
    model = b.model()
    assert not RemoveDeadCodePass().run(model).changed
    assert _ops(model.graph) == ["split"]
    assert model.graph.inputs == [x, unused_input]


def test_custom_domains_stay_unless_aggressive(graph_builder):
    b = graph_builder()
    x = b.input("x")
    b.op("Print", x, domain="com.example", name="custom")
    b.op("Relu", x, domain="ai.onnx", name="standard")
    b.output(x)
    model = b.model()
    assert RemoveDeadCodePass().run(model).changed
    assert _ops(model.graph) == ["custom"]
    assert RemoveDeadCodePass(aggressive=True).run(model).changed
    assert _ops(model.graph) == []


def test_removes_unused_initializers_but_not_those_in_the_signature(graph_builder):
    b = graph_builder()
    x = b.input("x")
    used, unused = b.initializer("used"), b.initializer("unused")
    only_by_dead = b.initializer("only_by_dead")
    overridable = b.initializer("overridable")
    b.graph.inputs.append(overridable)  # an initializer that is also a graph input
    b.op("Add", x, only_by_dead, name="dead")
    b.output(b.op("Add", x, used, name="kept"))
    model = b.model()
    assert RemoveDeadCodePass().run(model).changed
    assert sorted(model.graph.initializers) == ["overridable", "used"]
    assert not unused.has_uses() and not only_by_dead.has_uses()


def test_an_initializer_that_is_an_output_stays(graph_builder):
    b = graph_builder()
    weight = b.initializer("w")
    b.output(weight)
    model = b.model()
    assert not RemoveDeadCodePass().run(model).changed
    assert list(model.graph.initializers) == ["w"]


def test_value_info_of_removed_values_goes_too(graph_builder):
    b = graph_builder()
    x = b.input("x")
    dead = b.op("Neg", x, name="dead")
    kept = b.op("Relu", x, name="kept")
    b.graph.value_info.extend([dead, kept])
    b.output(kept)
    model = b.model()
    RemoveDeadCodePass().run(model)
    assert model.graph.value_info == [kept]


def _branch(graph_builder, name: str, captured: Value) -> Graph:
    branch = graph_builder(name)
    inner_dead = branch.op("Neg", captured, name=f"{name}_dead")
    branch.output(branch.op("Identity", captured, name=f"{name}_out"))
    branch.op("Abs", inner_dead, name=f"{name}_dead2")
    return branch.graph


def test_recurses_into_subgraphs(graph_builder):
    b = graph_builder()
    cond, x = b.input("cond"), b.input("x")
    then, orelse = _branch(graph_builder, "then", x), _branch(graph_builder, "else", x)
    b.output(b.op("If", cond, name="if", subgraphs={"then_branch": then, "else_branch": orelse}))
    model = b.model()
    assert RemoveDeadCodePass().run(model).changed
    assert _ops(then) == ["then_out"] and _ops(orelse) == ["else_out"]
    assert _ops(model.graph) == ["if"]


def test_a_dead_node_with_a_subgraph_frees_the_values_it_captured(graph_builder):
    b = graph_builder()
    cond, x = b.input("cond"), b.input("x")
    helper = b.op("Relu", x, name="helper")  # read only inside the dead If's branches
    then, orelse = _branch(graph_builder, "then", helper), _branch(graph_builder, "else", helper)
    b.op("If", cond, name="dead_if", subgraphs={"then_branch": then, "else_branch": orelse})
    b.output(b.op("Neg", x, name="kept"))
    model = b.model()
    assert RemoveDeadCodePass().run(model).changed
    assert _ops(model.graph) == ["kept"]
    assert not helper.has_uses()


def test_a_value_a_subgraph_outputs_directly_is_kept(graph_builder):
    b = graph_builder()
    cond, x = b.input("cond"), b.input("x")
    outer = b.op("Relu", x, name="outer")  # no node reads it; a branch returns it as is
    then, orelse = graph_builder("then"), graph_builder("else")
    then.output(outer)
    orelse.output(outer)
    b.output(
        b.op(
            "If",
            cond,
            name="if",
            subgraphs={"then_branch": then.graph, "else_branch": orelse.graph},
        )
    )
    model = b.model()
    RemoveDeadCodePass().run(model)
    assert _ops(model.graph) == ["outer", "if"]


def test_function_bodies_are_cleaned(graph_builder):
    from hcc.ir import Function

    body = graph_builder("body")
    a = body.input("a")
    body.op("Neg", a, name="fn_dead")
    body.output(body.op("Relu", a, name="fn_kept"))
    b = graph_builder()
    b.output(b.input("x"))
    model = b.model()
    function = Function("local", "F", body.graph, opset_imports={"": 18})
    model.functions[function.identifier] = function
    assert RemoveDeadCodePass().run(model).changed
    assert _ops(body.graph) == ["fn_kept"]
    assert list(body.graph.inputs) == [a]


def test_nodes_without_outputs_in_standard_domains_go(graph_builder):
    b = graph_builder()
    x = b.input("x")
    b.graph.append(Node("", "Relu", [x], outputs=[], name="no_outputs"))
    b.output(x)
    model = b.model()
    assert RemoveDeadCodePass().run(model).changed
    assert _ops(model.graph) == []
