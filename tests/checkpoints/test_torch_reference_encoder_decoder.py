"""Pieces of an encoder-decoder. Against torch: the first piece also computes the decoder's
embeddings (they depend on no layer), which it hands on. No module of the piece's scopes
returns them; the torch.nn norm inside the decoder that makes them does, and is compared. In
the manifest: a decoder layer's cross-attention input is named as the encoder's output."""

from __future__ import annotations

import os

import pytest
import torch

import hcc
import hcc.ir as ir
from hcc.frontend import sources
from hcc.passes import run
from hcc.pieces import read_manifest, write_pieces
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


@pytest.fixture(scope="module")
def bart_pieces(tmp_path_factory):
    """A tiny BART exported by hcc, split per layer and written: (module, whole, pieces)."""
    folder = tmp_path_factory.mktemp("bart")
    module = sources.from_config("bart", TINY_BART, task="seq2seq-lm", seed=0)
    kwargs, shapes = sources.example_inputs(module)
    whole = str(folder / "model.onnx")
    ir.save(hcc.export(module, (), kwargs, dynamic_shapes=shapes), whole)
    model = run(ir.load(whole), "split(by='*.[0-9]*'),internalize-constants")
    write_pieces(model, str(folder / "pieces"))
    return module, whole, str(folder / "pieces")


def test_a_boundary_tensor_made_by_a_torch_nn_module_is_compared_with_it(bart_pieces):
    module, whole, pieces = bart_pieces
    result = validate_against_torch(module, whole, pieces)
    first = [c for c in result.pieces if c.piece == result.pieces[0].piece]
    assert len(first) == 2  # the encoder layer's output and the decoder's embeddings
    assert {c.module for c in first} == {
        "model.encoder.layers.0",
        "model.decoder.layernorm_embedding",
    }
    assert result.failures(1e-4) == []


def test_the_manifest_names_a_decoder_layers_cross_attention_input(bart_pieces):
    # Each decoder layer reads the encoder's output in its cross-attention; the manifest says
    # so, beside the piece that makes it: the tensor's own name (a norm's) tells nothing.
    _, _, pieces = bart_pieces
    entries = {e["name"]: e for e in read_manifest(pieces)["pieces"]}
    for layer in (0, 1):
        inputs = entries[f"BartDecoderLayer.{layer}"]["inputs"]
        cross = [i for i in inputs if i.get("module") == "model.encoder"]
        assert len(cross) == 1
        assert cross[0]["from"] == "BartEncoderLayer.1"
        assert cross[0]["read_by"] == [f"model.decoder.layers.{layer}.encoder_attn"]
    before = {i["name"]: i for i in entries["BartDecoderLayer.1"]["inputs"]}
    assert [i["module"] for i in before.values() if i["from"] == "BartDecoderLayer.0"] == [
        "model.decoder.layers.0"
    ]
    assert all(i["from"] is None for i in before.values() if i["name"] == "attention_mask")


class _Layer(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(64, 64)

    def forward(self, x):
        return x + torch.tanh(self.proj(x))


class _Stack(torch.nn.Module):
    """Token embeddings, scaled and shifted in the stack's own forward, then two layers."""

    def __init__(self) -> None:
        super().__init__()
        self.embed_tokens = torch.nn.Embedding(64, 64)
        self.layers = torch.nn.ModuleList([_Layer(), _Layer()])

    def forward(self, ids, memory=None):
        x = self.embed_tokens(ids) * 3.0 + 0.5
        if memory is not None:
            x = x + memory
        for layer in self.layers:
            x = layer(x)
        return x


class _Encoder(_Stack):
    pass


class _Decoder(_Stack):
    pass


class _EncoderDecoder(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = _Encoder()
        self.decoder = _Decoder()

    def forward(self, input_ids, decoder_input_ids):
        return self.decoder(decoder_input_ids, self.encoder(input_ids))


def test_a_boundary_tensor_no_module_returns_is_not_compared_with_a_module_of_its_shape(tmp_path):
    # The first piece also computes the decoder's scaled embeddings, which the decoder's first
    # layer reads: a value inside the decoder that no module returns. The embedding table's
    # lookup has its shape and dtype but not its values; comparing the two would report a
    # deviation of a correct piece.
    torch.manual_seed(0)
    module = _EncoderDecoder().eval()
    ids = torch.randint(0, 64, (2, 5))
    shapes = {"input_ids": {0: torch.export.Dim("batch"), 1: torch.export.Dim("seq")}}
    shapes["decoder_input_ids"] = dict(shapes["input_ids"])
    whole = str(tmp_path / "model.onnx")
    kwargs = {"input_ids": ids, "decoder_input_ids": ids.flip(1)}
    ir.save(hcc.export(module, (), kwargs, dynamic_shapes=shapes), whole)
    model = run(ir.load(whole), "split(by='*.[0-9]*'),internalize-constants")
    write_pieces(model, str(tmp_path / "pieces"))
    result = validate_against_torch(module, whole, os.path.join(tmp_path, "pieces"), seq=5)
    first = [c for c in result.pieces if c.piece == result.pieces[0].piece]
    assert [c.module for c in first] == ["encoder.layers.0", None]
    assert result.failures(1e-4) == []
