"""strip-tags."""

from __future__ import annotations

from hcc.ir import MODULE_KEY, NAMESPACE_KEY, TAG_KEY, Function, Scope
from hcc.passes import StripTagsPass, build_pipeline


def _tagged_model(graph_builder, scope: Scope):
    b = graph_builder()
    cond, x = b.input("cond"), b.input("x")
    then, orelse = graph_builder("then"), graph_builder("else")
    then.output(then.op("Identity", x, name="t", scope=scope))
    orelse.output(orelse.op("Identity", x, name="e", scope=scope))
    relu = b.op("Relu", x, name="relu", scope=scope)
    branches = {"then_branch": then.graph, "else_branch": orelse.graph}
    b.output(relu, b.op("If", cond, name="if", scope=scope, subgraphs=branches))
    body = graph_builder("body")
    body.output(body.op("Neg", body.input("a"), name="f", scope=scope))
    model = b.model()
    function = Function("local", "F", body.graph)
    model.functions[function.identifier] = function
    model.metadata_props.update({"hcc.hierarchy": "{}", "other": "kept", "custom": "x"})
    relu.producer.metadata_props["custom"] = "x"
    return model


def test_every_scope_becomes_unknown_and_tag_metadata_goes(graph_builder, bert_scope):
    model = _tagged_model(graph_builder, bert_scope)
    nodes = list(model.all_nodes())
    assert len(nodes) == 5 and all(TAG_KEY in n.metadata_props for n in nodes)
    assert StripTagsPass().run(model).changed
    for node in model.all_nodes():
        assert node.scope.is_unknown
        assert not {TAG_KEY, MODULE_KEY, NAMESPACE_KEY} & set(node.metadata_props)
    assert model.metadata_props == {"other": "kept", "custom": "x"}
    assert model.graph.nodes[0].metadata_props == {"custom": "x"}
    assert not StripTagsPass().run(model).changed


def test_extra_keys_and_keeping_the_hierarchy(graph_builder, bert_scope):
    model = _tagged_model(graph_builder, bert_scope)
    (strip,) = build_pipeline("strip-tags(keys=['custom'], hierarchy=false)")
    assert strip.run(model).changed
    assert model.graph.nodes[0].metadata_props == {}
    assert model.metadata_props == {"hcc.hierarchy": "{}", "other": "kept"}


def test_stray_tag_metadata_on_an_unscoped_node_is_removed(graph_builder):
    b = graph_builder()
    x = b.input("x")
    b.output(b.op("Relu", x, name="relu"))
    node = b.graph.nodes[0]
    node.metadata_props[NAMESPACE_KEY] = ": some.Module"  # written by an exporter, no scope
    model = b.model()
    assert StripTagsPass().run(model).changed
    assert node.metadata_props == {}


def test_an_untagged_model_is_unchanged(graph_builder):
    b = graph_builder()
    b.output(b.op("Relu", b.input("x")))
    assert not StripTagsPass(keys=["absent"]).run(b.model()).changed
