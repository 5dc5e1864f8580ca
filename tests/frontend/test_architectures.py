"""Architectures that no code in hcc names: encoders, decoders, an encoder-decoder and a vision
model, all built from their configs at toy sizes, must come out fully tagged, consistent with
``named_modules()``, valid, and numerically exact. Nothing here is special-cased in hcc."""

from __future__ import annotations

import onnx
import pytest

import hcc
import hcc.ir as ir
from hcc.frontend import sources

SMALL = dict(
    num_hidden_layers=2,
    hidden_size=64,
    num_attention_heads=4,
    intermediate_size=128,
    vocab_size=1000,
)
ARCHITECTURES = {
    "roberta": SMALL,
    "vit": dict(
        num_hidden_layers=2,
        hidden_size=64,
        num_attention_heads=2,
        intermediate_size=128,
        image_size=32,
        patch_size=8,
    ),
    "distilbert": dict(n_layers=2, dim=64, n_heads=2, hidden_dim=128, vocab_size=1000),
    "opt": dict(
        num_hidden_layers=2,
        hidden_size=64,
        num_attention_heads=2,
        ffn_dim=128,
        word_embed_proj_dim=64,
        vocab_size=1000,
    ),
    "gpt_neox": SMALL,
    "qwen2": dict(SMALL, num_key_value_heads=2),
    "mistral": dict(SMALL, num_key_value_heads=2),
    "bart": dict(
        encoder_layers=2,
        decoder_layers=2,
        d_model=64,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        vocab_size=1000,
    ),
}
# The default suite tries one encoder and the vision model; the rest run with -m slow.
FAST = {"roberta", "vit"}
CASES = [
    pytest.param((name, "dynamo"), id=name, marks=() if name in FAST else pytest.mark.slow)
    for name in ARCHITECTURES
] + [
    pytest.param((name, "torchscript"), id=f"{name}-torchscript", marks=pytest.mark.slow)
    for name in ("vit", "qwen2")
]


@pytest.fixture(scope="module", params=CASES)
def exported(request, tmp_path_factory):
    name, exporter = request.param
    module = sources.from_config(name, ARCHITECTURES[name], seed=0)
    kwargs, shapes = sources.example_inputs(module)
    model = hcc.export(module, (), kwargs, dynamic_shapes=shapes, exporter=exporter)
    path = tmp_path_factory.mktemp(f"{name}-{exporter}") / "model.onnx"
    ir.save(model, str(path))
    return module, model, str(path)


def test_every_node_is_tagged_by_the_module_tree(exported, checks):
    module, model, _ = exported
    checks.tags_follow_modules(module, model)


def test_layers_get_their_own_indexed_tags(exported):
    module, model, _ = exported
    lists = [
        path
        for path, m in module.named_modules()
        if type(m).__name__ == "ModuleList" and len(m) > 1
    ]
    assert lists, "every architecture here stacks its layers in a ModuleList"
    tags = {n.scope.tag for n in model.graph}
    assert any(segment.endswith(".1") for tag in tags for segment in tag.split("/"))


@pytest.mark.parametrize("batch,seq", [(1, 8), (2, 16), (3, 33)])
def test_onnxruntime_matches_torch(exported, checks, batch, seq):
    module, _, path = exported
    assert checks.max_diff(module, path, batch, seq, seed=batch + seq) <= 1e-5


def test_checker_accepts_the_file(exported):
    onnx.checker.check_model(exported[2], full_check=True)
