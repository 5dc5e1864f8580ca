"""Pieces against torch on an encoder-decoder: the first piece also computes the decoder's
embeddings (they depend on no layer), which it hands on. No module of the piece's scopes
returns them; the torch.nn norm inside the decoder that makes them does, and is compared."""

from __future__ import annotations

import os

import hcc
import hcc.ir as ir
from hcc.frontend import sources
from hcc.passes import run
from hcc.pieces import write_pieces
from hcc.torch_reference import validate_against_torch

TINY_BART = dict(
    encoder_layers=2,
    decoder_layers=2,
    d_model=32,
    encoder_attention_heads=4,
    decoder_attention_heads=4,
    encoder_ffn_dim=64,
    decoder_ffn_dim=64,
    vocab_size=128,
    max_position_embeddings=64,
)


def test_a_boundary_tensor_made_by_a_torch_nn_module_is_compared_with_it(tmp_path):
    module = sources.from_config("bart", TINY_BART, task="seq2seq-lm", seed=0)
    kwargs, shapes = sources.example_inputs(module)
    whole = str(tmp_path / "model.onnx")
    ir.save(hcc.export(module, (), kwargs, dynamic_shapes=shapes), whole)
    model = run(ir.load(whole), "split(by='*.[0-9]*'),internalize-constants")
    write_pieces(model, str(tmp_path / "pieces"))
    result = validate_against_torch(module, whole, os.path.join(tmp_path, "pieces"))
    first = [c for c in result.pieces if c.piece == result.pieces[0].piece]
    assert len(first) == 2  # the encoder layer's output and the decoder's embeddings
    assert {c.module for c in first} == {
        "model.encoder.layers.0",
        "model.decoder.layernorm_embedding",
    }
    assert result.failures(1e-4) == []
