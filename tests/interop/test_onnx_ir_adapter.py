"""hcc passes inside onnx-ir's pass manager."""

from __future__ import annotations

import numpy as np
import pytest

import hcc.ir as ir
from hcc.interop import as_onnx_ir_pass
from hcc.passes import PipelineError
from hcc.passes.strip_tags import StripTagsPass

# onnx-ir is optional for hcc (only this adapter needs it).
onnx_ir = pytest.importorskip("onnx_ir")
pytest.importorskip("onnx_ir.passes")


@pytest.fixture(scope="module")
def bert(exported):
    return exported("bert")


def _tagged(model) -> int:
    return sum(1 for node in model.graph if "hcc.tag" in node.metadata_props)


def test_simplify_runs_inside_an_onnx_ir_pass_manager(bert, run_ort, tmp_path):
    model = onnx_ir.load(bert.path)  # weights stay external, memory-mapped by onnx-ir
    manager = onnx_ir.passes.PassManager([as_onnx_ir_pass("simplify")])
    result = manager(model)
    assert result.modified
    assert result.model is not model
    assert _tagged(result.model) == len(result.model.graph)
    path = tmp_path / "out.onnx"
    onnx_ir.save(result.model, path, external_data="out.onnx.data")
    for want, got in zip(run_ort(bert.path), run_ort(str(path)), strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_a_pass_that_changes_nothing_reports_no_modification(bert):
    model = onnx_ir.load(bert.path)
    result = as_onnx_ir_pass("topological-sort")(model)
    assert not result.modified
    assert len(result.model.graph) == len(model.graph)


def test_external_weights_stay_readable_in_the_result(bert):
    model = onnx_ir.load(bert.path)
    result = as_onnx_ir_pass("strip-tags")(model)
    assert result.modified and _tagged(result.model) == 0
    weights = [v.const_value for v in result.model.graph.initializers.values()]
    assert any(isinstance(t, onnx_ir.ExternalTensor) for t in weights)
    for before, after in zip(
        model.graph.initializers.values(), result.model.graph.initializers.values(), strict=True
    ):
        np.testing.assert_array_equal(after.const_value.numpy(), before.const_value.numpy())


def test_the_input_model_is_left_alone(bert):
    model = onnx_ir.load(bert.path)
    as_onnx_ir_pass("strip-tags")(model)
    assert _tagged(model) == len(model.graph)


@pytest.mark.parametrize(
    "make",
    [
        lambda: as_onnx_ir_pass("strip-tags", hierarchy=False),
        lambda: as_onnx_ir_pass(StripTagsPass, hierarchy=False),
        lambda: as_onnx_ir_pass(StripTagsPass(hierarchy=False)),
    ],
    ids=["name", "class", "instance"],
)
def test_a_pass_can_be_given_by_name_class_or_instance(bert, make):
    result = make()(onnx_ir.load(bert.path))
    assert _tagged(result.model) == 0
    assert "hcc.hierarchy" in result.model.metadata_props


def test_an_onnx_ir_sequence_mixes_hcc_and_onnx_ir_passes(bert):
    from onnx_ir.passes.common import ClearMetadataAndDocStringPass

    manager = onnx_ir.passes.PassManager(
        [ClearMetadataAndDocStringPass(), as_onnx_ir_pass("strip-tags")]
    )
    result = manager(onnx_ir.load(bert.path))
    assert _tagged(result.model) == 0
    assert ir.from_onnx(onnx_ir.serde.serialize_model(result.model)).graph is not None


def test_bad_pass_arguments_fail_before_any_model_is_seen():
    with pytest.raises(PipelineError, match="no option"):
        as_onnx_ir_pass("simplify", bogus=1)
    with pytest.raises(TypeError, match="pass instance"):
        as_onnx_ir_pass(StripTagsPass(), hierarchy=False)
    with pytest.raises(TypeError, match="hcc pass"):
        as_onnx_ir_pass(42)
