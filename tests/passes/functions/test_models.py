"""outline-functions and inline-functions on GPT-2, BERT and LLaMA built from their configs.

Nothing here names an architecture's modules: the blocks are chosen as "every element of a
ModuleList" (``*/*.[0-9]*``, outermost matches) and attention as any class ending in
``Attention``, so the same lines serve every model.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import hcc.ir as ir
from hcc.ir.verifier import verify
from hcc.passes import run

from _models import SMALL, export_module, small_module

BLOCKS = "outline-functions(by='*/*.[0-9]*')"
NESTED = "outline-functions(by='*/*.[0-9]*|*Attention', nested=true)"
DOMAIN = "hcc.functions"


@pytest.fixture(scope="module", params=["bert", "gpt2", "llama"])
def exported(request, tmp_path_factory) -> tuple[str, Path]:
    """Each model exported once for this module: (name, path of the saved model)."""
    model, _ = export_module(small_module(request.param))
    path = tmp_path_factory.mktemp(request.param) / "model.onnx"
    ir.save(model, str(path))
    return request.param, path


@pytest.fixture(scope="module")
def outlined(exported) -> tuple[ir.Model, Path]:
    """The blocks outlined, written beside the original weights (their file is shared)."""
    _, path = exported
    model = run(ir.load(path), BLOCKS, verify_each=True)
    target = path.with_name("outlined.onnx")
    onnx.save(ir.to_onnx(model), target)
    return model, target


@pytest.fixture(scope="module")
def feeds(exported) -> dict:
    _, path = exported
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    made = {}
    for i in session.get_inputs():
        shape = (2, 16)
        made[i.name] = (
            np.ones(shape, np.int64)
            if "mask" in i.name
            else rng.integers(0, 100, shape).astype(np.int64)
        )
    return made


def _outputs(path: Path, feeds: dict, level) -> list:
    options = ort.SessionOptions()
    options.graph_optimization_level = level
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def graph_size(proto: onnx.ModelProto) -> int:
    """Serialized bytes of the graph and the functions, weights left out."""
    graph = copy.deepcopy(proto.graph)
    for tensor in graph.initializer:
        for field in ("raw_data", "external_data", "float_data", "int64_data", "int32_data"):
            tensor.ClearField(field)
    return graph.ByteSize() + sum(f.ByteSize() for f in proto.functions)


def test_the_repeated_block_has_exactly_one_definition(exported, outlined):
    name, _ = exported
    model, _ = outlined
    assert len(model.functions) == 1
    (function,) = model.functions.values()
    calls = [n for n in model.graph.nodes if n.domain == DOMAIN]
    assert len(calls) == SMALL[name].layer_count
    assert {n.op_type for n in calls} == {function.name}
    verify(model, require_scopes=True)


def test_the_outlined_model_passes_the_full_onnx_checker(outlined):
    _, path = outlined
    onnx.checker.check_model(str(path), full_check=True)


def test_onnxruntime_gives_bit_equal_outputs(exported, outlined, feeds):
    _, original = exported
    _, path = outlined
    level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    expected, actual = _outputs(original, feeds, level), _outputs(path, feeds, level)
    assert [a.tobytes() for a in actual] == [e.tobytes() for e in expected]


def test_onnxruntime_fusions_differ_only_within_rounding(
    exported, outlined, feeds, record_property
):
    # onnxruntime inlines local functions without their value_info, so fusions that need the
    # shapes of values inside a body (SkipLayerNormalization, for one) may not fire: the
    # results then differ in the last bits, never more.
    _, original = exported
    _, path = outlined
    level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    expected, actual = _outputs(original, feeds, level), _outputs(path, feeds, level)
    assert len(actual) == len(expected)
    worst = max(float(np.abs(a - e).max()) for a, e in zip(actual, expected))
    record_property("max_abs_difference_all_optimizations", worst)
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-5)


def test_the_graph_without_weights_shrinks(exported, outlined, record_property, capsys):
    name, original = exported
    model, _ = outlined
    before = graph_size(onnx.load(original, load_external_data=False))
    after = graph_size(ir.to_onnx(model))
    names_only = graph_size(
        ir.to_onnx(run(ir.load(original), BLOCKS.replace(")", ", record='names')")))
    )
    record_property("graph_bytes", {"before": before, "after": after, "names_only": names_only})
    with capsys.disabled():
        print(
            f"\n{name}: graph without weights {before} bytes -> {after} (record=all), "
            f"{names_only} (record=names)"
        )
    assert after < 0.8 * before
    assert names_only < after


@pytest.mark.parametrize("pipeline", [BLOCKS, NESTED])
def test_inline_of_outline_is_the_original_node_for_node(exported, pipeline, same_model):
    _, path = exported
    model = run(ir.load(path), pipeline + ",inline-functions", verify_each=True)
    verify(model, require_scopes=True)
    same_model(ir.load(path), model)


def test_nested_functions_run_the_same(exported, feeds):
    _, path = exported
    model = run(ir.load(path), NESTED, verify_each=True)
    verify(model, require_scopes=True)
    assert len(model.functions) > 1
    target = path.with_name("nested.onnx")
    onnx.save(ir.to_onnx(model), target)
    onnx.checker.check_model(str(target), full_check=True)
    level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    expected, actual = _outputs(path, feeds, level), _outputs(target, feeds, level)
    assert [a.tobytes() for a in actual] == [e.tobytes() for e in expected]
