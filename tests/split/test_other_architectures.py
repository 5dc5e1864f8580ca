"""Nothing in split is written for GPT-2, BERT or LLaMA: other architectures built from their
configs split per layer with one generic pattern (module paths ending in a list index) and
chain to exactly the whole model — an encoder-decoder included, whose encoder output is a model
output made before the last piece."""

from __future__ import annotations

import pytest
import split_support as kit

from hcc.frontend.sources import InputSpec
from hcc.validate import run_pieces

pytestmark = pytest.mark.slow

LAYERS = "*.[0-9]*"  # the outermost modules that are elements of a module list

ARCHITECTURES = {
    "vit": (
        {
            "num_hidden_layers": 2,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        "base",
        None,
        ["ViTLayer.0", "ViTLayer.1"],
    ),
    "qwen2": (
        {
            "num_hidden_layers": 2,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "vocab_size": 1000,
        },
        "causal-lm",
        None,
        ["Qwen2DecoderLayer.0", "Qwen2DecoderLayer.1"],
    ),
    "gpt_neox": (
        {
            "num_hidden_layers": 2,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_attention_heads": 4,
            "vocab_size": 1000,
        },
        "causal-lm",
        None,
        ["GPTNeoXLayer.0", "GPTNeoXLayer.1"],
    ),
    "distilbert": (
        {"n_layers": 2, "dim": 64, "hidden_dim": 128, "n_heads": 2, "vocab_size": 1000},
        "base",
        None,
        ["TransformerBlock.0", "TransformerBlock.1"],
    ),
    "bart": (
        {
            "encoder_layers": 2,
            "decoder_layers": 2,
            "d_model": 64,
            "encoder_ffn_dim": 128,
            "decoder_ffn_dim": 128,
            "encoder_attention_heads": 2,
            "decoder_attention_heads": 2,
            "vocab_size": 1000,
            "max_position_embeddings": 64,
        },
        "seq2seq-lm",
        [
            InputSpec("input_ids", "int64", ["batch", "seq"]),
            InputSpec("decoder_input_ids", "int64", ["batch", "target"], [2, 8]),
        ],
        ["BartEncoderLayer.0", "BartEncoderLayer.1", "BartDecoderLayer.0", "BartDecoderLayer.1"],
    ),
}


@pytest.mark.parametrize("model_type", list(ARCHITECTURES))
def test_generic_per_layer_split_chains_exactly(model_type, tmp_path):
    overrides, task, declared, names = ARCHITECTURES[model_type]
    built = kit.build_from(model_type, overrides, task, LAYERS, declared=declared)
    for variant in ({}, {"embeddings": "own", "head": "own"}):
        folder = tmp_path / ("own" if variant else "first-last")
        manifest = kit.split(built, folder, **variant)
        layers = [e["name"] for e in manifest["pieces"] if e["name"] not in ("embeddings", "head")]
        assert layers == names
        expected = kit.run_whole(folder, built.feeds)
        assert kit.max_deviation(expected, run_pieces(str(folder), built.feeds)) == 0.0
