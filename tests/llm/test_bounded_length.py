"""The recipe tells the exporter that no sequence is longer than ``max_len``. GPT-Neo slices
its causal mask from a buffer of ``max_position_embeddings`` rows: unbounded, the exporter
gives the hidden state the length ``Min(64, seq)``, which is not provably the mask's ``seq``,
so the head sized its output by the mask and could not run on the hidden state alone."""

from __future__ import annotations

import json
import os

import pytest

from hcc.frontend import sources
from hcc.llm.recipe import LLMError, LLMOptions, build_pieces
from hcc.llm.runtime import Runner

from _models import greedy_generate

# One global and one local (window 4) attention layer; a 64-row causal buffer.
GPT_NEO = dict(
    num_layers=2,
    hidden_size=32,
    num_heads=4,
    vocab_size=128,
    max_position_embeddings=64,
    attention_types=[[["global", "local"], 1]],
    window_size=4,
)
PROMPT = [5, 17, 42, 7, 99, 3]
NEW_TOKENS = 12


@pytest.fixture(scope="module")
def model():
    return sources.from_config("gpt_neo", GPT_NEO, task="causal-lm", seed=0)


def test_a_causal_mask_sliced_from_a_longer_buffer_leaves_the_head_the_hidden_state(
    model, tmp_path
):
    folder = str(tmp_path)
    build_pieces(model, folder, LLMOptions(max_len=24, head="argmax"))
    manifest = json.load(open(os.path.join(folder, "manifest.json")))
    inputs = [v["name"] for v in manifest["pieces"]["lm_head"]["inputs"]]
    assert inputs == ["hidden_states_2"]
    reference = greedy_generate(model, PROMPT, NEW_TOKENS).tokens
    assert Runner(folder).generate(PROMPT, NEW_TOKENS).tokens == reference


@pytest.mark.slow
def test_a_max_len_beyond_the_buffer_is_refused_with_the_reason(model, tmp_path):
    with pytest.raises(LLMError, match=r"length is Min\(64, seq\), not provably the prompt's seq"):
        build_pieces(model, str(tmp_path), LLMOptions(max_len=100, head="argmax"))
    assert not os.listdir(tmp_path)
