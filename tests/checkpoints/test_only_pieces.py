"""``split(..., only = [...])``: one piece written without the others, standalone, validated
against the whole model's tensors at its boundary and against the torch module."""

from __future__ import annotations

import json

import numpy as np
import pytest

import hcc
from hcc.ort import Session
from hcc.passes.pieces import SplitError
from hcc.validate import whole_values

SPEC = """
model llama from pretrained "tiny-org/llama" { task = "causal-lm" }
inputs { input_ids: int64[batch, seq] = [2, 8] }
pipeline {
  split(by = "*/LlamaDecoderLayer.*", head = own, only = [%s])
  internalize-constants
}
output "%s" { validate = true }
"""


@pytest.fixture(scope="module")
def layer_1(build_from_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("only-layer-1")
    result = build_from_cache(SPEC % ('"LlamaDecoderLayer.1"', out))
    return out, result


def test_only_the_requested_piece_is_written(layer_1):
    out, _ = layer_1
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["partial"] is True
    assert [p["name"] for p in manifest["pieces"]] == ["LlamaDecoderLayer.1"]
    assert sorted(p.name for p in out.glob("*.onnx")) == [
        "00-LlamaDecoderLayer.1.onnx",
        "llama.onnx",
    ]


def test_the_piece_is_validated_against_the_whole_and_against_torch(layer_1):
    _, result = layer_1
    (whole,) = result.deviations  # the piece's one output against the whole model's tensor
    assert whole.name.startswith("LlamaDecoderLayer.1: ") and whole.max_abs == 0.0
    (check,) = result.torch.pieces
    assert check.module == "model.layers.1" and check.deviation.within(1e-5)


def test_the_piece_runs_alone_on_the_whole_models_boundary_tensor(layer_1):
    out, _ = layer_1
    manifest = json.loads((out / "manifest.json").read_text())
    (entry,) = manifest["pieces"]
    feeds = {"input_ids": np.random.default_rng(3).integers(0, 100, (1, 5)).astype(np.int64)}
    names = [v["name"] for v in entry["inputs"] + entry["outputs"]]
    whole = whole_values(str(out / "llama.onnx"), names, feeds)
    # Both at onnxruntime's basic level, as validation runs them: then they are bit-exact.
    piece = Session(str(out / entry["file"]), optimization="basic")
    got = piece.run({name: whole[name] for name in piece.input_names})
    for output in entry["outputs"]:
        assert np.array_equal(got[output["name"]], whole[output["name"]])


def test_only_with_a_glob_that_selects_nothing_lists_the_pieces(tmp_path, offline):
    with pytest.raises(
        SplitError,
        match=r"only = 'Block.9' selects no piece; pieces: "
        r".*LlamaDecoderLayer.0, LlamaDecoderLayer.1",
    ):
        hcc.build(SPEC % ('"Block.9"', tmp_path))
