"""The KV-cache recipe: pieces that decode exactly like transformers, one copy of the weights."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import onnx
import pytest
import torch

import hcc.ir as ir
from hcc.deviation import deviation
from hcc.frontend import sources
from hcc.ir import HccError
from hcc.llm.recipe import LLMError, LLMOptions, build_pieces
from hcc.llm.runtime import Runner

from _models import greedy_generate, small_module

# name -> the shared small model of tests/_models.py
SMALL_MODELS = {"llama": "llama", "gpt2": "gpt2-narrow"}
PROMPT = [5, 17, 42, 7, 99, 3]
NEW_TOKENS = 20


def _model(name: str):
    return small_module(SMALL_MODELS[name], "causal-lm")


CASES = [
    ("llama", False, "logits"),
    ("llama", True, "topk"),
    ("gpt2", False, "logits"),
    pytest.param(("gpt2", True, "argmax"), marks=pytest.mark.slow),
]


@pytest.fixture(
    scope="module",
    params=CASES,
    ids=["llama-dynamic-logits", "llama-static-topk", "gpt2-dynamic-logits", "gpt2-static-argmax"],
)
def built(request, tmp_path_factory):
    name, static, head = request.param
    model = _model(name)
    folder = str(tmp_path_factory.mktemp(f"{name}-{static}-{head}"))
    paths = build_pieces(model, folder, LLMOptions(max_len=32, static=static, head=head), name=name)
    return name, static, head, model, folder, paths


def test_greedy_decoding_matches_transformers_token_for_token(built):
    name, static, head, model, folder, _ = built
    reference = greedy_generate(model, PROMPT, NEW_TOKENS)
    tokens, logits = reference.tokens, reference.logits
    generation = Runner(folder).generate(PROMPT, NEW_TOKENS)
    assert generation.tokens == tokens
    if head == "logits":
        assert len(generation.logits) == len(logits) == NEW_TOKENS
        for step, (ours, reference) in enumerate(zip(generation.logits, logits)):
            # deviation() fails on a NaN, a shape or a dtype that differ, where max() would not.
            gap = deviation(f"logits of step {step}", reference, ours)
            assert gap.within(1e-4), gap.describe()


def test_pieces_are_the_promised_set_at_opset_15_and_pass_the_checker(built):
    name, _, _, model, folder, _ = built
    layers = json.load(open(os.path.join(folder, "manifest.json")))["layers"]
    expected = {
        "embedding",
        "lm_head",
        *(f"block_{i}" for i in range(layers)),
        *(f"block_cache_{i}" for i in range(layers)),
    }
    manifest = json.load(open(os.path.join(folder, "manifest.json")))
    assert set(manifest["pieces"]) == expected
    for entry in manifest["pieces"].values():
        path = os.path.join(folder, entry["file"])
        proto = onnx.load(path, load_external_data=False)
        assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [15]
        onnx.checker.check_model(path, full_check=True)


def test_every_node_of_every_piece_carries_its_scope(built):
    _, _, _, model, folder, _ = built
    modules = dict(model.named_modules())
    for file in os.listdir(folder):
        if file.endswith(".onnx"):
            piece = ir.load(os.path.join(folder, file))
            for node in piece.graph:
                assert not node.scope.is_unknown, (file, node)
                assert node.scope.module_path in modules, (file, node.scope)


def test_prefill_and_decode_share_one_copy_of_the_weights(built):
    _, _, _, model, folder, paths = built
    parameter_bytes = sum(
        p.numel() * p.element_size() for p in {id(p): p for p in model.parameters()}.values()
    )
    data_files = [p for p in paths if p.endswith(".data")]
    assert len(data_files) == 1
    assert os.path.getsize(data_files[0]) <= 1.05 * parameter_bytes


def test_manifest_states_the_cache_interface(built):
    _, static, _, _, folder, _ = built
    manifest = json.load(open(os.path.join(folder, "manifest.json")))
    assert manifest["options"]["static"] is static
    assert {"cache_layout", "prefill", "decode", "head"} <= set(manifest["semantics"])
    cache = manifest["pieces"]["block_cache_0"]
    names = [i["name"] for i in cache["inputs"]]
    assert {"history_k_0", "history_v_0", "hidden_states_0"} <= set(names)
    assert {o["name"] for o in cache["outputs"]} == {"new_k_0", "new_v_0", "hidden_states_1"}


def test_a_prompt_longer_than_max_len_is_refused(built):
    _, _, _, _, folder, _ = built
    runner = Runner(folder)
    with pytest.raises(HccError, match="more than max_len"):
        runner.generate(list(range(40)), 1)
    with pytest.raises(HccError, match="exceed max_len"):
        runner.generate(PROMPT, 30)


def test_a_piece_onnxruntime_cannot_load_is_a_clear_error(built, tmp_path):
    _, _, _, _, folder, _ = built
    copy = tmp_path / "pieces"
    shutil.copytree(folder, copy)
    proto = onnx.load(str(copy / "lm_head.onnx"), load_external_data=False)
    proto.graph.node[-1].op_type = "NoSuchOperator"
    onnx.save(proto, str(copy / "lm_head.onnx"))
    with pytest.raises(HccError, match="onnxruntime cannot load piece 'lm_head': .*NoSuchOperator"):
        Runner(str(copy))


def test_decoding_refuses_a_nan_hidden_state(built, monkeypatch):
    _, _, _, _, folder, _ = built
    runner = Runner(folder)
    real = runner._run

    def broken(piece, values):
        out = real(piece, values)
        return {
            name: np.full_like(v, np.nan) if name.startswith("hidden") else v
            for name, v in out.items()
        }

    monkeypatch.setattr(runner, "_run", broken)
    with pytest.raises(HccError, match="computed NaN in 'hidden_states_"):
        runner.generate(PROMPT, 2)


def test_an_encoder_only_model_is_refused(tmp_path):
    bert = sources.from_config(
        "bert",
        dict(num_hidden_layers=1, hidden_size=32, num_attention_heads=2, intermediate_size=64),
        task="causal-lm",
    )
    with pytest.raises(LLMError, match="not a decoder-only model"):
        build_pieces(bert, str(tmp_path), LLMOptions(max_len=8))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "options,message",
    [
        (dict(max_len=0), "max_len must be positive"),
        (dict(max_len=-3), "max_len must be positive"),
        (dict(head="softmax"), "head must be one of"),
        (dict(dtype="int8"), "dtype must be one of"),
        (dict(opset=12), "opset must be in"),
    ],
)
def test_bad_options_are_named(options, message, tmp_path):
    with pytest.raises(LLMError, match=message):
        build_pieces(torch.nn.Linear(2, 2), str(tmp_path), LLMOptions(**options))
