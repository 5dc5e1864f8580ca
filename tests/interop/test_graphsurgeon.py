"""Converting between hcc IR and onnx-graphsurgeon keeps scopes, also across edits."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs
import pytest

import hcc.ir as ir
from hcc.interop import ORIGINS_ATTR, from_graphsurgeon, to_graphsurgeon
from hcc.passes.simplify import UNMATCHED_KEY


@pytest.fixture(scope="module", params=["bert", "gpt2", "llama"])
def source(request, exported):
    source = exported(request.param)
    return source, ir.load(source.path)


def test_round_trip_gives_every_node_its_scope_back(source):
    _, model = source
    back = from_graphsurgeon(to_graphsurgeon(model))
    assert [(n.name, n.op_type, n.scope) for n in back.graph] == [
        (n.name, n.op_type, n.scope) for n in model.graph
    ]
    assert back.meta[UNMATCHED_KEY] == []
    assert back.metadata_props["hcc.hierarchy"] == model.metadata_props["hcc.hierarchy"]


def test_folding_and_clean_up_in_graphsurgeon_keep_every_tag(source, run_ort):
    src, model = source
    graph = to_graphsurgeon(model)
    graph.fold_constants()
    graph.cleanup().toposort()
    back = from_graphsurgeon(graph)
    assert all(src.is_real_scope(n.scope) for n in back.all_nodes())
    for want, got in zip(run_ort(src.path), run_ort(back), strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_a_node_added_in_graphsurgeon_joins_the_scope_of_its_neighbours(source):
    _, model = source
    graph = to_graphsurgeon(model)
    # Put an Identity in front of the first MatMul, as a user's script might.
    matmul = next(n for n in graph.nodes if n.op == "MatMul")
    before = next(n for n in model.graph if n.name == matmul.name)
    x = matmul.inputs[0]
    copy = gs.Variable(x.name + "_copy", dtype=x.dtype, shape=x.shape)
    graph.nodes.append(gs.Node("Identity", "added_by_user", inputs=[x], outputs=[copy]))
    matmul.inputs[0] = copy
    graph.toposort()
    back = from_graphsurgeon(graph)
    added = next(n for n in back.graph if n.name == "added_by_user")
    assert added.scope.is_within(before.scope.root_scope)
    assert before.scope.is_within(added.scope)
    assert back.meta[UNMATCHED_KEY] == []


def test_a_copied_graph_needs_the_source_model(source):
    _, model = source
    graph = to_graphsurgeon(model).copy()
    assert not hasattr(graph, ORIGINS_ATTR)
    untagged = from_graphsurgeon(graph)
    assert all(n.scope.is_unknown for n in untagged.graph)
    tagged = from_graphsurgeon(graph, like=model)
    assert [n.scope for n in tagged.graph] == [n.scope for n in model.graph]
