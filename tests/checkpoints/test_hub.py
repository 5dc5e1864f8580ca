"""Hub ids (``org/name``) are read from the local Hugging Face cache, with the network
unreachable, and the exported model computes what the saved weights compute in torch."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import onnxruntime as ort
import pytest
import torch

import hcc
from hcc.cli import main
from hcc.frontend.hub import snapshot_folder
from hcc.frontend.load import ModelSource, load_module, source_from_path
from hcc.frontend.sources import SourceError

from _models import greedy_generate


def _run(path, feeds):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: feeds[i.name] for i in session.get_inputs()})


def test_export_by_hub_id_equals_torch_on_the_saved_weights(offline, tmp_path, capsys):
    _, modules = offline
    out = tmp_path / "bert.onnx"
    assert (
        main(["export", "tiny-org/bert", "-o", str(out), "--input-text", "the quick brown fox"])
        == 0
    )
    ids = np.array([[2, 5, 6, 7, 3], [2, 9, 10, 11, 3]], dtype=np.int64)
    feeds = {
        "input_ids": ids,
        "attention_mask": np.ones_like(ids),
        "token_type_ids": np.zeros_like(ids),
    }
    got = _run(out, feeds)[0]
    with torch.no_grad():
        want = modules["tiny-org/bert"](**{k: torch.from_numpy(v) for k, v in feeds.items()})
    assert np.max(np.abs(got - want.last_hidden_state.numpy())) <= 1e-5


def test_the_loaded_module_has_the_saved_weights_of_a_decoder(offline):
    _, modules = offline
    loaded = load_module(ModelSource("pretrained", "tiny-org/llama", task="causal-lm"))
    saved = modules["tiny-org/llama"].state_dict()
    for name, tensor in loaded.module.state_dict().items():
        assert torch.equal(tensor, saved[name]), name


def test_a_missing_hub_id_says_where_hcc_looked_and_how_to_put_it_there(offline, tmp_path, capsys):
    assert main(["export", "tiny-org/absent", "-o", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        "hcc: error: model 'tiny-org/absent' is not in the Hugging Face cache"
    )
    assert os.path.join(offline[0], "models--tiny-org--absent") in err
    assert "HF_HUB_CACHE" in err and "hf download tiny-org/absent" in err
    assert not (tmp_path / "x.onnx").exists()


def test_hf_home_is_honoured_when_hf_hub_cache_is_unset(hub_cache, monkeypatch, tmp_path):
    home = tmp_path / "hf-home"
    home.mkdir()
    os.symlink(hub_cache[0], home / "hub")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(home))
    assert snapshot_folder("tiny-org/gpt2").startswith(str(home / "hub"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "elsewhere"))
    with pytest.raises(SourceError, match=r"elsewhere/hub.*\(cache from HF_HOME/hub\)"):
        snapshot_folder("tiny-org/gpt2")


@pytest.fixture
def two_revisions(offline, tmp_path_factory, put_in_cache):
    """A cache where tiny-org/twice has main (seed 1) and v2 (seed 2)."""
    from hcc.frontend import sources

    cache = tmp_path_factory.mktemp("revisions")
    modules = {}
    for revision, seed in (("main", 1), ("v2", 2)):
        module = sources.from_config(
            "gpt2", dict(n_layer=1, n_embd=32, n_head=2, vocab_size=50, n_positions=32), seed=seed
        )
        staging = tmp_path_factory.mktemp("staging")
        module.save_pretrained(str(staging))
        modules[revision] = (module, put_in_cache(cache, "tiny-org/twice", str(staging), revision))
    os.environ["HF_HUB_CACHE"] = str(cache)  # restored by monkeypatch in `offline`
    return modules


def test_a_revision_picks_its_snapshot(two_revisions):
    for revision, (module, snapshot) in two_revisions.items():
        loaded = load_module(ModelSource("pretrained", "tiny-org/twice", revision=revision))
        assert torch.equal(loaded.module.h[0].attn.c_attn.weight, module.h[0].attn.c_attn.weight)
        commit = os.path.basename(snapshot)
        by_commit = load_module(ModelSource("pretrained", "tiny-org/twice", revision=commit))
        assert torch.equal(by_commit.module.wte.weight, module.wte.weight)


def test_an_unknown_revision_lists_the_cached_ones(two_revisions):
    with pytest.raises(SourceError, match=r"no revision 'v3' .*known: .*main, v2"):
        snapshot_folder("tiny-org/twice", "v3")
    with pytest.raises(SourceError, match="not a branch, tag or commit"):
        snapshot_folder("tiny-org/twice", "../../etc")


def test_a_revision_on_a_config_source_is_refused():
    with pytest.raises(SourceError, match="revision names a version of a hub id"):
        load_module(ModelSource("config", "gpt2", revision="main"))


def _copy_snapshot(put_in_cache, hub_id, tmp_path, edit) -> str:
    """A copy of ``hub_id``'s snapshot, changed by ``edit(folder)``, cached as tiny-org/edited."""
    folder = tmp_path / "edited"
    shutil.copytree(snapshot_folder(hub_id), folder)
    edit(folder)
    cache = tmp_path / "cache"
    put_in_cache(cache, "tiny-org/edited", str(folder))
    os.environ["HF_HUB_CACHE"] = str(cache)
    return "tiny-org/edited"


def test_a_checkpoint_that_needs_remote_code_is_refused_and_says_why(
    offline, tmp_path, put_in_cache
):
    def needs_code(folder):
        config = json.loads((folder / "config.json").read_text())
        config["auto_map"] = {"AutoModel": "modeling_custom.CustomModel"}
        (folder / "config.json").write_text(json.dumps(config))

    hub_id = _copy_snapshot(put_in_cache, "tiny-org/gpt2", tmp_path, needs_code)
    with pytest.raises(SourceError, match="needs trust_remote_code .*hcc never runs"):
        load_module(ModelSource("pretrained", hub_id))


def test_pickled_weights_are_refused_for_safetensors_only(offline, tmp_path, put_in_cache):
    def pickled(folder):
        (folder / "model.safetensors").unlink()
        (folder / "pytorch_model.bin").write_bytes(b"not read")

    hub_id = _copy_snapshot(put_in_cache, "tiny-org/gpt2", tmp_path, pickled)
    with pytest.raises(
        SourceError,
        match=r"no \.safetensors weights \(it has pytorch_model"
        r"\.bin\); hcc reads safetensors only",
    ):
        load_module(ModelSource("pretrained", hub_id))


def test_org_name_on_the_command_line_is_a_hub_id(tmp_path):
    assert source_from_path("org/name").kind == "pretrained"
    assert source_from_path("gpt2").kind == "config"
    with pytest.raises(SourceError, match="no such file or folder"):
        source_from_path("a/b/c")


def test_a_spec_reads_a_hub_id_and_splits_it_by_layer(offline, tmp_path):
    spec = """
    model llama from pretrained "tiny-org/llama" { task = "causal-lm" }
    inputs { input_ids: int64[batch, seq] = [2, 8] }
    pipeline { split(by = "*/LlamaDecoderLayer.*") }
    output "%s" { validate = true }
    """ % (tmp_path / "out")
    result = hcc.build(spec)
    with open(tmp_path / "out" / "manifest.json") as f:
        pieces = json.load(f)["pieces"]
    assert len(pieces) == 2  # one per decoder layer
    assert result.deviations and all(d.max_abs == 0.0 for d in result.deviations)


@pytest.mark.parametrize(
    "text, message",
    [
        ('model m from pretrained "not a hub id"', "'not a hub id' is not a hub id"),
        (
            'model m from config "gpt2" { revision = "v2" }',
            "a revision names a version of a hub id",
        ),
    ],
)
def test_spec_mistakes_about_hub_ids_are_located(text, message):
    from hcc.diagnostics import SpecError
    from hcc.spec.resolve import load_spec_text

    with pytest.raises(SpecError, match=message):
        load_spec_text(text + "\n")


@pytest.mark.slow
def test_kv_cache_pieces_from_a_hub_id_decode_like_transformers(offline, tmp_path):
    from hcc.llm.runtime import Runner

    _, modules = offline
    spec = """
    model llama from pretrained "tiny-org/llama" { task = "causal-lm" }
    export { recipe = kv-cache  max_len = 32 }
    output "%s"
    """ % (tmp_path / "kv")
    hcc.build(spec)
    prompt = [5, 17, 42, 7]
    want = greedy_generate(modules["tiny-org/llama"], prompt, 20).tokens
    assert Runner(str(tmp_path / "kv")).generate(prompt, 20).tokens == want


def test_example_text_is_padded_to_the_shape_asked(offline):
    # Seed 002: --input-text "..." --input-shape 1,128 pads the text to 128 tokens, batch 1.
    loaded = load_module(
        ModelSource("pretrained", "tiny-org/bert", input_text="the quick fox", batch=1, seq=12)
    )
    ids = loaded.kwargs["input_ids"]
    assert tuple(ids.shape) == (1, 12) and ids[0, -1].item() == 0  # [PAD] after the text
    assert loaded.kwargs["attention_mask"][0].tolist() == [1] * 5 + [0] * 7
    assert set(loaded.dynamic_shapes["input_ids"]) == {1}  # a batch of 1 is fixed


def test_example_text_with_per_input_shapes_is_refused(offline):
    with pytest.raises(SourceError, match="give their size as batch and sequence length"):
        load_module(
            ModelSource(
                "pretrained",
                "tiny-org/bert",
                input_text="the quick fox",
                shapes={"input_ids": [1, 12]},
            )
        )
