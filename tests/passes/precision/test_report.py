"""What the precision passes report: analyze shows weight bytes and element types per module,
before and after; the build summary counts the Casts and says where they are."""

from __future__ import annotations

import json

import hcc.ir as ir
from hcc.cli import main
from hcc.passes import run
from hcc.passes.precision.summary import summary_lines


def test_analyze_of_two_models_shows_bytes_and_dtypes_per_module(tiny_llama, tmp_path, capsys):
    after = str(tmp_path / "after.onnx")
    ir.save(
        run(tiny_llama.load(), "convert-precision,quantize-weights(only=['*/LlamaMLP'])"), after
    )
    assert main(["analyze", tiny_llama.path, after]) == 0
    text = capsys.readouterr().out
    mlp = next(line for line in text.splitlines() if line.strip().startswith("LlamaMLP"))
    assert mlp.endswith("float -> int8, float16")
    assert main(["analyze", tiny_llama.path, after, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = {row["tag"]: row for row in data["scopes"]}
    norm = next(tag for tag in rows if tag.endswith("LlamaDecoderLayer.0/LlamaRMSNorm"))
    after = rows[norm]["after_dtypes"]
    assert (
        max(after, key=after.get) == "float16" and sum(after.values()) == rows[norm]["after_bytes"]
    )
    assert "float16" not in rows[norm]["before_dtypes"]
    assert data["parameter_bytes"][1] < data["parameter_bytes"][0] * 0.6


def test_analyze_of_one_model_lists_the_weight_dtypes(tiny_llama, capsys):
    assert main(["analyze", tiny_llama.path, "--format", "csv"]) == 0
    header, first = capsys.readouterr().out.splitlines()[:2]
    assert header.endswith(",dtypes") and "float:" in first


def test_build_summary_counts_casts_by_scope(tiny_llama):
    model = run(tiny_llama.load(), "convert-precision(keep=['*/LlamaRMSNorm']),quantize-weights")
    lines = summary_lines(model, scopes_shown=2)
    casts = [line for line in lines if line.startswith("convert-precision inserted")]
    assert casts and casts[0].startswith("convert-precision inserted 15 Casts: 3 in /LlamaFor")
    assert casts[0].endswith("more scopes")
    assert lines[-1] == "quantize-weights quantized 15 weights"
    assert summary_lines(tiny_llama.load()) == []


def test_the_spec_of_docs_precision_md_resolves():
    import re
    from pathlib import Path

    from hcc.driver import build

    page = Path(__file__).resolve().parents[3] / "docs" / "precision.md"
    spec = re.search(r"```\n(# specs/llama-fp16-int4.hx.*?)```", page.read_text(), re.S).group(1)
    result = build(spec, dry_run=True)
    assert [p.name for p in result.spec.pipeline] == [
        "convert-precision",
        "quantize-weights",
        "split",
        "internalize-constants",
    ]
