"""The simplify pass on exported transformers: fully tagged, numerically equal, as small as
onnxsim alone."""

from __future__ import annotations

import numpy as np
import onnx
import onnxsim
import pytest

import hcc.ir as ir
from hcc.passes import PassManager, VerifyEach, build_pipeline
from hcc.passes.simplify import REPORT_KEY, UNMATCHED_KEY, SimplifyPass

MODELS = ["bert", "gpt2", "llama", pytest.param("gpt2-12", marks=pytest.mark.slow)]


@pytest.fixture(scope="module", params=MODELS)
def simplified(request, exported):
    source = exported(request.param)
    model = ir.load(source.path)
    result = PassManager(build_pipeline("simplify"), [VerifyEach()]).run(model)
    return source, model, result


def test_reports_a_change_and_returns_a_new_model(simplified):
    _, model, result = simplified
    assert result.changed
    assert result.model is not model


def test_every_node_is_tagged_afterwards(simplified):
    _, _, result = simplified
    untagged = [n for n in result.model.all_nodes() if n.scope.is_unknown]
    assert untagged == []
    assert all("hcc.tag" in n.metadata_props for n in result.model.all_nodes())


def test_tags_name_real_scopes_of_the_source_model(simplified):
    source, _, result = simplified
    wrong = [
        (n.name, n.scope.tag, n.scope.module_path)
        for n in result.model.all_nodes()
        if not source.is_real_scope(n.scope)
    ]
    assert wrong == []


def test_every_origin_is_found(simplified):
    _, _, result = simplified
    assert result.model.meta[UNMATCHED_KEY] == []
    report = result.model.meta[REPORT_KEY]
    assert report.total == len(list(result.model.all_nodes()))


def test_surviving_nodes_keep_their_exact_scope(simplified):
    _, model, result = simplified
    before = {v.name: n.scope for n in model.all_nodes() for v in n.outputs}
    for node in result.model.all_nodes():
        kept = [before[v.name] for v in node.outputs if v.name in before]
        if len(set(kept)) == 1:
            assert node.scope == kept[0], node


def test_outputs_equal_the_source_in_onnxruntime(simplified, run_ort):
    source, _, result = simplified
    expected = run_ort(source.path)
    actual = run_ort(result.model)
    assert len(actual) == len(expected)
    for want, got in zip(expected, actual, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_node_count_is_not_above_onnxsim_alone(simplified):
    source, _, result = simplified
    alone, ok = onnxsim.simplify(source.path)
    assert ok
    assert len(result.model.graph) <= len(alone.graph.node)


def test_model_metadata_survives(simplified):
    _, model, result = simplified
    assert result.model.metadata_props["hcc.hierarchy"] == model.metadata_props["hcc.hierarchy"]


def test_initializers_list_their_users_scopes_again(simplified):
    _, _, result = simplified
    for value in result.model.graph.initializers.values():
        if value.has_uses():
            assert "hcc.scopes" in value.const_value.metadata_props, value.name


def test_second_run_reports_no_change(simplified):
    _, _, result = simplified
    again = SimplifyPass().run(result.model)
    assert not again.changed
    assert again.model is result.model


def test_result_saves_and_reloads_with_its_tags(simplified, tmp_path, coverage):
    source, _, result = simplified
    if source.name == "gpt2-12":
        pytest.skip("the saving path is the same for every size")
    path = tmp_path / "simplified.onnx"
    ir.save(result.model, path, external_data="simplified.onnx.data")
    proto = onnx.load(str(path), load_external_data=False)
    assert coverage(proto) == 1.0


@pytest.mark.parametrize(
    "options", [dict(tool="onnxslim"), dict(graphsurgeon=True)], ids=["onnxslim", "graphsurgeon"]
)
def test_other_tools_also_keep_every_tag(exported, run_ort, options):
    if options.get("tool") == "onnxslim":
        pytest.importorskip("onnxslim")  # optional: only tool='onnxslim' needs it
    source = exported("bert")
    result = SimplifyPass(**options).run(ir.load(source.path))
    assert result.changed
    assert all(not n.scope.is_unknown for n in result.model.all_nodes())
    assert all(source.is_real_scope(n.scope) for n in result.model.all_nodes())
    for want, got in zip(run_ort(source.path), run_ort(result.model), strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_unknown_tool_is_refused_with_the_choices():
    from hcc.passes import PipelineError

    with pytest.raises(PipelineError, match="onnxsim"):
        build_pipeline("simplify(tool='onnxsimm')")
