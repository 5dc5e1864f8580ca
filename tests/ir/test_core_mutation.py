"""Use-def lists stay current under every mutation the IR offers.

Passes never rebuild use lists by hand, so each mutation method is pinned here by what it must
leave behind in ``Value.uses`` / ``producer`` and in the graph's node list.
"""

from __future__ import annotations

import numpy as np
import pytest

from hcc.ir import (
    MODULE_KEY,
    NAMESPACE_KEY,
    TAG_KEY,
    ArrayTensor,
    Attr,
    Graph,
    Node,
    Scope,
    Value,
)
from hcc.ir.verifier import check


def op(op_type: str, *inputs: Value | None, name: str = "", **kwargs) -> Node:
    return Node("", op_type, list(inputs), name=name, **kwargs)


def test_node_construction_registers_each_input_slot():
    x, y = Value("x"), Value("y")
    node = op("Add", x, y, x)
    # The same value read twice is two uses: replacing one slot must not drop the other.
    assert x.uses == [(node, 0), (node, 2)]
    assert y.uses == [(node, 1)]
    assert x.consumers() == [node]
    assert node.outputs[0].producer is node and node.outputs[0].index == 0


def test_omitted_optional_input_is_none_and_has_no_use():
    x = Value("x")
    node = op("Clip", x, None, Value("max"))
    assert node.inputs[1] is None
    assert x.uses == [(node, 0)]


def test_refused_node_leaves_no_uses_behind():
    x = Value("x")
    taken = op("Relu", x).outputs[0]
    with pytest.raises(ValueError, match="already has a producer"):
        Node("", "Neg", [x], outputs=[taken])
    # Only the first node reads x; the refused one must not linger in its use list.
    assert len(x.uses) == 1


def test_replace_input_with_moves_the_use():
    x, y = Value("x"), Value("y")
    node = op("Relu", x)
    node.replace_input_with(0, y)
    assert x.uses == [] and y.uses == [(node, 0)]
    node.replace_input_with(0, None)
    assert y.uses == [] and node.inputs == (None,)


def test_set_inputs_replaces_every_use():
    a, b, c = Value("a"), Value("b"), Value("c")
    node = op("Sum", a, b)
    node.set_inputs([c, a])
    assert b.uses == []
    assert a.uses == [(node, 1)]
    assert c.uses == [(node, 0)]


def test_append_input_and_output():
    a, b = Value("a"), Value("b")
    node = op("Concat", a)
    node.append_input(b)
    assert b.uses == [(node, 1)]
    extra = node.append_output()
    assert extra.producer is node and extra.index == 1
    with pytest.raises(ValueError, match="already has a producer"):
        node.append_output(extra)


def test_replace_all_uses_with_updates_readers_and_graph_outputs():
    x = Value("x")
    relu = op("Relu", x)
    neg = op("Neg", relu.outputs[0])
    graph = Graph([x], [relu.outputs[0], neg.outputs[0]], [relu, neg])
    replacement = op("Abs", x)
    graph.insert_after(relu, replacement)

    relu.outputs[0].replace_all_uses_with(replacement.outputs[0])

    assert relu.outputs[0].uses == []
    assert replacement.outputs[0].uses == [(neg, 0)]
    assert graph.outputs[0] is replacement.outputs[0]
    assert check(graph) == []


def test_replace_all_uses_with_can_leave_graph_outputs_alone():
    x = Value("x")
    relu = op("Relu", x)
    graph = Graph([x], [relu.outputs[0]], [relu])
    relu.outputs[0].replace_all_uses_with(x, graph_outputs=False)
    assert graph.outputs[0] is relu.outputs[0]


def test_replace_all_uses_with_reaches_subgraph_readers_and_outputs():
    x, cond = Value("x"), Value("cond")
    relu = op("Relu", x)
    outer = relu.outputs[0]
    # The then-branch reads the outer value; the else-branch returns it directly.
    inner = op("Neg", outer)
    then_branch = Graph([], inner.outputs, [inner], name="then")
    else_branch = Graph([], [outer], [], name="else")
    branches = [Attr.graph("then_branch", then_branch), Attr.graph("else_branch", else_branch)]
    if_node = op("If", cond, attributes=branches)
    graph = Graph([x, cond], if_node.outputs, [relu, if_node])

    outer.replace_all_uses_with(x)

    assert inner.inputs[0] is x and (inner, 0) in x.uses
    assert else_branch.outputs == [x]
    assert outer.uses == []
    assert check(graph) == []


def test_subgraphs_know_their_owner():
    body = Graph([], [], [])
    node = op("If", Value("c"), attributes=[Attr.graph("then_branch", body)])
    # Scope queries and safe removal climb from subgraph nodes to their owner via parent.
    assert body.parent is node


def test_append_insert_before_and_after_keep_order():
    x = Value("x")
    a, b, c, d = op("A", x), op("B", x), op("C", x), op("D", x)
    graph = Graph([x], [], [b])
    graph.insert_before(b, a)
    graph.append(d)
    graph.insert_after(b, c)
    assert graph.nodes == (a, b, c, d)
    assert all(n.graph is graph for n in graph)


def test_a_node_belongs_to_one_graph():
    node = op("Relu", Value("x"))
    Graph([], [], [node])
    with pytest.raises(ValueError, match="already belongs"):
        Graph([], [], [node])
    with pytest.raises(ValueError, match="not in this graph"):
        Graph().insert_before(node, op("Neg", Value("y")))


def test_safe_remove_refuses_a_node_whose_output_is_read():
    x = Value("x")
    relu = op("Relu", x, name="relu")
    neg = op("Neg", relu.outputs[0], name="neg")
    graph = Graph([x], neg.outputs, [relu, neg])
    with pytest.raises(ValueError, match="still used by"):
        graph.remove(relu)
    with pytest.raises(ValueError, match="graph output"):
        graph.remove(neg)
    assert graph.nodes == (relu, neg)


def test_removing_a_group_at_once_needs_no_order():
    x = Value("x")
    relu = op("Relu", x)
    neg = op("Neg", relu.outputs[0])
    keep = op("Abs", x)
    graph = Graph([x], keep.outputs, [relu, neg, keep])
    # relu's output is read only by neg, which goes too: the group is self-contained.
    graph.remove([relu, neg])
    assert graph.nodes == (keep,)
    assert x.uses == [(keep, 0)]
    assert relu.graph is None and neg.graph is None


def test_unsafe_remove_leaves_the_readers_dangling():
    x = Value("x")
    relu = op("Relu", x)
    neg = op("Neg", relu.outputs[0])
    graph = Graph([x], neg.outputs, [relu, neg])
    graph.remove(relu, safe=False)
    assert x.uses == []
    assert any("removed?" in p for p in check(graph))


def test_a_removed_node_can_move_to_another_graph():
    x = Value("x")
    relu = op("Relu", x)
    source = Graph([x], [], [relu])
    source.remove(relu)
    assert x.uses == []
    target = Graph([], [], [])
    target.append(relu)
    # Re-inserted, it reads x again.
    assert x.uses == [(relu, 0)]


def test_removing_a_node_drops_its_subgraphs_reads_of_outer_values():
    x, cond = Value("x"), Value("cond")
    inner = op("Neg", x)
    body = Graph([], inner.outputs, [inner])
    if_node = op("If", cond, attributes=[Attr.graph("then_branch", body)])
    graph = Graph([x, cond], [], [if_node])

    graph.remove(if_node)

    # Otherwise x would keep a phantom reader and never look dead.
    assert x.uses == [] and cond.uses == []
    graph.append(if_node)
    assert x.uses == [(inner, 0)]


def test_safe_remove_accepts_readers_inside_the_removed_subgraph():
    x, cond = Value("x"), Value("cond")
    relu = op("Relu", x)
    inner = op("Neg", relu.outputs[0])
    body = Graph([], inner.outputs, [inner])
    if_node = op("If", cond, attributes=[Attr.graph("then_branch", body)])
    graph = Graph([x, cond], [], [relu, if_node])
    graph.remove([relu, if_node])
    assert graph.nodes == ()


def test_sort_nodes_takes_only_a_permutation():
    x = Value("x")
    a, b = op("A", x), op("B", x)
    graph = Graph([x], [], [a, b])
    graph.sort_nodes([b, a])
    assert graph.nodes == (b, a)
    with pytest.raises(ValueError, match="permutation"):
        graph.sort_nodes([a])
    with pytest.raises(ValueError, match="permutation"):
        graph.sort_nodes([a, op("C", x)])


def test_initializers_are_named_and_removed_only_when_unused():
    w = Value("w", const_value=ArrayTensor(np.zeros(2, np.float32)))
    graph = Graph(initializers=[w])
    assert w.is_initializer and w.graph is graph
    with pytest.raises(ValueError, match="no const_value"):
        graph.add_initializer(Value("v"))
    with pytest.raises(ValueError, match="duplicate"):
        graph.add_initializer(Value("w", const_value=ArrayTensor(np.zeros(1))))
    reader = op("Neg", w)
    graph.append(reader)
    with pytest.raises(ValueError, match="still used"):
        graph.remove_initializer("w")
    graph.remove(reader)
    assert graph.remove_initializer("w") is w


def test_scope_setter_writes_and_removes_stored_tags():
    encoder = Scope.root("BertModel").child("encoder", "BertEncoder")
    layer = encoder.child("encoder.layer.0", "BertLayer.0")
    node = op("Add", Value("x"))
    node.scope = layer
    assert node.metadata_props[TAG_KEY] == "/BertModel/BertEncoder/BertLayer.0"
    assert node.metadata_props[MODULE_KEY] == "encoder.layer.0"
    assert node.metadata_props[NAMESPACE_KEY] == (
        ": BertModel/encoder: BertEncoder/encoder.layer.0: BertLayer.0"
    )
    node.scope = Scope.unknown()
    # An untagged node stores nothing, so a stale tag cannot survive a reset.
    assert not {TAG_KEY, MODULE_KEY, NAMESPACE_KEY} & node.metadata_props.keys()


def test_scope_setter_rejects_a_tag_string():
    node = op("Add", Value("x"))
    with pytest.raises(TypeError, match="must be a Scope"):
        node.scope = "/BertModel"  # type: ignore[assignment]
