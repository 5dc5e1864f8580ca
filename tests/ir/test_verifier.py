"""The verifier: each invariant is broken on purpose and the message checked.

The IR's own methods keep these invariants, so the tests break them the way buggy pass code
would: through public lists (``graph.inputs``, ``graph.initializers``), unsafe removal, or the
private fields a careless pass might touch.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from hcc.ir import (
    MODULE_KEY,
    TAG_KEY,
    ArrayTensor,
    Attr,
    Function,
    Graph,
    Model,
    Node,
    Scope,
    Value,
    VerificationError,
    verify,
)
from hcc.ir.verifier import check

NET = Scope.root("Net")
BLOCK = NET.child("blocks.0", "Block.0")


def named(node: Node, *names: str) -> Node:
    for value, name in zip(node.outputs, names):
        value.name = name
    return node


def build():
    """A small valid model: Add and Relu, an If whose branches read outer values, a function."""
    x, cond = Value("x"), Value("cond")
    w = Value("w", const_value=ArrayTensor(np.ones(3, np.float32)))
    add = named(Node("", "Add", [x, w], name="add", scope=BLOCK), "a")
    relu = named(Node("", "Relu", [add.outputs[0]], name="relu", scope=BLOCK), "r")
    neg = named(Node("", "Neg", [relu.outputs[0]], name="neg", scope=NET), "t")
    then_branch = Graph([], neg.outputs, [neg], name="then")
    ident = named(Node("", "Identity", [x], name="ident", scope=NET), "e")
    else_branch = Graph([], ident.outputs, [ident], name="else")
    if_node = named(
        Node(
            "",
            "If",
            [cond],
            attributes=[
                Attr.graph("then_branch", then_branch),
                Attr.graph("else_branch", else_branch),
            ],
            name="if",
            scope=NET,
        ),
        "y",
    )
    main = Graph(
        [x, cond], [if_node.outputs[0]], [add, relu, if_node], initializers=[w], name="main"
    )
    fx = Value("fx")
    body_node = named(Node("", "Relu", [fx], name="body_relu", scope=NET), "fy")
    function = Function("custom", "F", Graph([fx], body_node.outputs, [body_node]))
    model = Model(main, opset_imports={"": 18, "custom": 1}, functions=[function])
    return model, locals()


def test_a_valid_model_has_no_problems():
    model, _ = build()
    assert check(model) == []
    assert check(model, require_scopes=True) == []
    verify(model)


def test_verify_raises_with_every_problem():
    model, n = build()
    n["add"].name = "relu"
    n["main"].outputs.append(Value("ghost"))
    with pytest.raises(VerificationError) as caught:
        verify(model)
    assert len(caught.value.problems) == 2
    assert "(and 1 more)" in str(caught.value)


def test_only_ir_objects_are_verified():
    with pytest.raises(TypeError):
        check(Node("", "Relu"))  # type: ignore[arg-type]


# -- SSA -------------------------------------------------------------------------------------------


def test_a_name_defined_twice_breaks_ssa():
    model, n = build()
    n["relu"].outputs[0].name = "a"
    assert check(model) == [
        "graph 'main': value name %a is defined twice (SSA), as output 0 of node 'add' (Add) "
        "and as output 0 of node 'relu' (Relu)"
    ]


def test_a_subgraph_may_not_redefine_an_outer_name():
    model, n = build()
    n["neg"].outputs[0].name = "r"
    assert check(model) == [
        "graph 'main' > node 'if' (If).then_branch: output 0 of node 'neg' (Neg) %r redefines a "
        "name visible from graph 'main' (SSA)"
    ]


def test_sibling_subgraphs_may_reuse_a_name():
    model, n = build()
    n["ident"].outputs[0].name = "t"  # the then-branch's name, in the else-branch
    assert check(model) == []


def test_unnamed_values_are_exempt_from_ssa():
    model, n = build()
    n["add"].outputs[0].name = ""
    n["relu"].outputs[0].name = ""
    assert check(model) == []


def test_an_input_with_an_initializer_default_is_one_definition():
    model, n = build()
    # Old-style models list initializers as inputs too: the same Value, defined once.
    n["main"].inputs.append(n["w"])
    assert check(model) == []
    # Two different values under one name are two definitions.
    other = Value("x", const_value=ArrayTensor(np.zeros(1)))
    n["main"].initializers["x"] = other
    other.meta["_graph"] = n["main"]
    assert check(model) == [
        "graph 'main': value name %x is defined twice (SSA), as graph input and as initializer"
    ]


# -- order and dangling values --------------------------------------------------------------------


def test_a_node_reading_a_later_output_breaks_topological_order():
    model, n = build()
    n["main"].sort_nodes([n["relu"], n["add"], n["if_node"]])
    assert check(model) == [
        "graph 'main': node 'relu' (Relu): input 0 %a is used before it is defined: its producer "
        "node 'add' (Add) comes later (nodes out of topological order)"
    ]


def test_a_subgraph_may_read_only_what_is_defined_before_its_owner():
    model, n = build()
    late = named(Node("", "Abs", [n["x"]], name="late", scope=NET), "late")
    n["main"].append(late)
    n["ident"].replace_input_with(0, late.outputs[0])
    assert check(model) == [
        "graph 'main' > node 'if' (If).else_branch: node 'ident' (Identity): input 0 %late is "
        "used before it is defined: its producer node 'late' (Abs) comes later (nodes out of "
        "topological order)"
    ]


def test_reading_the_output_of_a_removed_node():
    model, n = build()
    n["main"].remove(n["add"], safe=False)
    assert check(model) == [
        "graph 'main': node 'relu' (Relu): input 0 %a is produced by node 'add' (Add), which is "
        "in no graph (removed?)"
    ]


def test_reading_a_value_that_no_graph_defines():
    model, n = build()
    n["relu"].replace_input_with(0, Value("stray"))
    assert check(model) == [
        "graph 'main': node 'relu' (Relu): input 0 %stray has no producer and is no graph input "
        "or initializer here (dangling value)"
    ]


def test_reading_a_value_from_a_sibling_subgraph():
    model, n = build()
    n["ident"].replace_input_with(0, n["neg"].outputs[0])
    assert check(model) == [
        "graph 'main' > node 'if' (If).else_branch: node 'ident' (Identity): input 0 %t is "
        "produced in graph 'main' > node 'if' (If).then_branch, which does not enclose this node "
        "(dangling value)"
    ]


def test_a_function_body_sees_only_its_own_inputs():
    model, n = build()
    n["body_node"].replace_input_with(0, n["x"])
    assert check(model) == [
        "function 'custom::F': node 'body_relu' (Relu): input 0 %x is an input or initializer of "
        "graph 'main', which does not enclose this node (dangling value)"
    ]


def test_an_input_taken_out_of_the_graph_is_dangling():
    model, n = build()
    n["main"].inputs.remove(n["cond"])
    assert check(model) == [
        "graph 'main': node 'if' (If): input 0 %cond belongs to graph 'main' but is no longer its "
        "input or initializer (dangling value)"
    ]


def test_graph_outputs_must_be_defined():
    model, n = build()
    n["then_branch"].outputs.append(Value("nowhere"))
    assert check(model) == [
        "graph 'main' > node 'if' (If).then_branch: graph output %nowhere has no producer and is "
        "no graph input or initializer here (dangling value)"
    ]


# -- use-def consistency ---------------------------------------------------------------------------


def test_a_read_missing_from_the_use_list():
    model, n = build()
    del n["x"]._uses[(n["add"], 0)]
    assert check(model) == ["graph 'main': node 'add' (Add): input 0 %x does not list this use"]


def test_a_use_that_is_not_an_input():
    model, n = build()
    n["x"]._uses[(n["relu"], 0)] = None
    assert check(model) == [
        "graph 'main': %x lists a use as input 0 of node 'relu' (Relu), which reads something "
        "else there"
    ]


def test_a_node_built_but_never_added_is_a_stale_use():
    model, n = build()
    Node("", "Sqrt", [n["x"]], name="forgotten")
    assert check(model) == [
        "graph 'main': %x lists a use by node 'forgotten' (Sqrt), which is not in the verified "
        "graphs (a node built but never added?)"
    ]


def test_producer_and_index_must_match_the_outputs():
    model, n = build()
    n["relu"].outputs[0]._index = 3
    assert check(model) == [
        "graph 'main': node 'relu' (Relu): output 0 %r names output 3 of node 'relu' (Relu) as "
        "its producer"
    ]


def test_a_node_must_claim_the_graph_that_lists_it():
    model, n = build()
    n["add"]._graph = n["then_branch"]
    assert check(model) == [
        "graph 'main': node 'add' (Add) is listed here but claims graph 'main' > node 'if' "
        "(If).then_branch"
    ]


def test_a_node_listed_twice():
    model, n = build()
    n["then_branch"]._nodes.append(n["add"])
    problems = check(model)
    assert (
        "graph 'main' > node 'if' (If).then_branch: node 'add' (Add) is listed more than once"
        in problems
    )


def test_a_subgraph_must_know_its_owner():
    model, n = build()
    n["else_branch"].parent = None
    assert check(model) == ["graph 'main': node 'if' (If): subgraph 'else_branch' has parent None"]


def test_a_graph_attached_to_two_nodes():
    model, n = build()
    n["if_node"].attributes["else_branch"] = Attr.graph("else_branch", n["then_branch"])
    problems = check(model)
    assert any("also attached elsewhere" in p for p in problems)


def test_graph_inputs_must_know_their_graph():
    model, n = build()
    extra = Value("extra")
    n["main"].inputs.append(extra)  # bypasses Graph: Value.graph stays None
    assert check(model) == [
        "graph 'main': graph input %extra does not know its graph (appended to graph.inputs by "
        "hand? build the Graph with it)"
    ]


def test_unnamed_values_are_described_by_their_producer():
    model, n = build()
    n["add"].outputs[0].name = ""
    n["main"].sort_nodes([n["relu"], n["add"], n["if_node"]])
    assert check(model) == [
        "graph 'main': node 'relu' (Relu): input 0 %<output 0 of node 'add' (Add)> is used "
        "before it is defined: its producer node 'add' (Add) comes later (nodes out of "
        "topological order)"
    ]


# -- scopes ---------------------------------------------------------------------------------------


def test_require_scopes_finds_untagged_nodes_everywhere():
    model, n = build()
    n["add"].scope = Scope.unknown()
    n["neg"].scope = Scope.unknown()
    n["body_node"].scope = Scope.unknown()
    assert check(model) == []  # allowed unless asked for
    assert check(model, require_scopes=True) == [
        "graph 'main': node 'add' (Add) has the unknown scope (untagged)",
        "graph 'main' > node 'if' (If).then_branch: node 'neg' (Neg) has the unknown scope "
        "(untagged)",
        "function 'custom::F': node 'body_relu' (Relu) has the unknown scope (untagged)",
    ]


def test_a_scope_must_be_a_scope():
    model, n = build()
    n["add"]._set_scope_quietly("/Net/Block.0")  # type: ignore[arg-type]
    assert check(model) == ["graph 'main': node 'add' (Add) has no scope (found str)"]


def test_stored_tags_must_agree_with_the_scope():
    model, n = build()
    n["add"].metadata_props[TAG_KEY] = "/Net/Block.1"
    n["relu"].metadata_props[MODULE_KEY] = "blocks.1"
    assert check(model) == [
        "graph 'main': node 'add' (Add): metadata hcc.tag='/Net/Block.1' disagrees with its "
        "scope '/Net/Block.0'",
        "graph 'main': node 'relu' (Relu): metadata hcc.module='blocks.1' disagrees with its "
        "scope's module path 'blocks.0'",
    ]


def test_an_untagged_node_may_store_an_empty_tag():
    model, n = build()
    n["add"]._set_scope_quietly(Scope.unknown())
    n["add"].metadata_props.update({TAG_KEY: "/", MODULE_KEY: ""})
    assert check(model) == []


# -- names ---------------------------------------------------------------------------------------


def test_node_names_are_unique_within_a_graph():
    model, n = build()
    n["relu"].name = "add"
    n["neg"].name = "add"  # another graph: allowed
    assert check(model) == ["graph 'main': node name 'add' is used by nodes #0 and #1"]


def test_initializers_are_stored_under_their_own_name():
    model, n = build()
    n["w"].name = "w2"  # renamed after it was added
    assert check(model) == ["graph 'main': initializer stored under name 'w' is named %w2"]


def test_graph_input_names_are_unique():
    model, n = build()
    twin = Value("x")
    twin.meta["_graph"] = n["main"]
    n["main"].inputs.append(twin)
    problems = check(model)
    assert problems[0] == "graph 'main': graph input name %x is used twice"


def test_function_identifiers_are_unique_keys():
    model, n = build()
    n["function"].name = "G"  # renamed after it was added: the key now lies
    assert check(model) == [
        "model: function 'custom::G' is stored under key ('custom', 'F', ''), not its identifier "
        "('custom', 'G', '')"
    ]


# -- entry points and speed ----------------------------------------------------------------------


def test_a_subgraph_verified_alone_sees_the_outer_values():
    model, n = build()
    assert check(n["then_branch"]) == []
    n["neg"].replace_input_with(0, n["if_node"].outputs[0])  # its owner's own output
    assert check(n["then_branch"]) == [
        "graph 'main' > node 'if' (If).then_branch: node 'neg' (Neg): input 0 %y is used before "
        "it is defined: its producer node 'if' (If) comes later (nodes out of topological order)"
    ]


def test_a_function_can_be_verified_alone():
    model, n = build()
    assert check(n["function"]) == []


def chain(length: int) -> Model:
    x = Value("x")
    w = Value("w", const_value=ArrayTensor(np.ones(3, np.float32)))
    nodes, current = [], x
    for i in range(length):
        layer = NET.child(f"layers.{i % 12}", f"Layer.{i % 12}")
        axis = [Attr.int("axis", 1)]
        node = named(
            Node("", "Add", [current, w], attributes=axis, name=f"add{i}", scope=layer), f"t{i}"
        )
        nodes.append(node)
        current = node.outputs[0]
    return Model(Graph([x], [current], nodes, initializers=[w], name="main"))


def test_verifying_grows_linearly_with_the_graph():
    # No absolute time (machines are noisy): four times the nodes should cost about four times
    # the time; a quadratic check would cost sixteen. Best of several runs, to shed load spikes.
    small, large = chain(1500), chain(6000)
    assert check(large, require_scopes=True) == []
    t_small = min(_timed(lambda: verify(small, require_scopes=True)) for _ in range(7))
    t_large = min(_timed(lambda: verify(large, require_scopes=True)) for _ in range(7))
    assert t_large < 12 * t_small


def _timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start
