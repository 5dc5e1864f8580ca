"""Options of the KV-cache interface (the runtime's to choose): each combination still decodes
greedily exactly like transformers, on a tiny LLaMA and on a tiny Qwen2 (grouped-query
attention, biased projections; slow)."""

from __future__ import annotations

import json
import os

import pytest

from hcc.frontend import sources
from hcc.llm.recipe import LLMError, LLMOptions, build_pieces
from hcc.llm.runtime import Runner

from _models import greedy_generate

# Both decoders: 2 layers, 4 query heads over 2 KV heads of 8 dimensions.
TINY = dict(
    num_hidden_layers=2,
    hidden_size=32,
    intermediate_size=64,
    num_attention_heads=4,
    num_key_value_heads=2,
    vocab_size=200,
    max_position_embeddings=64,
)
PROMPT = [5, 17, 42, 7, 99, 3]
NEW_TOKENS = 20


@pytest.fixture(scope="module", params=["llama", pytest.param("qwen2", marks=pytest.mark.slow)])
def model(request):
    # Seed 1: with seed 0 the end-of-text token wins a LLaMA step, which generate's
    # min_new_tokens suppresses and a runtime does not; with seed 1 every step's top two logits
    # differ by > 1e-3 (LLaMA) and > 5e-3 (Qwen2).
    return sources.from_config(request.param, TINY, task="causal-lm", seed=1)


@pytest.fixture(scope="module")
def reference(model):
    return greedy_generate(model, PROMPT, NEW_TOKENS).tokens


def _shapes(folder: str, piece: str) -> dict[str, list]:
    """Every input and output of ``piece`` by name, with its shape (from the manifest)."""
    manifest = json.load(open(os.path.join(folder, "manifest.json")))
    entry = manifest["pieces"][piece]
    return {v["name"]: v["shape"] for v in entry["inputs"] + entry["outputs"]}


@pytest.mark.parametrize(
    "static", [True, pytest.param(False, marks=pytest.mark.slow)], ids=["static", "dynamic"]
)
def test_positions_first_cache_layout_decodes_like_transformers(model, reference, static, tmp_path):
    folder = str(tmp_path)
    build_pieces(
        model, folder, LLMOptions(max_len=32, static=static, head="argmax", cache_layout="bshd")
    )
    shapes = _shapes(folder, "block_cache_0")
    if static:
        # [batch, positions, kv_heads, head_dim]; decode still returns the new entry alone.
        assert shapes["history_k_0"] == [1, 32, 2, 8]
        assert shapes["new_v_0"] == [1, 1, 2, 8]
        assert _shapes(folder, "block_0")["present_k_0"] == [1, 32, 2, 8]
    else:
        assert shapes["history_k_0"][2:] == [2, 8]
    assert Runner(folder).generate(PROMPT, NEW_TOKENS).tokens == reference


def test_decode_returning_the_whole_cache_decodes_like_transformers(model, reference, tmp_path):
    folder = str(tmp_path)
    options = LLMOptions(max_len=32, static=True, head="argmax", decode_cache="whole")
    build_pieces(model, folder, options)
    shapes = _shapes(folder, "block_cache_1")
    # The history's 32 slots plus the new entry, in the usual layout.
    assert shapes["present_k_1"] == [1, 2, 33, 8]
    assert "new_k_1" not in shapes
    assert Runner(folder).generate(PROMPT, NEW_TOKENS).tokens == reference


@pytest.mark.parametrize(
    "static", [True, pytest.param(False, marks=pytest.mark.slow)], ids=["static", "dynamic"]
)
def test_an_additive_float_mask_decodes_like_transformers(model, reference, static, tmp_path):
    folder = str(tmp_path)
    build_pieces(
        model,
        folder,
        LLMOptions(max_len=32, static=static, head="argmax", attention_mask="additive"),
    )
    if static:
        assert _shapes(folder, "block_0")["attention_mask"] == [1, 1, 32, 32]
        assert _shapes(folder, "block_cache_0")["attention_mask"] == [1, 1, 1, 33]
    assert Runner(folder).generate(PROMPT, NEW_TOKENS).tokens == reference


SEED001_NAMES = {
    "embedding": (["input_ids"], ["input_embed"]),
    "block_0": (
        ["input_states", "position_ids", "attention_mask"],
        ["hidden_states", "past_k", "past_v"],
    ),
    "block_cache_1": (
        ["input_states", "position_ids", "attention_mask", "history_k", "history_v"],
        ["hidden_states", "past_k", "past_v"],
    ),
    "lm_head": (["hidden_states"], ["token"]),
}


@pytest.mark.parametrize(
    "static", [True, pytest.param(False, marks=pytest.mark.slow)], ids=["static", "dynamic"]
)
def test_seed_001s_interface_with_its_names_decodes_like_transformers(
    model, reference, static, tmp_path
):
    # Every option as seed 001's runtime has it: positions before heads, an additive mask, the
    # whole cache back from decode and seed 001's tensor names.
    folder = str(tmp_path)
    options = LLMOptions(
        max_len=32,
        static=static,
        head="topk",
        cache_layout="bshd",
        attention_mask="additive",
        decode_cache="whole",
        names_preset="seed001",
    )
    build_pieces(model, folder, options)
    manifest = json.load(open(os.path.join(folder, "manifest.json")))
    for piece, (inputs, outputs) in SEED001_NAMES.items():
        entry = manifest["pieces"][piece]
        assert sorted(v["name"] for v in entry["inputs"]) == sorted(inputs), piece
        assert sorted(v["name"] for v in entry["outputs"]) == sorted(outputs), piece
    if static:
        assert _shapes(folder, "block_cache_1")["history_k"] == [1, 32, 2, 8]
        assert _shapes(folder, "block_cache_1")["past_k"] == [1, 33, 2, 8]
        assert _shapes(folder, "block_0")["attention_mask"] == [1, 1, 32, 32]
    assert manifest["pieces"]["block_cache_1"]["names"]["past_k"] == "history_k"
    assert Runner(folder).generate(PROMPT, NEW_TOKENS).tokens == reference


def test_a_head_that_would_need_the_mask_is_refused_not_written(tmp_path):
    # GPT-2 with an additive mask computes part of the mask's use after its last layer.
    gpt2 = sources.from_config(
        "gpt2",
        dict(n_layer=2, n_embd=32, n_head=4, vocab_size=200, n_positions=64),
        task="causal-lm",
        seed=0,
    )
    with pytest.raises(LLMError, match="lm_head of this model also reads attention_mask"):
        build_pieces(gpt2, str(tmp_path), LLMOptions(max_len=16, attention_mask="additive"))
    assert not os.listdir(tmp_path)


def test_an_unknown_cache_layout_is_named(model, tmp_path):
    with pytest.raises(LLMError, match="cache_layout must be one of bhsd, bshd"):
        build_pieces(model, str(tmp_path), LLMOptions(cache_layout="sbhd"))
    assert not os.listdir(tmp_path)
