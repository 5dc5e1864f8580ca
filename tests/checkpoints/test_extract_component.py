"""``extract(scopes = [...])``: nested modules of a checkpoint (one attention block, one MLP)
written alone, each holding its module and nothing else, validated against the whole model
and against the torch module (forward hooks on that module)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import hcc.ir as ir
from hcc.ort import Session
from hcc.passes.pieces import SplitError
from hcc.validate import whole_values

SPEC = """
model m from pretrained "%s" %s
inputs { input_ids: int64[batch, seq] = [2, 8] }
pipeline {
  extract(scopes = [%s])
  internalize-constants
}
output "%s" { validate = true }
"""


def _build(build_from_cache, out, hub_id, scopes, body=""):
    return build_from_cache(SPEC % (hub_id, body, scopes, out))


@pytest.fixture(scope="module")
def attention_0(build_from_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("llama-attention-0")
    result = _build(
        build_from_cache,
        out,
        "tiny-org/llama",
        '"*/LlamaDecoderLayer.0/LlamaAttention"',
        '{ task = "causal-lm" }',
    )
    return out, result


def test_only_the_attention_block_is_written(attention_0):
    out, _ = attention_0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["partial"] is True
    assert [p["name"] for p in manifest["pieces"]] == ["model.layers.0.self_attn"]
    assert sorted(p.name for p in out.glob("*.onnx")) == [
        "00-model.layers.0.self_attn.onnx",
        "m.onnx",
    ]


def test_the_piece_holds_the_attention_block_and_nothing_else(attention_0):
    out, _ = attention_0
    piece = ir.load(str(out / "00-model.layers.0.self_attn.onnx"))
    whole = ir.load(str(out / "m.onnx"))
    inside = "model.layers.0.self_attn"
    attention = [n for n in whole.graph if n.scope.module_path.startswith(inside)]
    own = [n for n in piece.graph if n.scope.module_path.startswith(inside)]
    assert len(own) == len(attention)
    # Besides the block, only the helpers internalize-constants copies (the mask made from the
    # integer attention mask, shapes): no embedding, norm, MLP or residual.
    others = {n.scope.module_path for n in piece.graph if n not in own}
    assert not any(
        p.startswith(("model.embed", "model.layers", "model.norm", "lm_head")) for p in others
    )
    # It takes what LlamaAttention.forward takes: the normed hidden state and the RoPE tables.
    floats = [v for v in piece.graph.inputs if v.dtype == ir.DataType.FLOAT]
    assert sorted(v.shape[-1] for v in floats) == [8, 8, 32]


def test_the_piece_is_validated_against_the_whole_and_against_torch(attention_0):
    _, result = attention_0
    assert result.deviations and all(d.max_abs == 0.0 for d in result.deviations)
    compared = [c for c in result.torch.pieces if c.deviation is not None]
    assert [c.module for c in compared] == ["model.layers.0.self_attn"]
    assert compared[0].deviation.within(1e-5), compared[0].deviation.describe()


def test_the_piece_runs_alone_on_the_whole_models_boundary_tensors(attention_0):
    out, _ = attention_0
    manifest = json.loads((out / "manifest.json").read_text())
    (entry,) = manifest["pieces"]
    feeds = {"input_ids": np.random.default_rng(5).integers(0, 100, (1, 6)).astype(np.int64)}
    names = [v["name"] for v in entry["inputs"] + entry["outputs"]]
    whole = whole_values(str(out / "m.onnx"), names, feeds)
    piece = Session(str(out / entry["file"]), optimization="basic")
    got = piece.run({name: whole[name] for name in piece.input_names})
    for output in entry["outputs"]:
        assert np.array_equal(got[output["name"]], whole[output["name"]])


def test_two_components_of_a_bert_checkpoint_each_alone(build_from_cache, tmp_path):
    # Seed 004's component export: an attention block and an intermediate (MLP) of BERT.
    result = _build(
        build_from_cache,
        tmp_path,
        "tiny-org/bert",
        '"encoder.layer.0.attention", "encoder.layer.1.intermediate"',
    )
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [p["name"] for p in manifest["pieces"]] == [
        "encoder.layer.0.attention",
        "encoder.layer.1.intermediate",
    ]
    assert all(d.max_abs == 0.0 for d in result.deviations)
    compared = {c.module: c.deviation for c in result.torch.pieces if c.deviation is not None}
    assert set(compared) == {"encoder.layer.0.attention", "encoder.layer.1.intermediate"}
    assert all(d.within(1e-5) for d in compared.values()), compared


def test_a_glob_that_chooses_no_module_is_named(build_from_cache, tmp_path, offline):
    with pytest.raises(SplitError, match=r"scopes: '\*/LlamaAtention' matches no module"):
        _build(build_from_cache, tmp_path, "tiny-org/llama", '"*/LlamaAtention"')
    assert not list(tmp_path.iterdir())
