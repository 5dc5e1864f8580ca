"""hcc analyze: every format, the tag filter, and the counts against the model itself."""

from __future__ import annotations

import csv
import io
import json

import pytest

import hcc.ir as ir
from hcc.cli import main
from hcc.inspect.analyze import analyze, render


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_summary_shows_the_module_tree_with_counts(tiny_mlp, capsys):
    code, out, _ = _run(capsys, "analyze", str(tiny_mlp))
    assert code == 0
    assert "6 nodes, 6 tagged (100.0%)" in out
    assert "modules: 3 of 3 hold nodes" in out
    lines = out.splitlines()
    row = next(line for line in lines if line.lstrip().startswith("MLPBlock.0"))
    # Indented under the root, with its module path, 2 nodes, its ops.
    assert row.startswith("  MLPBlock.0 (layers.0)")
    assert "Gemm 1" in row and "Relu 1" in row


def test_detailed_lists_every_op_type_and_weight_bytes_per_scope(tiny_mlp, capsys):
    code, out, _ = _run(capsys, "analyze", str(tiny_mlp), "--format", "detailed")
    assert code == 0
    block = out.split("/TinyMLP/MLPBlock.1 (layers.1)", 1)[1].split("\n\n", 1)[0]
    assert "nodes: 2" in block
    assert "ops: Gemm 1, Relu 1" in block
    # fc of block 1: 16x16 weight + 16 bias, float32.
    assert "in 2 initializers" in block and "1.1 KB" in block


def test_json_holds_per_scope_counts_that_add_up(tiny_mlp, capsys):
    code, out, _ = _run(capsys, "analyze", str(tiny_mlp), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert (data["nodes"], data["tagged"], data["coverage"]) == (6, 6, 1.0)
    scopes = {s["tag"]: s for s in data["scopes"]}
    root = scopes["/TinyMLP"]
    assert root["nodes"] == 6
    assert root["own_nodes"] + sum(s["nodes"] for s in data["scopes"] if s["depth"] == 1) == 6
    assert scopes["/TinyMLP/MLPBlock.0"]["ops"] == {"Gemm": 1, "Relu": 1}
    # The unused initializer is in the model total but in no scope.
    model = ir.load(str(tiny_mlp))
    total = sum(v.const_value.nbytes for v in model.graph.initializers.values())
    assert data["parameter_bytes"] == total
    assert (
        root["parameter_bytes"]
        == total - model.graph.initializers["unused.bias"].const_value.nbytes
    )


def test_csv_has_one_row_per_scope(tiny_mlp, capsys):
    code, out, _ = _run(capsys, "analyze", str(tiny_mlp), "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["tag"] for r in rows] == ["/TinyMLP", "/TinyMLP/MLPBlock.0", "/TinyMLP/MLPBlock.1"]
    assert rows[1]["module"] == "layers.0" and rows[1]["nodes"] == "2"
    assert rows[1]["ops"] == "Gemm:1;Relu:1"


def test_filter_tag_keeps_a_subtree_or_a_glob(tiny_mlp, capsys):
    _, out, _ = _run(
        capsys, "analyze", str(tiny_mlp), "--format", "csv", "--filter-tag", "/TinyMLP/MLPBlock.1"
    )
    assert [r["tag"] for r in csv.DictReader(io.StringIO(out))] == ["/TinyMLP/MLPBlock.1"]
    _, out, _ = _run(
        capsys, "analyze", str(tiny_mlp), "--format", "csv", "--filter-tag", "*/MLPBlock.*"
    )
    assert len(list(csv.DictReader(io.StringIO(out)))) == 2


def test_filter_that_matches_nothing_is_an_error_with_a_suggestion(tiny_mlp, capsys):
    code, _, err = _run(capsys, "analyze", str(tiny_mlp), "--filter-tag", "/TinyMLP/MLPBlok.1")
    assert code == 2
    assert "matches no scope; did you mean '/TinyMLP/MLPBlock.1'?" in err


def test_output_file_receives_the_analysis(tiny_mlp, tmp_path, capsys):
    target = tmp_path / "reports" / "analysis.json"
    code, out, _ = _run(capsys, "analyze", str(tiny_mlp), "--format", "json", "-o", str(target))
    assert code == 0 and out == f"wrote {target}\n"
    assert json.loads(target.read_text())["nodes"] == 6


def test_untagged_nodes_lower_the_coverage(tiny_mlp):
    model = ir.load(str(tiny_mlp))
    model.graph.nodes[0].scope = ir.Scope.unknown()
    analysis = analyze(model)
    assert analysis.tagged == 5 and analysis.untagged == ["/layers.0/fc/Gemm"]
    assert "untagged nodes: /layers.0/fc/Gemm" in render(analysis, "summary")


def test_bert_scopes_cover_every_node_and_follow_execution_order(exported):
    model = ir.load(str(exported("bert")))
    analysis = analyze(model)
    assert analysis.coverage == 1.0
    assert analysis.modules_without_nodes == []
    root = analysis.scopes[0]
    assert root.scope.is_root and root.nodes == len(model.graph)
    # Every node is counted once as "own" somewhere.
    assert sum(s.own_nodes for s in analysis.scopes) == len(model.graph)
    layers = [s.scope.module_path for s in analysis.scopes if s.scope.depth == 2]
    assert layers == sorted(layers)  # encoder.layer.0 before encoder.layer.1


@pytest.mark.parametrize("fmt", ["summary", "detailed", "json", "csv"])
def test_every_format_renders_a_bert_export(exported, fmt):
    text = render(analyze(ir.load(str(exported("bert")))), fmt)
    assert "BertSelfAttention" in text


def test_a_damaged_module_tree_does_not_stop_the_analysis(tiny_mlp, tmp_path, capsys):
    model = ir.load(str(tiny_mlp))
    model.metadata_props["hcc.hierarchy"] = "{not json"
    ir.save(model, str(tmp_path / "m.onnx"))
    code, out, _ = _run(capsys, "analyze", str(tmp_path / "m.onnx"))
    assert code == 0
    assert "no readable hcc.hierarchy; scopes come from the nodes only" in out
    code, out, _ = _run(capsys, "validate", str(tmp_path / "m.onnx"))
    assert code == 1 and "FAIL  hierarchy" in out and "not valid JSON" in out
