"""The KV-cache recipe with lower precision: dtype and quantized weights, pieces still on one
weights file, greedy decoding against transformers' float32 generate.

Numbers behind the expectations (LLaMA, 2 layers, hidden 64, seed 0, prompt below): the float32
model's top-1 logit leads the second by 0.014-0.15 over the first 8 steps, on logits of
magnitude < 0.8. float16 moves logits by ~6e-4 and int8 weights by ~0.011: all 8 tokens stay.
int4 weights (block 32) move them by ~0.16, more than those leads: decoding follows the
reference for 6 tokens and then takes the second-best token (step 7: 611 for 10).
"""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest

from hcc.llm.recipe import LLMError, LLMOptions, build_pieces
from hcc.llm.runtime import Runner

from _models import greedy_generate, small_module

PROMPT = [5, 17, 42, 7, 99, 3]


def _model():
    return small_module("llama", "causal-lm")


def _build(folder: str, **options):
    return build_pieces(
        _model(), folder, LLMOptions(max_len=32, head="logits", **options), name="llama"
    )


def _weight_files(folder: str) -> set[str]:
    files = set()
    for name in os.listdir(folder):
        if name.endswith(".onnx"):
            proto = onnx.load(os.path.join(folder, name), load_external_data=False)
            files |= {
                e.value
                for t in proto.graph.initializer
                for e in t.external_data
                if e.key == "location"
            }
    return files


def _data_bytes(folder: str) -> int:
    return sum(os.path.getsize(os.path.join(folder, f)) for f in _weight_files(folder))


def test_float16_with_int8_weights_decodes_like_float32(tmp_path):
    reference = greedy_generate(_model(), PROMPT, 8)
    tokens, logits = reference.tokens, reference.logits
    folder = str(tmp_path / "int8")
    _build(folder, dtype="float16", quantize={"bits": 8})
    generation = Runner(folder).generate(PROMPT, 8)
    assert generation.tokens == tokens
    gap = np.abs(generation.logits[0].astype(np.float32) - logits[0]).max()
    assert gap < 0.03
    assert len(_weight_files(folder)) == 1
    for name in os.listdir(folder):
        if name.startswith("block"):
            proto = onnx.load(os.path.join(folder, name), load_external_data=False)
            assert any(n.op_type == "DequantizeLinear" for n in proto.graph.node)


@pytest.mark.slow
def test_float16_with_int4_weights_follows_float32_until_the_leads_are_too_small(tmp_path):
    reference = greedy_generate(_model(), PROMPT, 8)
    tokens, logits = reference.tokens, reference.logits
    folder = str(tmp_path / "int4")
    _build(folder, dtype="float16", quantize={"bits": 4})
    generation = Runner(folder).generate(PROMPT, 8)
    assert generation.tokens[:6] == tokens[:6]
    assert np.abs(generation.logits[0].astype(np.float32) - logits[0]).max() < 0.25
    assert len(_weight_files(folder)) == 1
    float_folder = str(tmp_path / "float16")
    _build(float_folder, dtype="float16")
    assert _data_bytes(folder) < 0.6 * _data_bytes(float_folder)  # embeddings stay float16


def test_quantize_options_are_checked_before_any_export(tmp_path):
    with pytest.raises(LLMError, match="quantize: .*bits"):
        _build(str(tmp_path), quantize={"bits": 3})
    # Blocked int4 DequantizeLinear exists from opset 21; the pieces are written at most at 20.
    with pytest.raises(LLMError, match=r"quantize: .*needs opset 21.*at opset 15"):
        _build(str(tmp_path), quantize={"bits": 4, "target": "onnx"})
    assert not os.listdir(tmp_path)


def test_a_kv_cache_spec_takes_one_quantize_weights_in_its_pipeline():
    from hcc.diagnostics import SpecError
    from hcc.driver import read_spec

    head = (
        'model llama from config "llama" { task = "causal-lm" }\n'
        "export { recipe = kv-cache  dtype = float16 }\n"
    )
    spec = read_spec(head + 'pipeline { quantize-weights(bits = 4, keep = ["*/LlamaMLP"]) }\n')
    assert spec.recipe["quantize"] == {"bits": 4, "keep": ["*/LlamaMLP"]}
    assert spec.recipe["dtype"] == "float16"
    with pytest.raises(SpecError, match="may hold one quantize-weights only"):
        read_spec(head + 'pipeline { quantize-weights  split(by = "*") }\n')
