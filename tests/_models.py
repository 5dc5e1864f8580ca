"""Real models for tests and benchmarks, built offline from transformers configs.

Building one costs seconds and about a gigabyte of memory, so callers cache the result (see the
session fixtures in the test files). torch and transformers are imported lazily: importing this
module is free.
"""

from __future__ import annotations

import os
import warnings


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
