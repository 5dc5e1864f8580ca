"""Real models for tests and benchmarks, built offline from transformers configs.

Building one costs seconds and about a gigabyte of memory, so callers cache the result (see the
session fixtures in the test files). torch and transformers are imported lazily: importing this
module is free. Test files import it as ``_models`` (pytest puts tests/ on the path).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SmallModel:
    """A real architecture at test size: its config overrides and the layers a split cuts at."""

    model_type: str
    overrides: dict[str, Any] = field(default_factory=dict)
    layers: str = ""  # a glob choosing each layer (one piece per layer)

    @property
    def layer_count(self) -> int:
        return self.overrides.get("num_hidden_layers", self.overrides.get("n_layer", 0))


# The small models most tests share, each exported in seconds.
SMALL = {
    # seed 003's BERT: google/bert_uncased_L-2_H-128_A-2's shape
    "bert": SmallModel(
        "bert",
        dict(num_hidden_layers=2, hidden_size=128, num_attention_heads=2, intermediate_size=512),
        "*/BertLayer.*",
    ),
    "gpt2": SmallModel("gpt2", dict(n_layer=4), "*/GPT2Block.*"),
    # GPT-2's depth with narrow layers and a small vocabulary: a fast LM head.
    "gpt2-narrow": SmallModel(
        "gpt2",
        dict(n_layer=4, n_embd=64, n_head=4, vocab_size=1000, n_positions=128),
        "*/GPT2Block.*",
    ),
    # A LLaMA of BERT's size, with grouped-query attention.
    "llama": SmallModel(
        "llama",
        dict(
            num_hidden_layers=2,
            hidden_size=64,
            intermediate_size=128,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=1000,
            max_position_embeddings=128,
        ),
        "*/LlamaDecoderLayer.*",
    ),
}


def small_module(name: str, task: str = "base", *, seed: int = 0, **changes):
    """The torch module of ``SMALL[name]`` with seeded random weights; ``changes`` override
    config entries."""
    from hcc.frontend import sources

    small = SMALL[name]
    return sources.from_config(
        small.model_type, {**small.overrides, **changes}, task=task, seed=seed
    )


def export_module(module, declared=None):
    """``(model, kwargs)``: ``module`` exported by hcc (every node tagged) on its example inputs
    (the defaults, or ``declared``), and those inputs."""
    import hcc
    from hcc.frontend import sources

    kwargs, shapes = sources.example_inputs(module, declared)
    return hcc.export(module, (), kwargs, dynamic_shapes=shapes), kwargs


@dataclass
class Greedy:
    """What transformers' own greedy ``generate`` picks: the tokens after the prompt, and the
    logits of each step (the vocabulary's, for the one batch row)."""

    tokens: list[int]
    logits: list[Any]  # numpy arrays, one per new token


def greedy_generate(module, prompt: list[int], count: int) -> Greedy:
    """``count`` new tokens by ``module.generate`` with its own KV cache, greedily, exactly
    ``count`` (no early end of text): the reference the KV-cache pieces must decode like."""
    import torch

    use_cache = module.config.use_cache
    module.config.use_cache = True
    try:
        with torch.no_grad():
            out = module.generate(
                torch.tensor([prompt]),
                max_new_tokens=count,
                min_new_tokens=count,
                do_sample=False,
                output_logits=True,
                return_dict_in_generate=True,
                pad_token_id=0,
            )
    finally:
        module.config.use_cache = use_cache
    tokens = out.sequences[0, len(prompt) :].tolist()
    return Greedy(tokens, [step[0].numpy() for step in out.logits])


def export_gpt2(tmp_dir, n_layer: int = 12, *, seed: int = 0) -> str:
    """Export a randomly initialised GPT-2 with the dynamo exporter; return the model's path.

    The example input has batch 2 and sequence 16 (batch 1 would be specialised away) and both
    axes are declared dynamic. The exporter writes ``gpt2.onnx`` plus ``gpt2.onnx.data``.
    """
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    os.makedirs(tmp_dir, exist_ok=True)
    path = os.path.join(str(tmp_dir), "gpt2.onnx")
    torch.manual_seed(seed)
    config = GPT2Config(n_layer=n_layer)
    config.use_cache = False
    model = GPT2LMHeadModel(config).eval()
    input_ids = torch.randint(0, config.vocab_size, (2, 16), dtype=torch.int64)
    batch = torch.export.Dim("batch", min=1, max=1024)
    seq = torch.export.Dim("seq", min=1, max=config.n_positions)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (input_ids,),
            path,
            dynamo=True,
            input_names=["input_ids"],
            dynamic_shapes={"input_ids": {0: batch, 1: seq}},
            verbose=False,
        )
    return path


def gpt2_inputs(vocab_size: int = 50257, batch: int = 2, seq: int = 16, seed: int = 1):
    """Deterministic input_ids for running an exported GPT-2 with onnxruntime."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return {"input_ids": rng.integers(0, vocab_size, size=(batch, seq), dtype=np.int64)}
