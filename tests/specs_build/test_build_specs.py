"""Every bundled spec builds offline; builds are deterministic; split pieces chain exactly."""

from __future__ import annotations

import filecmp
import json
import os

import onnx
import pytest

import hcc
from hcc.cli import main

from _models import greedy_generate

SPECS = os.path.join(os.path.dirname(__file__), "..", "..", "specs")


def _build(name: str, out_dir, **defines):
    return hcc.build(
        os.path.join(SPECS, name), {k: str(v) for k, v in defines.items()}, output_dir=str(out_dir)
    )


def _tagged(path: str) -> bool:
    proto = onnx.load(path, load_external_data=False)
    return all("hcc.tag" in {p.key for p in n.metadata_props} for n in proto.graph.node)


@pytest.mark.slow
def test_default_spec_builds_tagged_onnx_twice_byte_identical(tmp_path):
    first = _build("bert-tiny.hx", tmp_path / "a")
    second = _build("bert-tiny.hx", tmp_path / "b")
    names = sorted(os.path.basename(p) for p in first.outputs)
    assert names == sorted(os.path.basename(p) for p in second.outputs)
    model = [p for p in first.outputs if p.endswith(".onnx")][0]
    assert _tagged(model)
    onnx.checker.check_model(model, full_check=True)
    files = sorted(os.listdir(tmp_path / "a"))
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", files, shallow=False)
    assert mismatch == [] and errors == []
    assert first.timings and all(t.seconds >= 0 for t in first.timings)
    assert first.model is not None and len(first.model.graph) > 0


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["gpt2-layers.hx", "llama-layers.hx"])
def test_layer_specs_split_and_chain_to_the_whole_model_exactly(spec, tmp_path):
    result = _build(spec, tmp_path, layers=2)  # two layers make two pieces and a boundary
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert len(manifest["pieces"]) >= 2
    assert [d.max_abs for d in result.deviations] == [0.0] * len(result.deviations)
    for entry in manifest["pieces"]:
        path = str(tmp_path / entry["file"])
        onnx.checker.check_model(path, full_check=True)
        assert _tagged(path)
        assert entry["inputs"] and entry["outputs"] and entry["scopes"]


def test_cli_build_dry_run_lists_outputs_without_writing(tmp_path, capsys):
    code = main(
        ["build", os.path.join(SPECS, "bert-tiny.hx"), "--dry-run", "-o", str(tmp_path / "x")]
    )
    assert code == 0
    assert "would write" in capsys.readouterr().out
    assert not (tmp_path / "x").exists()


def test_cli_check_and_fmt_of_bundled_specs(capsys):
    for name in sorted(os.listdir(SPECS)):
        if name.endswith(".hx"):
            path = os.path.join(SPECS, name)
            assert main(["check", path]) == 0
            assert main(["fmt", "--check", path]) == 0, name


def _spec_module(spec_path: str, defines: dict):
    """The torch module the spec builds from (same source, same seed)."""
    from hcc.frontend.load import load_module
    from hcc.spec.resolve import load_spec

    spec = load_spec(spec_path, {k: str(v) for k, v in defines.items()})
    return load_module(spec.source).module


@pytest.mark.slow
def test_kv_cache_spec_builds_pieces_that_decode_like_transformers(tmp_path):
    from hcc.llm.runtime import Runner

    prompt, count = [3, 1, 4, 1, 5], 8
    result = _build("llama-kv-cache.hx", tmp_path, max_len=16)
    names = sorted(os.path.basename(p) for p in result.outputs)
    assert "manifest.json" in names and "embedding.onnx" in names and "lm_head.onnx" in names
    generation = Runner(str(tmp_path)).generate(prompt, count)
    want = greedy_generate(
        _spec_module(os.path.join(SPECS, "llama-kv-cache.hx"), {"max_len": 16}), prompt, count
    ).tokens
    assert len(want) == count
    assert generation.tokens == want


@pytest.mark.slow
def test_seed001_spec_builds_its_interface_and_decodes_like_transformers(tmp_path):
    from hcc.llm.runtime import Runner

    prompt, count = [3, 1, 4, 1, 5], 20
    _build("llama-seed001.hx", tmp_path, max_len=32)
    manifest = json.load(open(os.path.join(tmp_path, "manifest.json")))
    names = {
        piece: (
            [v["name"] for v in entry["inputs"]],
            [v["name"] for v in entry["outputs"]],
        )
        for piece, entry in manifest["pieces"].items()
    }
    # Seed 001's torch.onnx.export calls name the tensors so (the order may differ).
    seed = {
        "embedding": (["input_ids"], ["input_embed"]),
        "block_1": (
            ["input_states", "position_ids", "attention_mask"],
            ["hidden_states", "past_k", "past_v"],
        ),
        "block_cache_1": (
            ["input_states", "position_ids", "attention_mask", "history_k", "history_v"],
            ["hidden_states", "past_k", "past_v"],
        ),
        "lm_head": (["hidden_states"], ["token"]),
    }
    for piece, (inputs, outputs) in seed.items():
        assert sorted(names[piece][0]) == sorted(inputs), piece
        assert sorted(names[piece][1]) == sorted(outputs), piece
    decode = manifest["pieces"]["block_cache_0"]
    shapes = {v["name"]: v["shape"] for v in decode["inputs"] + decode["outputs"]}
    assert shapes["history_k"] == [1, 32, 2, 16]  # [batch, positions, kv_heads, head_dim]
    assert shapes["attention_mask"] == [1, 1, 1, 33]
    assert shapes["past_k"] == [1, 33, 2, 16]
    want = greedy_generate(
        _spec_module(os.path.join(SPECS, "llama-seed001.hx"), {"max_len": 32}), prompt, count
    ).tokens
    assert len(want) == count
    assert Runner(str(tmp_path)).generate(prompt, count).tokens == want
