"""Re-attaching scopes, rule by rule, on small hand-built "before" and "after" models."""

from __future__ import annotations

import io

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import hcc.ir as ir
from hcc.interop import ReportUnmatched
from hcc.ir import Scope
from hcc.passes import PassResult
from hcc.passes._reattach import Origins, Reattached, reattach
from hcc.passes.simplify import REPORT_KEY, SimplifyPass

ROOT = Scope.root("Net")
ATTN = ROOT.child("attn", "Attention")
MLP = ROOT.child("mlp", "Mlp")


def node(op, inputs, outputs, name, scope=None, **attrs):
    made = helper.make_node(op, inputs, outputs, name=name, **attrs)
    if scope is not None:
        for key, value in (("hcc.tag", scope.tag), ("hcc.module", scope.module_path)):
            made.metadata_props.add(key=key, value=value)
    return made


def model(nodes, *, outputs=("y",), initializers=()):
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        initializer=[
            numpy_helper.from_array(np.full((2, 2), i + 1.0, np.float32), name)
            for i, name in enumerate(initializers)
        ],
    )
    return helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 18)])


def before():
    """x -> MatMul(w) -> Add(b) in Attention -> Relu in Mlp -> y."""
    return ir.from_onnx(
        model(
            [
                node("MatMul", ["x", "w"], ["mm"], "matmul", ATTN),
                node("Add", ["mm", "b"], ["lin"], "add", ATTN),
                node("Relu", ["lin"], ["y"], "relu", MLP),
            ],
            initializers=("w", "b"),
        )
    )


def after(nodes, **kwargs):
    return ir.from_onnx(model(nodes, **kwargs))


def scopes(result):
    return {n.name: n.scope for n in result.all_nodes()}


def test_a_node_writing_an_old_value_gets_its_producers_scope():
    new = after(
        [
            node("MatMul", ["x", "w"], ["mm"], "renamed_1"),
            node("Add", ["mm", "b"], ["lin"], "renamed_2"),
            node("Relu", ["lin"], ["y"], "renamed_3"),
        ],
        initializers=("w", "b"),
    )
    report = reattach(new, Origins.record(before()))
    assert scopes(new) == {"renamed_1": ATTN, "renamed_2": ATTN, "renamed_3": MLP}
    assert (report.by_output, report.unmatched) == (3, [])


def test_a_node_keeping_its_name_keeps_its_scope_when_outputs_are_renamed():
    new = after(
        [
            node("MatMul", ["x", "w"], ["t0"], "matmul"),
            node("Add", ["t0", "b"], ["t1"], "add"),
            node("Relu", ["t1"], ["y"], "relu"),
        ],
        initializers=("w", "b"),
    )
    report = reattach(new, Origins.record(before()))
    assert scopes(new) == {"matmul": ATTN, "add": ATTN, "relu": MLP}
    assert report.by_name == 2


def test_a_fused_node_takes_the_scope_of_the_nodes_it_replaced():
    new = after(
        [
            node("Gemm", ["x", "w", "b"], ["fused"], "Gemm_0"),
            node("Relu", ["fused"], ["y"], "relu"),
        ],
        initializers=("w", "b"),
    )
    report = reattach(new, Origins.record(before()))
    assert scopes(new)["Gemm_0"] == ATTN
    assert report.by_structure == 1 and report.unmatched == []


def test_a_node_inserted_before_a_fused_node_belongs_with_it():
    new = after(
        [
            node("Identity", ["x"], ["x2"], "Identity_7"),
            node("Gemm", ["x2", "w", "b"], ["lin"], "Gemm_0"),
            node("Relu", ["lin"], ["y"], "relu"),
        ],
        initializers=("w", "b"),
    )
    reattach(new, Origins.record(before()))
    assert scopes(new)["Gemm_0"] == ATTN  # writes "lin": matched by output
    assert scopes(new)["Identity_7"] == ATTN


def test_a_folded_constant_takes_its_consumers_scope():
    old = ir.from_onnx(
        model(
            [
                node("Shape", ["x"], ["s"], "shape", ATTN),
                node("Reshape", ["x", "s"], ["r"], "reshape", ATTN),
                node("Relu", ["r"], ["y"], "relu", MLP),
            ]
        )
    )
    folded = numpy_helper.from_array(np.array([2, 2], np.int64))
    new = after(
        [
            node("Constant", [], ["c0"], "Constant_0", value=folded),
            node("Reshape", ["x", "c0"], ["r"], "reshape"),
            node("Relu", ["r"], ["y"], "relu"),
        ]
    )
    report = reattach(new, Origins.record(old))
    assert scopes(new)["Constant_0"] == ATTN
    assert report.unmatched == []


def test_a_node_without_origin_is_reported_and_still_tagged():
    new = after(
        [
            node("MatMul", ["x", "w"], ["mm"], "matmul"),
            node("Add", ["mm", "b"], ["lin"], "add"),
            node("Relu", ["lin"], ["y"], "relu"),
            # Reads what no old node read, feeds nothing: no evidence of where it came from.
            node("Neg", ["y"], ["extra"], "stranger"),
        ],
        outputs=("y", "extra"),
        initializers=("w", "b"),
    )
    report = reattach(new, Origins.record(before()))
    assert report.unmatched == ["stranger"]
    assert scopes(new)["stranger"] == MLP  # tagged by the fallback rules: its producer's scope


def test_without_fallback_an_unmatched_node_stays_unknown():
    value = numpy_helper.from_array(np.zeros(2, np.float32))
    new = after([node("Constant", [], ["z"], "", value=value)], outputs=("z",))
    report = reattach(new, Origins.record(before()), fallback=False)
    assert report.unmatched == ["Constant#0"]
    assert new.graph.nodes[0].scope.is_unknown


def test_an_untagged_model_gets_no_tags():
    old = ir.from_onnx(model([node("Relu", ["x"], ["y"], "relu")]))
    new = after([node("Relu", ["x"], ["y"], "relu2")])
    reattach(new, Origins.record(old))
    assert new.graph.nodes[0].scope.is_unknown


def test_tags_the_tool_kept_are_left_alone():
    new = after([node("Relu", ["x"], ["y"], "relu", ATTN)])
    report = reattach(new, Origins.record(before()))
    assert new.graph.nodes[0].scope == ATTN
    assert report.kept == 1


def test_the_same_op_gets_its_other_metadata_back_but_a_different_op_does_not():
    old = ir.from_onnx(
        model(
            [
                node("Relu", ["x"], ["h"], "relu", ATTN),
                node("Neg", ["h"], ["y"], "neg", MLP),
            ]
        )
    )
    for n in old.graph:
        n.metadata_props["pkg.torch.onnx.fx_node"] = n.name
    new = after([node("Relu", ["x"], ["h"], "a"), node("Abs", ["h"], ["y"], "b")])
    reattach(new, Origins.record(old))
    relu, abs_ = new.graph.nodes
    assert relu.metadata_props["pkg.torch.onnx.fx_node"] == "relu"
    assert "pkg.torch.onnx.fx_node" not in abs_.metadata_props
    assert abs_.scope == MLP


def test_model_metadata_the_tool_dropped_comes_back():
    old = before()
    old.metadata_props["hcc.hierarchy"] = "{}"
    new = after([node("Relu", ["x"], ["y"], "relu")])
    new.metadata_props["tool.note"] = "kept"
    reattach(new, Origins.record(old))
    assert new.metadata_props == {"tool.note": "kept", "hcc.hierarchy": "{}"}


def test_nodes_inside_subgraphs_are_matched_too():
    def if_model(tagged):
        branch = helper.make_graph(
            [node("Neg", ["x"], ["inner"], "neg", MLP if tagged else None)],
            "then",
            [],
            [helper.make_tensor_value_info("inner", TensorProto.FLOAT, None)],
        )
        nodes = [
            node("ReduceSum", ["x"], ["s"], "sum", ATTN if tagged else None, keepdims=0),
            node("Cast", ["s"], ["cond"], "cast", ATTN if tagged else None, to=TensorProto.BOOL),
            node(
                "If",
                ["cond"],
                ["y"],
                "if",
                ROOT if tagged else None,
                then_branch=branch,
                else_branch=branch,
            ),
        ]
        return ir.from_onnx(model(nodes))

    new = if_model(False)
    report = reattach(new, Origins.record(if_model(True)))
    assert report.unmatched == []
    assert [n.scope for n in new.all_nodes()] == [ATTN, ATTN, ROOT, MLP, MLP]


def test_the_report_instrument_names_unmatched_nodes():
    model_ = before()
    model_.meta[REPORT_KEY] = Reattached(by_output=2, unmatched=["stranger"])
    stream = io.StringIO()
    ReportUnmatched(stream).after_pass(SimplifyPass(), PassResult(model_, True))
    assert stream.getvalue() == (
        "simplify: origin not found for 1 of 3 nodes (tagged by the tagging rules): stranger\n"
    )


def test_the_report_instrument_is_silent_when_every_origin_was_found():
    model_ = before()
    model_.meta[REPORT_KEY] = Reattached(by_output=3)
    stream = io.StringIO()
    ReportUnmatched(stream).after_pass(SimplifyPass(), PassResult(model_, True))
    assert stream.getvalue() == ""


def test_recording_works_on_a_proto_whose_weights_are_not_loaded(tmp_path):
    proto = model([node("MatMul", ["x", "w"], ["y"], "mm", ATTN)], initializers=("w",))
    onnx.save(proto, tmp_path / "m.onnx", save_as_external_data=True, size_threshold=0)
    unloaded = onnx.load(str(tmp_path / "m.onnx"), load_external_data=False)
    origins = Origins.record(ir.from_onnx(unloaded))
    assert origins.has_scopes


def test_a_name_two_old_nodes_share_is_not_evidence():
    old = ir.from_onnx(
        model(
            [
                node("Relu", ["x"], ["a"], "dup", ATTN),
                node("Neg", ["a"], ["y"], "dup", MLP),
            ]
        )
    )
    new = after([node("Relu", ["x"], ["a2"], "dup"), node("Neg", ["a2"], ["y"], "n")])
    reattach(new, Origins.record(old))
    # "dup" is ambiguous; the Relu is placed by structure (it reads what the old Relu read).
    assert new.graph.nodes[0].scope == ATTN
