"""hcc compare: per-scope structure, output deviations, and --bisect on a perturbed layer."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import hcc.ir as ir
import hcc.passes
from hcc.cli import main
from hcc.inspect.bisect import bisect
from hcc.inspect.compare import compare


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _layer_scope(model: ir.Model, k: int) -> ir.Scope:
    """The k-th element of the model's repeated blocks: the shallowest scope tagged ``X.k``."""
    scopes = {level for n in model.graph for level in n.scope.ancestors(include_self=True)}
    return min(
        (s for s in scopes if re.fullmatch(rf".+\.{k}", s.class_name)), key=lambda s: s.depth
    )


def _perturb_layer(source, target, k: int) -> tuple[ir.Scope, str]:
    """Change one element of the largest weight that only layer ``k`` reads; save to target."""
    model = ir.load(str(source))
    layer = _layer_scope(model, k)
    own = [
        v
        for v in model.graph.initializers.values()
        if v.uses and all(user.scope.is_within(layer) for user, _ in v.uses)
    ]
    weight = max(own, key=lambda v: v.const_value.size)
    array = np.array(weight.const_value.numpy())
    array.flat[0] += 0.5
    weight.const_value = ir.ArrayTensor(
        array, name=weight.name, metadata_props=weight.const_value.metadata_props
    )
    ir.save(model, str(target), external_data=f"{target.name}.data")
    return layer, weight.name


@pytest.mark.parametrize("k", [1, 2])
def test_bisect_names_the_perturbed_layer(exported, tmp_path, k):
    source = exported("gpt2")
    layer, weight = _perturb_layer(source, tmp_path / "perturbed.onnx", k)
    result = bisect(str(source), str(tmp_path / "perturbed.onnx"))
    assert result.culprit is not None
    assert result.culprit.is_within(layer), (result.culprit, layer)
    # The walk passes through layer k itself, and the culprit reads the changed weight.
    assert layer in [check.scope for check in result.path]
    model = ir.load(str(source))
    readers = {user.scope for user, _ in model.graph.initializers[weight].uses}
    assert result.culprit in readers
    # Earlier layers agree exactly.
    for check in result.checks:
        if _index(check.scope) is not None and _index(check.scope) < k:
            assert check.max_abs == 0.0


def _index(scope: ir.Scope) -> int | None:
    for level in scope.ancestors(include_self=True):
        match = re.fullmatch(r".+\.(\d+)", level.class_name)
        if match:
            return int(match.group(1))
    return None


def test_compare_command_reports_bisect_and_changed_weight(exported, tmp_path, capsys):
    source = exported("gpt2")
    layer, weight = _perturb_layer(source, tmp_path / "p.onnx", 3)
    code, out, _ = _run(capsys, "compare", source, tmp_path / "p.onnx", "--bisect")
    assert code == 0
    assert "structure: same scopes, op counts and weight names" in out
    assert f"weights with other values: 1\n  {weight} (read by" in out
    line = next(x for x in out.splitlines() if x.startswith("bisect: first diverging module: "))
    assert layer.tag in line
    code, out, _ = _run(
        capsys, "compare", source, tmp_path / "p.onnx", "--bisect", "--format", "json"
    )
    data = json.loads(out)
    assert data["bisect"]["culprit"]["tag"].startswith(layer.tag)
    assert data["bisect"]["culprit"]["module"].startswith(layer.module_path)
    assert data["outputs"][0]["max_abs"] > 0


def test_identical_models_have_no_culprit(exported):
    source = exported("gpt2")
    result = compare(str(source), str(source), bisect=True)
    assert result.same_structure and not result.changed_weights
    assert [d.max_abs for d in result.outputs] == [0.0] * len(result.outputs)
    assert result.bisect.culprit is None
    assert "no module scope's outputs diverge" in result.bisect.format()


def test_structure_differences_are_listed_per_scope(tiny_mlp, tmp_path, capsys):
    cleaned = tmp_path / "clean.onnx"
    ir.save(hcc.passes.run(ir.load(str(tiny_mlp)), "remove-dead-code"), str(cleaned))
    code, out, _ = _run(capsys, "compare", tiny_mlp, cleaned)
    assert code == 0
    assert "structure: 1 scopes differ" in out
    assert "  /TinyMLP: nodes 2->1; Shape 1->0" in out
    assert "initializers only in A: unused.bias" in out
    # Same numbers: the dead node computed nothing anyone read.
    assert out.rstrip().endswith("y  0 / 0 / 0")


def test_changed_weights_are_attributed_to_their_readers(tiny_mlp, tmp_path):
    model = ir.load(str(tiny_mlp))
    value = model.graph.initializers["layers.1.fc.bias"]
    array = np.array(value.const_value.numpy()) + 1
    value.const_value = ir.ArrayTensor(array, name=value.name)
    ir.save(model, str(tmp_path / "b.onnx"))
    result = compare(str(tiny_mlp), str(tmp_path / "b.onnx"))
    assert result.changed_weights == {"layers.1.fc.bias": ["/TinyMLP/MLPBlock.1 (layers.1)"]}
    assert result.outputs[0].max_abs > 0


def test_no_run_compares_structure_only(tiny_mlp, capsys):
    code, out, _ = _run(capsys, "compare", tiny_mlp, tiny_mlp, "--no-run")
    assert code == 0 and "outputs" not in out
    code, _, err = _run(capsys, "compare", tiny_mlp, tiny_mlp, "--no-run", "--bisect")
    assert code == 2 and "cannot be combined" in err


def test_bisect_refuses_models_without_common_scopes(tiny_mlp, tmp_path):
    model = ir.load(str(tiny_mlp))
    for node in model.graph:
        node.scope = ir.Scope.root("Other")
    ir.save(model, str(tmp_path / "other.onnx"))
    with pytest.raises(ir.HccError, match="share no module scope"):
        bisect(str(tiny_mlp), str(tmp_path / "other.onnx"))


def test_compare_with_a_non_onnx_file_is_a_clear_error(tiny_mlp, tmp_path, capsys):
    bogus = tmp_path / "b.onnx"
    bogus.write_text("{}")
    code, _, err = _run(capsys, "compare", tiny_mlp, bogus)
    assert code == 2 and "not a valid ONNX model" in err


def _with_bias(source, target, index: int, value: float) -> None:
    """``source`` with one element of layer 1's bias set to ``value``."""
    model = ir.load(str(source))
    bias = model.graph.initializers["layers.1.fc.bias"]
    array = np.array(bias.const_value.numpy())
    array[index] = value
    bias.const_value = ir.ArrayTensor(array, name=bias.name)
    ir.save(model, str(target))


@pytest.mark.parametrize("value,kind", [(float("nan"), "NaN"), (float("inf"), "inf")])
def test_a_non_finite_output_is_shown_and_fails_compare(tiny_mlp, tmp_path, capsys, value, kind):
    _with_bias(tiny_mlp, tmp_path / "b.onnx", 3, value)
    code, out, err = _run(
        capsys,
        "compare",
        tiny_mlp,
        tmp_path / "b.onnx",
        "--format",
        "json",
        "-o",
        tmp_path / "report.json",
    )
    assert code == 2
    # (an infinite bias reaches the output through the head as +inf or -inf)
    assert re.match(rf"hcc: error: output 'y': -?{kind} in B where A is finite", err)
    assert len(err.splitlines()) == 1
    # The comparison is still written, with the problem in it.
    (output,) = json.loads((tmp_path / "report.json").read_text())["outputs"]
    assert output["max_abs"] == "inf" and f"{kind} in B" in output["problem"]


def test_bisect_finds_the_layer_that_makes_a_nan(tiny_mlp, tmp_path):
    _with_bias(tiny_mlp, tmp_path / "b.onnx", 0, float("nan"))
    result = bisect(str(tiny_mlp), str(tmp_path / "b.onnx"))
    assert result.culprit is not None and result.culprit.module_path == "layers.1"


@pytest.mark.parametrize("flag", ["--atol", "--rtol"])
@pytest.mark.parametrize("value", ["nan", "inf", "-1e-5"])
def test_a_bad_tolerance_of_compare_is_exit_2(tiny_mlp, capsys, flag, value):
    code, out, err = _run(capsys, "compare", tiny_mlp, tiny_mlp, "--bisect", f"{flag}={value}")
    assert (code, out) == (2, "")
    assert err == f"hcc: error: {flag} must be a finite number >= 0, not {float(value)}\n"


def test_a_model_onnxruntime_cannot_load_is_a_clear_error(tiny_mlp, tmp_path, capsys):
    import onnx

    proto = onnx.load(str(tiny_mlp))
    proto.graph.node[0].op_type = "NoSuchOperator"
    onnx.save(proto, str(tmp_path / "b.onnx"))
    code, _, err = _run(capsys, "compare", tiny_mlp, tmp_path / "b.onnx")
    assert code == 2
    assert err.startswith(f"hcc: error: {tmp_path / 'b.onnx'}: onnxruntime cannot load model B: ")
    assert "NoSuchOperator" in err and len(err.splitlines()) == 1
