"""The KV-cache recipe from a checkpoint's files: the model built on the meta device, every
weight read in place, and pieces that compute what the loaded model's pieces compute."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import hcc
import hcc.ir as ir
from hcc.llm.recipe import LLMOptions, build_pieces
from hcc.llm.runtime import Runner

from _models import greedy_generate

# Four layers: the recipe traces three and grows the fourth from the third (repeat_layers).
LLAMA = dict(
    num_hidden_layers=4,
    hidden_size=64,
    intermediate_size=128,
    num_attention_heads=4,
    num_key_value_heads=2,
    vocab_size=256,
    max_position_embeddings=64,
)
PROMPT = [5, 17, 42, 7, 99, 3]
NEW_TOKENS = 12
MAX_LEN = 32


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    import torch
    import transformers

    folder = tmp_path_factory.mktemp("llama-checkpoint")
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**LLAMA))
    with torch.no_grad():
        for parameter in model.parameters():  # distinct norms, so nothing is deduplicated
            parameter.add_(torch.randn_like(parameter) * 0.02)
    model.save_pretrained(folder, safe_serialization=True, max_shard_size="100KB")
    return str(folder)


@pytest.fixture(scope="module")
def loaded(checkpoint):
    import transformers

    return transformers.AutoModelForCausalLM.from_pretrained(checkpoint).eval()


@pytest.fixture(scope="module")
def built(checkpoint, loaded, tmp_path_factory):
    """The ordinary build of the loaded model, and the spec's build with weights = link."""
    ordinary = str(tmp_path_factory.mktemp("ordinary"))
    build_pieces(loaded, ordinary, LLMOptions(max_len=MAX_LEN, head="logits"))
    in_place = str(tmp_path_factory.mktemp("in-place"))
    result = hcc.build(
        f"""
        model llama from directory "{checkpoint}" {{ task = "causal-lm" }}
        export {{
          recipe = kv-cache
          max_len = {MAX_LEN}
          head = logits
        }}
        output "out" {{ weights = link }}
        """,
        output_dir=in_place,
    )
    return ordinary, in_place, result.outputs


def test_pieces_from_the_checkpoint_decode_bit_for_bit_like_the_loaded_models(built, loaded):
    ordinary, in_place, _ = built
    want = Runner(ordinary).generate(PROMPT, NEW_TOKENS)
    got = Runner(in_place).generate(PROMPT, NEW_TOKENS)
    assert got.tokens == want.tokens == greedy_generate(loaded, PROMPT, NEW_TOKENS).tokens
    assert len(got.logits) == NEW_TOKENS
    for step, (a, b) in enumerate(zip(got.logits, want.logits)):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a, b), f"step {step}: max gap {np.abs(a - b).max()}"


def test_the_checkpoint_is_linked_and_no_weight_byte_copied(built, checkpoint):
    ordinary, in_place, _ = built
    shards = [n for n in os.listdir(checkpoint) if n.endswith(".safetensors")]
    assert len(shards) > 1  # sharded: the index is followed
    files = [os.path.join(in_place, n) for n in os.listdir(in_place)]
    for shard in shards:
        source = os.path.join(checkpoint, shard)
        assert any(os.path.samefile(f, source) for f in files), shard
    new = sum(
        os.path.getsize(f)
        for f in files
        if not any(os.path.samefile(f, os.path.join(checkpoint, s)) for s in shards)
    )
    # Only the graphs and the manifest, as large as the ordinary build's without its weights
    # (a little larger: Linear weights are transposed by a node, not stored transposed).
    graphs = sum(
        os.path.getsize(os.path.join(ordinary, n))
        for n in os.listdir(ordinary)
        if not n.endswith(".data")
    )
    assert not any(f.endswith(".data") for f in files)
    assert new < 1.15 * graphs, (new, graphs)
    for file in files:
        if file.endswith(".onnx"):
            piece = ir.load(file)
            for value in piece.graph.initializers.values():
                tensor = value.const_value
                if isinstance(tensor, ir.ExternalTensor):
                    assert tensor.location.endswith(".safetensors"), (file, value.name)


def test_the_manifest_names_the_files_the_pieces_read(built, checkpoint):
    ordinary, in_place, _ = built
    manifest = json.loads(open(os.path.join(in_place, "manifest.json")).read())
    # Every weight is linked: no shared data file is written, so none is named.
    assert manifest["weights"] is None
    shards = sorted(n for n in os.listdir(checkpoint) if n.endswith(".safetensors"))
    assert manifest["linked_weights"] == shards
    assert all(os.path.isfile(os.path.join(in_place, n)) for n in manifest["linked_weights"])
    copied = json.loads(open(os.path.join(ordinary, "manifest.json")).read())
    assert os.path.isfile(os.path.join(ordinary, copied["weights"]))
    assert copied["linked_weights"] == []


def test_every_piece_node_carries_a_module_scope(built, loaded):
    _, in_place, _ = built
    modules = dict(loaded.named_modules())
    manifest = json.load(open(os.path.join(in_place, "manifest.json")))
    assert manifest["layers"] == LLAMA["num_hidden_layers"]
    # Layer 3 was grown, not traced: its nodes are copies named after their layer.
    for piece in ("block_3", "block_cache_3"):
        nodes = ir.load(os.path.join(in_place, f"{piece}.onnx")).graph
        assert any(node.name.endswith("__3") for node in nodes), piece
    for entry in manifest["pieces"].values():
        piece = ir.load(os.path.join(in_place, entry["file"]))
        for node in piece.graph:
            assert not node.scope.is_unknown, (entry["file"], node)
            assert node.scope.module_path in modules, (entry["file"], node.scope)


@pytest.mark.slow
def test_bfloat16_pieces_from_a_checkpoint_keep_its_weights_in_place(checkpoint, tmp_path):
    """In bfloat16 the buffers the checkpoint lacks (rotary frequencies) are computed and cast
    with the model; the float32 checkpoint's weights are read through Cast nodes."""
    from hcc.llm.recipe import checkpoint_module

    out = str(tmp_path / "bf16")
    options = LLMOptions(max_len=16, dtype="bfloat16")
    build_pieces(checkpoint_module(checkpoint), out, options, checkpoint=checkpoint, weights="link")
    manifest = json.load(open(os.path.join(out, "manifest.json")))
    assert manifest["options"]["dtype"] == "bfloat16"
    block = manifest["pieces"]["block_cache_1"]
    assert {v["dtype"] for v in block["outputs"]} == {"bfloat16"}
    piece = ir.load(os.path.join(out, block["file"]))
    linked = [
        v for v in piece.graph.initializers.values() if isinstance(v.const_value, ir.ExternalTensor)
    ]
    assert linked and all(v.dtype == ir.DataType.FLOAT for v in linked)
    assert not any(n.endswith(".data") for n in os.listdir(out))
