"""Validation against PyTorch: the whole model and every piece boundary against the torch
module they were exported from, on the same inputs, through the one deviation helper."""

from __future__ import annotations

import json

import pytest
import torch

import hcc
from hcc.cli import main
from hcc.torch_reference import validate_against_torch

SPLIT_SPEC = """
model llama from pretrained "tiny-org/llama" { task = "causal-lm" }
inputs { input_ids: int64[batch, seq] = [2, 8] }
pipeline { split(by = "*/LlamaDecoderLayer.*")  internalize-constants }
output "%s" { validate = true  reports = [report] }
"""


@pytest.fixture(scope="module")
def split_build(hub_cache, build_from_cache, tmp_path_factory):
    """The tiny LLaMA from the cache, split per layer and validated (one build per module)."""
    out = tmp_path_factory.mktemp("torch-split")
    result = build_from_cache(SPLIT_SPEC % out)
    return out, result, hub_cache[1]["tiny-org/llama"]


def test_build_reports_whole_and_per_piece_deviation_from_torch(split_build):
    _, result, _ = split_build
    torch_check = result.torch
    assert len(torch_check.whole) == 1 and torch_check.whole[0].within(1e-5)
    modules = {c.piece: c.module for c in torch_check.pieces}
    assert modules == {"LlamaDecoderLayer.0": "model.layers.0", "LlamaDecoderLayer.1": ""}
    assert all(c.deviation.within(1e-5) for c in torch_check.pieces)


def test_the_build_report_has_both_validations(split_build):
    out, _, _ = split_build
    text = (out / "llama.report.md").read_text()
    assert "## Validation against torch" in text and "`model.layers.0`" in text
    assert "Pieces chained in onnxruntime against the whole model" in text


def test_a_module_that_differs_from_the_export_is_caught_in_its_piece(split_build):
    out, _, module = split_build
    changed = _copy(module)
    with torch.no_grad():
        changed.model.layers[1].mlp.down_proj.weight.mul_(1.5)
    result = validate_against_torch(changed, str(out / "llama.onnx"), str(out / "manifest.json"))
    by_piece = {c.piece: c.deviation for c in result.pieces}
    assert by_piece["LlamaDecoderLayer.0"].within(1e-5)  # before the change: still equal
    assert not by_piece["LlamaDecoderLayer.1"].within(1e-3)
    assert result.failures(1e-4) and not result.whole[0].within(1e-3)


def test_nan_in_torch_fails_whatever_the_tolerance(split_build):
    out, _, module = split_build
    changed = _copy(module)
    with torch.no_grad():
        changed.lm_head.weight[0, 0] = float("nan")
    result = validate_against_torch(changed, str(out / "llama.onnx"))
    assert "NaN in torch where onnx is finite" in result.whole[0].problem
    assert result.failures(1e9)


def _copy(module):
    import copy

    return copy.deepcopy(module)


def test_validate_without_a_split_compares_the_whole_model_with_torch(tmp_path):
    spec = f"""
    model bert from config "bert" {{
      config {{ num_hidden_layers = 2  hidden_size = 32  num_attention_heads = 2
               intermediate_size = 64  vocab_size = 100 }}
    }}
    output "{tmp_path}" {{ validate = true }}
    """
    result = hcc.build(spec)
    assert [d.name for d in result.torch.whole] and all(d.within(1e-5) for d in result.torch.whole)
    assert result.deviations == [] and result.torch.pieces == []


def test_validate_without_split_or_torch_source_is_refused(tmp_path, split_build):
    out, _, _ = split_build
    spec = 'model m from onnx "{}"\noutput "{}" {{ validate = true }}\n'.format(
        out / "llama.onnx", tmp_path / "again"
    )
    with pytest.raises(hcc.ir.HccError, match="has no split, and an onnx source has no torch"):
        hcc.build(spec)


def test_hcc_build_prints_both_numbers(offline, tmp_path, capsys):
    spec = tmp_path / "s.hx"
    spec.write_text(SPLIT_SPEC % (tmp_path / "out"))
    assert main(["build", "-q", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "max abs deviation of linear" in out  # pieces against the whole model
    assert "max abs deviation from torch of piece LlamaDecoderLayer.0: " in out


def test_hcc_validate_against_a_hub_id(offline, split_build, capsys):
    out, _, _ = split_build
    code = main(
        [
            "validate",
            str(out / "manifest.json"),
            str(out / "llama.onnx"),
            "--against",
            "tiny-org/llama",
            "--task",
            "causal-lm",
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "max abs deviation from torch of piece LlamaDecoderLayer.0: " in text


def test_hcc_validate_against_another_model_fails(offline, split_build, capsys):
    out, _, _ = split_build
    code = main(
        [
            "validate",
            str(out / "llama.onnx"),
            "--against",
            "tiny-org/llama",
            "--task",
            "causal-lm",
            "--json",
        ]
    )
    assert code == 0
    found = json.loads(capsys.readouterr().out)
    assert found["torch"]["whole"][0]["max_abs"] <= 1e-5
    code = main(
        [
            "validate",
            str(out / "llama.onnx"),
            "--against",
            "llama",
            "--task",
            "causal-lm",
            "--set",
            "num_hidden_layers=2",
            "--set",
            "hidden_size=32",
            "--set",
            "intermediate_size=64",
            "--set",
            "num_attention_heads=4",
            "--set",
            "num_key_value_heads=2",
            "--set",
            "vocab_size=100",
        ]
    )
    assert code == 1  # same shapes, other weights: over the tolerance


def test_source_options_without_against_are_refused(split_build, capsys):
    out, _, _ = split_build
    assert main(["validate", str(out / "llama.onnx"), "--set", "a=1"]) == 2
    assert "give --against SOURCE" in capsys.readouterr().err


CHECKPOINT_SPLITS = {
    "tiny-org/gpt2": ("causal-lm", "*/GPT2Block.*", ["transformer.h.0", ""]),
    "tiny-org/bert": ("base", "*/BertLayer.*", ["encoder.layer.0", ""]),
    "tiny-org/llama": ("causal-lm", "*/LlamaDecoderLayer.*", ["model.layers.0", ""]),
}


@pytest.mark.slow
@pytest.mark.parametrize("hub_id", list(CHECKPOINT_SPLITS))
def test_checkpoints_split_per_layer_are_within_1e_5_of_torch(hub_id, offline, tmp_path):
    task, pattern, modules = CHECKPOINT_SPLITS[hub_id]
    spec = f"""
    model m from pretrained "{hub_id}" {{ task = "{task}" }}
    pipeline {{ split(by = "{pattern}")  internalize-constants }}
    output "{tmp_path}" {{ validate = true  torch_tolerance = 1e-5 }}
    """
    result = hcc.build(spec)
    assert result.torch.whole and all(d.within(1e-5) for d in result.torch.whole)
    assert [c.module for c in result.torch.pieces[:1]] == modules[:1]
    assert all(c.deviation is not None and c.deviation.within(1e-5) for c in result.torch.pieces)
    assert all(d.max_abs == 0.0 for d in result.deviations)
