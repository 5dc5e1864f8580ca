"""Where split puts the nodes outside the chosen scopes, pinned on a small hand-made model.

The model, by scope::

    /Toy          s = Shape(x)                      a helper only block 1 reads
    Block.0       h = Relu(x); a = Add(h, c)        a is also a model output
    /Toy          g = Neg(a)                        glue between the blocks
    Block.1       i = If(flag) {Identity(g)} {Neg(g)};  b = Reshape(n, s)
    (no scope)    n = Neg(i)                        untagged, inside block 1
    /Toy/Head     t = Transpose(w)                  read only by the head
    /Toy/Head     y = MatMul(b, t)
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import hcc.ir as ir
from hcc.passes import run
from hcc.passes.pieces import boundaries, combine_models, pieces_of
from hcc.pieces import read_manifest, write_pieces
from hcc.validate import run_pieces, session


def _tag(node: onnx.NodeProto, tag: str, module: str) -> onnx.NodeProto:
    for key, value in (("hcc.tag", tag), ("hcc.module", module)):
        entry = node.metadata_props.add()
        entry.key, entry.value = key, value
    return node


def toy() -> ir.Model:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    then_branch = helper.make_graph(
        [helper.make_node("Identity", ["g"], ["then_out"])],
        "then",
        [],
        [helper.make_tensor_value_info("then_out", TensorProto.FLOAT, None)],
    )
    else_branch = helper.make_graph(
        [helper.make_node("Neg", ["g"], ["else_out"])],
        "else",
        [],
        [helper.make_tensor_value_info("else_out", TensorProto.FLOAT, None)],
    )
    nodes = [
        _tag(helper.make_node("Shape", ["x"], ["s"], name="shape"), "/Toy", ""),
        _tag(helper.make_node("Relu", ["x"], ["h"], name="relu"), "/Toy/Block.0", "blocks.0"),
        _tag(helper.make_node("Add", ["h", "c"], ["a"], name="add"), "/Toy/Block.0", "blocks.0"),
        _tag(helper.make_node("Neg", ["a"], ["g"], name="glue"), "/Toy", ""),
        _tag(
            helper.make_node(
                "If", ["flag"], ["i"], name="if", then_branch=then_branch, else_branch=else_branch
            ),
            "/Toy/Block.1",
            "blocks.1",
        ),
        helper.make_node("Neg", ["i"], ["n"], name="untagged"),
        _tag(
            helper.make_node("Reshape", ["n", "s"], ["b"], name="reshape"),
            "/Toy/Block.1",
            "blocks.1",
        ),
        _tag(helper.make_node("Transpose", ["w"], ["t"], name="transpose"), "/Toy/Head", "head"),
        _tag(helper.make_node("MatMul", ["b", "t"], ["y"], name="matmul"), "/Toy/Head", "head"),
    ]
    rng = np.random.default_rng(0)
    initializers = [
        numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "c"),
        numpy_helper.from_array(np.array(False), "flag"),
        numpy_helper.from_array(rng.standard_normal((3, 4)).astype(np.float32), "w"),
    ]
    graph = helper.make_graph(
        nodes,
        "toy",
        [x],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 4]),
        ],
        initializers,
        value_info=[
            helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", 4])
            for n in ("h", "g", "i", "n", "b")
        ],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)
    onnx.checker.check_model(proto, full_check=True)
    return ir.from_onnx(proto)


def _names(piece) -> list[str]:
    return [n.name for n in piece.nodes]


def test_glue_goes_with_the_layer_before_and_the_head_takes_what_only_it_reads():
    model = run(toy(), "split(by='*/Block.*')")
    first, last = pieces_of(model)
    assert _names(first) == ["shape", "relu", "add", "glue"]
    assert _names(last) == ["if", "untagged", "reshape", "transpose", "matmul"]
    assert (first.joined, last.joined) == (["embeddings"], ["head"])


def test_own_embeddings_and_head_are_pieces_of_their_own():
    model = run(toy(), "split(by='*/Block.*', embeddings=own, head=own)")
    assert [(p.name, _names(p)) for p in pieces_of(model)] == [
        ("embeddings", ["shape"]),
        ("Block.0", ["relu", "add", "glue"]),
        ("Block.1", ["if", "untagged", "reshape"]),
        ("head", ["transpose", "matmul"]),
    ]


def test_a_helper_copied_into_every_reader_is_not_written_where_it_was():
    # (The activation g is not recomputed from x in Block.1, cheap as it is: x is the model's
    # floating-point input, whose data only the first pieces read.)
    model = run(toy(), "split(by='*/Block.*', embeddings=own, head=own),internalize-constants")
    pieces = pieces_of(model)
    edges = boundaries(model, pieces)
    # Block.1 computes the shape itself, from the hidden state it receives (Shape rebased).
    assert [n.name for n in pieces[2].copied] == ["shape"]
    assert [v.name for v in edges[2].inputs] == ["g"]
    assert edges[0].nodes == [] and edges[0].outputs == []


def test_outputs_made_before_the_last_piece_and_subgraph_reads_cross_the_boundary(tmp_path):
    model = run(toy(), "split(by='*/Block.*', embeddings=own, head=own),internalize-constants")
    write_pieces(model, str(tmp_path))
    manifest = read_manifest(str(tmp_path))
    # The empty embeddings piece is not written; numbering follows the written pieces.
    assert [e["file"] for e in manifest["pieces"]] == [
        "00-Block.0.onnx",
        "01-Block.1.onnx",
        "02-head.onnx",
    ]
    assert [v["name"] for v in manifest["pieces"][0]["outputs"]] == ["a", "g"]
    assert [v["name"] for v in manifest["pieces"][1]["inputs"]] == ["g"]  # read inside If
    feeds = {"x": np.arange(12, dtype=np.float32).reshape(3, 4) - 5}
    whole = session(str(tmp_path / "model.onnx"))
    expected = dict(zip(["y", "a"], whole.run(None, feeds)))
    values = run_pieces(str(tmp_path), feeds)
    for name, want in expected.items():
        assert np.array_equal(values[name], want)
    for entry in manifest["pieces"]:
        onnx.checker.check_model(entry["path"], full_check=True)
    combined = combine_models([ir.load(e["path"]) for e in manifest["pieces"]])
    assert len(combined.graph) == len(model.graph)
    assert [v.name for v in combined.graph.outputs] == ["y", "a"]


def test_groups_of_two_make_one_piece():
    model = run(toy(), "split(by='*/Block.*', group=2)")
    (piece,) = pieces_of(model)
    assert piece.name == "Block.0-1" and len(piece.nodes) == 9


def test_a_weight_copy_at_the_top_of_the_graph_does_not_reorder_the_layers():
    """The TorchScript exporter writes an Identity per repeated weight at the very top of the
    graph; one that belongs to layer 1 must not make layer 1 run first, nor a Shape of the
    input that layer 1 sizes something by."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    nodes = [
        _tag(helper.make_node("Identity", ["w"], ["w1"], name="copy"), "/Toy/Block.1", "b.1"),
        _tag(helper.make_node("Shape", ["x"], ["size"], name="size"), "/Toy/Block.1", "b.1"),
        _tag(helper.make_node("Add", ["x", "w"], ["h"], name="add0"), "/Toy/Block.0", "b.0"),
        _tag(helper.make_node("Add", ["h", "w1"], ["z"], name="add1"), "/Toy/Block.1", "b.1"),
        _tag(helper.make_node("Reshape", ["z", "size"], ["y"], name="fit"), "/Toy/Block.1", "b.1"),
    ]
    weight = numpy_helper.from_array(np.ones(4, dtype=np.float32), "w")
    graph = helper.make_graph(nodes, "toy", [x], [y], [weight])
    model = ir.from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]))
    run(model, "split(by='*/Block.*')")
    assert [(p.name, _names(p)) for p in pieces_of(model)] == [
        ("Block.0", ["add0"]),
        ("Block.1", ["copy", "size", "add1", "fit"]),
    ]


def test_a_scope_that_computes_a_weight_runs_where_its_nodes_are():
    """A scope that reads no model input (a weight-norm parametrization computing a conv
    weight) keeps its place in the graph: ranked after the layers, the glue that reads it
    would land in a later piece than the layer that reads the glue."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    nodes = [
        _tag(helper.make_node("Mul", ["v", "g"], ["w"], name="norm"), "/Toy/Weight.0", "p.0"),
        _tag(helper.make_node("Add", ["x", "w"], ["h"], name="glue"), "/Toy", ""),
        _tag(helper.make_node("Relu", ["h"], ["a"], name="relu"), "/Toy/Block.0", "b.0"),
        _tag(helper.make_node("Neg", ["a"], ["y"], name="neg"), "/Toy/Block.1", "b.1"),
    ]
    weights = [numpy_helper.from_array(np.ones(4, dtype=np.float32), n) for n in ("v", "g")]
    graph = helper.make_graph(nodes, "toy", [x], [y], weights)
    model = ir.from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]))
    run(model, "split(by='*.[0-9]*')")
    assert [(p.name, _names(p)) for p in pieces_of(model)] == [
        ("Weight.0", ["norm", "glue"]),
        ("Block.0", ["relu"]),
        ("Block.1", ["neg"]),
    ]


def test_pieces_follow_execution_order_and_a_skipped_block_is_incomplete():
    model = toy()
    # The order of a list does not matter: pieces follow execution order ...
    run(model, "split(scopes=['/Toy/Block.1', '/Toy/Block.0'])")
    assert [p.name for p in pieces_of(model)] == ["Block.0", "Block.1"]
    # ... but a module left out between two chosen ones is an error.
    with pytest.raises(ir.HccError, match="incomplete"):
        run(model, "split(scopes=['/Toy/Block.0', '/Toy/Head'])")


def ids_sized_by_the_mask(view: str) -> ir.Model:
    """CLIP's text tower, in small: the embeddings make a view of the token ids (``view``:
    ``Reshape`` by the mask's shape, or ``Identity``) and embed it; the last layer reads the
    view and a size vector built from the mask's shape."""
    ids = helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "seq"])
    mask = helper.make_tensor_value_info("mask", TensorProto.INT64, ["batch", "seq"])
    outputs = [
        helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq", 4]),
        helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", "seq"]),
    ]
    viewed = ["ids", "s"] if view == "Reshape" else ["ids"]
    nodes = [
        _tag(helper.make_node("Shape", ["mask"], ["s"], name="size"), "/Toy", ""),
        _tag(helper.make_node(view, viewed, ["v"], name="view"), "/Toy", ""),
        _tag(helper.make_node("Gather", ["table", "v"], ["e"], name="embed"), "/Toy", ""),
        _tag(helper.make_node("Concat", ["s", "four"], ["s3"], name="sizes", axis=0), "/Toy", ""),
        _tag(helper.make_node("Relu", ["e"], ["h"], name="relu"), "/Toy/Block.0", "b.0"),
        _tag(helper.make_node("Reshape", ["h", "s3"], ["y"], name="fit"), "/Toy/Block.1", "b.1"),
        _tag(
            helper.make_node("Cast", ["v"], ["z"], name="cast", to=TensorProto.FLOAT),
            "/Toy/Block.1",
            "b.1",
        ),
    ]
    weights = [
        # Too large to copy (over internalize-constants' 16 KiB): the hidden state is an
        # activation on the boundary, as a real embedding table makes it.
        numpy_helper.from_array(np.ones((1100, 4), dtype=np.float32), "table"),
        numpy_helper.from_array(np.array([4], dtype=np.int64), "four"),
    ]
    graph = helper.make_graph(
        nodes,
        "toy",
        [ids, mask],
        outputs,
        weights,
        value_info=[
            helper.make_tensor_value_info("v", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("h", TensorProto.FLOAT, ["batch", "seq", 4]),
        ],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)
    onnx.checker.check_model(proto, full_check=True)
    return ir.from_onnx(proto)


@pytest.mark.parametrize(
    ("view", "copied", "inputs"),
    [
        # Copying the Reshape would read the copied Shape that reads its output: a cycle.
        ("Reshape", ["size", "sizes"], ["v", "h"]),
        # A view that does not depend on the Shape is copied like any cheap helper.
        ("Identity", ["size", "view", "sizes"], ["ids", "h"]),
    ],
)
def test_a_tensor_a_copied_shape_reads_instead_is_copied_only_without_a_cycle(
    view, copied, inputs, tmp_path
):
    """The copied Shape of the mask reads the view of the ids instead (the same shape, on the
    boundary). Copying the view's producer too is right unless that producer depends on the
    Shape (CLIP reshapes the ids by the mask's shape): then the piece would be a cycle."""
    model = run(ids_sized_by_the_mask(view), "split(by='*/Block.*'),internalize-constants")
    last = pieces_of(model)[-1]
    assert [n.name for n in last.copied] == copied
    assert [v.name for v in boundaries(model, pieces_of(model))[-1].inputs] == inputs
    write_pieces(model, str(tmp_path))
    feeds = {
        "ids": np.array([[1, 7, 3], [0, 2, 5]], dtype=np.int64),
        "mask": np.ones((2, 3), dtype=np.int64),
    }
    expected = dict(zip(["y", "z"], session(str(tmp_path / "model.onnx")).run(None, feeds)))
    values = run_pieces(str(tmp_path), feeds)
    for name, want in expected.items():
        assert np.array_equal(values[name], want)
