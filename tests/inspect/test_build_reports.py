"""Reports chosen in a spec's output section: dag, op-metadata, graphml and the build report."""

from __future__ import annotations

import json

import numpy as np

import hcc
import hcc.ir as ir
from hcc.inspect.dag import dag_data, op_metadata
from hcc.inspect.graphml_import import read_graphml


def _spec(model_path, reports: str, pipeline: str = "remove-dead-code") -> str:
    return (
        f'model mlp from onnx "{model_path}"\n\n'
        f"pipeline {{\n  {pipeline}\n}}\n\n"
        f'output "unused" {{\n  reports = [{reports}]\n}}\n'
    )


def test_json_and_graphml_reports_describe_the_built_model(tiny_mlp, tmp_path):
    out = tmp_path / "out"
    result = hcc.build(_spec(tiny_mlp, "hierarchy, dag, op-metadata, graphml"), output_dir=str(out))
    names = sorted(p.rsplit("/", 1)[-1] for p in result.outputs)
    assert names == [
        "mlp.dag.json",
        "mlp.graphml",
        "mlp.hierarchy.json",
        "mlp.onnx",
        "mlp.onnxdata",
        "mlp.op-metadata.json",
    ]
    built = ir.load(str(out / "mlp.onnx"))
    assert json.loads((out / "mlp.dag.json").read_text()) == dag_data(built)
    assert json.loads((out / "mlp.op-metadata.json").read_text()) == op_metadata(built)
    # The dead Shape node is gone from the built model, so from its GraphML too.
    rebuilt = read_graphml(str(out / "mlp.graphml"))
    assert [n.name for n in rebuilt.graph] == [n.name for n in built.graph]
    assert "/Shape" not in [n.name for n in rebuilt.graph]


def test_dry_run_lists_the_graphml_sidecar_and_report(tiny_mlp, tmp_path):
    out = tmp_path / "out"
    result = hcc.build(_spec(tiny_mlp, "graphml, report"), output_dir=str(out), dry_run=True)
    names = [p.rsplit("/", 1)[-1] for p in result.outputs]
    assert names == ["mlp.onnx", "mlp.graphml", "mlp.onnxdata", "mlp.report.md"]
    assert not out.exists()


def test_build_report_lists_passes_changes_pieces_and_files(tiny_mlp, tmp_path):
    out = tmp_path / "out"
    result = hcc.build(
        _spec(tiny_mlp, "report", 'remove-dead-code\n  split(by = "*/MLPBlock.*")'),
        output_dir=str(out),
    )
    assert result.outputs[-1] == str(out / "mlp.report.md")
    text = (out / "mlp.report.md").read_text()
    assert text.startswith("# Build report: mlp\n")
    rows = [
        line for line in text.splitlines() if line.startswith("| 1 |") or line.startswith("| 2 |")
    ]
    assert "`remove-dead-code`" in rows[0] and "6 → 5" in rows[0] and "-1 Shape" in rows[0]
    assert "`split`" in rows[1] and "5 → 5" in rows[1]
    assert "- tag coverage: 5 of 5 nodes (100.0%)" in text
    pieces = text.split("## Pieces", 1)[1].split("##", 1)[0]
    assert "| 0 | MLPBlock.0 | `00-MLPBlock.0.onnx` |" in pieces
    assert "| 1 | MLPBlock.1 | `01-MLPBlock.1.onnx` |" in pieces
    files = text.split("## Files", 1)[1]
    for name in ("mlp.onnx", "manifest.json", "mlp.report.md"):
        assert f"- `{name}`" in files


def test_build_report_without_passes_says_so(tiny_mlp, tmp_path):
    spec = f'model mlp from onnx "{tiny_mlp}"\n\noutput "x" {{\n  reports = [report]\n}}\n'
    hcc.build(spec, output_dir=str(tmp_path))
    text = (tmp_path / "mlp.report.md").read_text()
    assert "No passes ran (empty pipeline)." in text and "## Pieces" not in text


def test_build_report_shows_validation_deviations(tiny_mlp):
    from hcc.deviation import deviation
    from hcc.inspect.report import build_report
    from hcc.spec.resolve import load_spec_text

    spec = load_spec_text(_spec(tiny_mlp, "report"))
    same = np.ones((2, 4), np.float32)
    text = build_report(spec, ir.load(str(tiny_mlp)), deviations=[deviation("y", same, same)])
    section = text.split("## Validation", 1)[1]
    assert "| `y` | 0 |" in section
    assert "tolerance 0" in section
