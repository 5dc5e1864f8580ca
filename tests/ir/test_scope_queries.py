"""The questions passes ask a graph about scopes: which nodes, which children, what crosses.

The graph is a two-layer encoder in miniature: an embedding (Gather of the initializer ``w``)
under /M/Emb, layer 0 (an Add under its Attn child, then a Mul) and layer 1 (an Add that reads
layer 0's Mul and, skipping a layer, the embedding), a Relu at the root, and an untagged Shape.
"""

from __future__ import annotations

import numpy as np

from hcc.ir import ArrayTensor, Attr, Graph, Node, Scope, Value

M = Scope.root("M")
EMB = M.child("emb", "Emb")
ENC = M.child("enc", "Enc")
LAYER0 = ENC.child("enc.layers.0", "Layer.0")
LAYER1 = ENC.child("enc.layers.1", "Layer.1")
ATTN0 = LAYER0.child("enc.layers.0.attn", "Attn")


def encoder():
    x = Value("x")
    w = Value("w", const_value=ArrayTensor(np.ones(2, np.float32)))
    embed = Node("", "Gather", [w, x], name="embed", scope=EMB)
    add0 = Node("", "Add", [embed.outputs[0], w], name="add0", scope=ATTN0)
    mul0 = Node("", "Mul", [add0.outputs[0], add0.outputs[0]], name="mul0", scope=LAYER0)
    add1 = Node("", "Add", [mul0.outputs[0], embed.outputs[0]], name="add1", scope=LAYER1)
    relu = Node("", "Relu", [add1.outputs[0]], name="relu", scope=M)
    shape = Node("", "Shape", [x], name="shape")  # untagged helper
    graph = Graph(
        [x],
        [relu.outputs[0], shape.outputs[0]],
        [embed, add0, mul0, add1, relu, shape],
        initializers=[w],
    )
    return graph, locals()


def test_scopes_lists_each_distinct_scope_in_order():
    graph, _ = encoder()
    assert graph.scopes() == [EMB, ATTN0, LAYER0, LAYER1, M, Scope.unknown()]


def test_nodes_in_takes_the_scope_and_everything_below():
    graph, n = encoder()
    assert graph.nodes_in(LAYER0) == [n["add0"], n["mul0"]]
    assert graph.nodes_in(ENC) == [n["add0"], n["mul0"], n["add1"]]
    assert len(graph.nodes_in(M)) == 5  # everything but the untagged Shape
    assert graph.nodes_in(Scope.root("Other")) == []


def test_child_scopes_are_direct_children_that_hold_nodes():
    graph, _ = encoder()
    assert graph.child_scopes() == [M]
    assert graph.child_scopes(M) == [EMB, ENC]
    # Layer.0 holds nodes only through its Attn child, and still counts as Enc's child.
    assert graph.child_scopes(ENC) == [LAYER0, LAYER1]
    assert graph.child_scopes(LAYER1) == []


def test_values_entering_a_scope():
    graph, n = encoder()
    # Layer 0 reads the embedding and the shared weight, in order of first use.
    assert graph.values_entering(LAYER0) == [n["embed"].outputs[0], n["w"]]
    # Inside the encoder, Layer 1 reads Layer 0's result: that is not entering Enc.
    assert graph.values_entering(ENC) == [n["embed"].outputs[0], n["w"]]
    assert graph.values_entering(EMB) == [n["w"], n["x"]]


def test_values_leaving_a_scope():
    graph, n = encoder()
    assert graph.values_leaving(LAYER0) == [n["mul0"].outputs[0]]
    assert graph.values_leaving(EMB) == [n["embed"].outputs[0]]
    # A graph output leaves its scope even with no reader.
    assert graph.values_leaving(M) == [n["relu"].outputs[0]]
    assert graph.values_leaving(Scope.unknown()) == [n["shape"].outputs[0]]


def test_values_read_inside_a_subgraph_count_for_the_owner():
    graph, n = encoder()
    # An If in Layer 1 whose branch reads Layer 0's Mul: that value now leaves Layer 0 through
    # the If, and enters Layer 1 through the branch.
    inner = Node("", "Neg", [n["add0"].outputs[0]], scope=LAYER1)
    branch = Graph([], inner.outputs, [inner])
    if_node = Node("", "If", [n["x"]], attributes=[Attr.graph("then_branch", branch)], scope=LAYER1)
    graph.insert_after(n["add1"], if_node)
    assert n["add0"].outputs[0] in graph.values_leaving(LAYER0)
    assert n["add0"].outputs[0] in graph.values_entering(LAYER1)
    # The branch's own value is defined inside: it enters nothing.
    assert inner.outputs[0] not in graph.values_entering(LAYER1)


def test_initializer_shared_by_scopes():
    _, n = encoder()
    assert n["w"].scopes_of_uses() == [EMB, ATTN0]
