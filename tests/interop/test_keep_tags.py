"""keep_tags around tools that drop node metadata: every node tagged again, with real scopes."""

from __future__ import annotations

import numpy as np
import onnx
import onnx.version_converter
import onnx_graphsurgeon as gs
import onnxsim
import pytest
from onnx import TensorProto, helper

import hcc.ir as ir
from hcc.interop import keep_tags


def simplify_with_onnxsim(proto):
    return onnxsim.simplify(proto)[0]


def fold_and_clean_with_graphsurgeon(proto):
    graph = gs.import_onnx(proto)
    graph.fold_constants()
    graph.cleanup().toposort()
    return gs.export_onnx(graph)


def convert_to_opset_21(proto):
    # Upward conversion is where onnx's converter works on these exports (see FACTS.md).
    return onnx.version_converter.convert_version(proto, 21)


TOOLS = [simplify_with_onnxsim, fold_and_clean_with_graphsurgeon, convert_to_opset_21]


@pytest.fixture(scope="module", params=["bert", "gpt2", "llama"])
def source(request, exported):
    source = exported(request.param)
    return source, onnx.load(source.path)


@pytest.mark.parametrize("tool", TOOLS, ids=lambda f: f.__name__)
def test_the_tool_alone_drops_the_tags(source, tool, coverage):
    _, proto = source
    assert coverage(proto) == 1.0
    assert coverage(tool(proto)) == 0.0


@pytest.mark.parametrize("tool", TOOLS, ids=lambda f: f.__name__)
def test_wrapped_tool_keeps_every_tag(source, tool, coverage, run_ort):
    src, proto = source
    wrapped = keep_tags(tool)
    result = wrapped(proto)
    assert coverage(result) == 1.0
    assert wrapped.last_report.unmatched == []
    model = ir.from_onnx(result)
    assert all(src.is_real_scope(n.scope) for n in model.all_nodes())
    for want, got in zip(run_ort(src.path), run_ort(result), strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_surviving_nodes_get_exactly_their_old_tag_back(source):
    _, proto = source
    result = keep_tags(convert_to_opset_21)(proto)
    before = {n.name: {p.key: p.value for p in n.metadata_props} for n in proto.graph.node}
    for node in result.graph.node:
        assert {p.key: p.value for p in node.metadata_props} == before[node.name]


def test_extra_arguments_reach_the_wrapped_function(source, coverage):
    _, proto = source
    result = keep_tags(onnx.version_converter.convert_version)(proto, 21)
    assert result.opset_import[0].version == 21
    assert coverage(result) == 1.0


def _tiny(tagged: bool, ir_version: int = 10):
    nodes = [
        helper.make_node("Relu", ["x"], ["h"], name="relu"),
        helper.make_node("Neg", ["h"], ["y"], name="neg"),
    ]
    if tagged:
        for n, tag in zip(nodes, ("/Toy/A", "/Toy/B")):
            n.metadata_props.add(key="hcc.tag", value=tag)
    graph = helper.make_graph(
        nodes,
        "toy",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    return helper.make_model(
        graph, ir_version=ir_version, opset_imports=[helper.make_opsetid("", 18)]
    )


def test_a_hand_built_model_survives_version_conversion_down():
    wrapped = keep_tags(onnx.version_converter.convert_version)
    result = wrapped(_tiny(tagged=True), 15)
    onnx.checker.check_model(result)
    assert result.opset_import[0].version == 15
    tags = [{p.key: p.value for p in n.metadata_props}["hcc.tag"] for n in result.graph.node]
    assert tags == ["/Toy/A", "/Toy/B"]


def test_results_below_ir_10_keep_tags_where_that_version_can():
    def lower_ir(proto):
        copy = onnx.ModelProto()
        copy.CopyFrom(proto)
        copy.ir_version = 8
        for n in copy.graph.node:
            del n.metadata_props[:]
        return copy

    result = keep_tags(lower_ir)(_tiny(tagged=True))
    assert result.ir_version == 8
    assert [ir.from_onnx(result).graph.nodes[i].scope.tag for i in (0, 1)] == ["/Toy/A", "/Toy/B"]


def test_an_untagged_input_gives_an_untagged_result(coverage):
    result = keep_tags(simplify_with_onnxsim)(_tiny(tagged=False))
    assert coverage(result) == 0.0


def test_a_function_that_returns_no_model_is_an_error():
    with pytest.raises(TypeError, match="not an onnx.ModelProto"):
        keep_tags(lambda proto: None)(_tiny(tagged=True))


def test_a_path_instead_of_a_proto_is_an_error():
    with pytest.raises(TypeError, match="ModelProto"):
        keep_tags(onnx.load)("model.onnx")
