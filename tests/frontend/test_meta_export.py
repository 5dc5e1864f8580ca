"""Export from a checkpoint without loading its weights: the graph comes from a meta-device
model, every parameter is read in place from the .safetensors file, and the result computes
exactly what the ordinary export of the same checkpoint computes."""

from __future__ import annotations

import json
import os
import struct

import numpy as np
import pytest

import hcc.ir as ir
from hcc.frontend.meta_export import CHECKPOINT_KEY, export_checkpoint
from hcc.frontend.safetensors_data import checkpoint_tensors, read_header
from hcc.frontend.sources import SourceError

LLAMA = dict(
    num_hidden_layers=2,
    hidden_size=64,
    intermediate_size=128,
    num_attention_heads=4,
    num_key_value_heads=2,
    vocab_size=256,
    max_position_embeddings=64,
)


def write_llama(folder, *, shard_size=None) -> None:
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.LlamaConfig(**LLAMA, use_cache=False)
    model = transformers.LlamaForCausalLM(config)
    with torch.no_grad():
        for parameter in model.parameters():  # distinct norms, so nothing is deduplicated
            parameter.add_(torch.randn_like(parameter) * 0.02)
    options = {"max_shard_size": shard_size} if shard_size else {}
    model.save_pretrained(folder, safe_serialization=True, **options)


@pytest.fixture(scope="module")
def llama_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("llama-ckpt")
    write_llama(folder, shard_size="100KB")
    return str(folder)


def test_header_offsets_point_at_each_tensors_bytes(llama_folder):
    import torch
    from safetensors.torch import load_file

    stored = checkpoint_tensors(llama_folder)
    assert len({s.file for s in stored.values()}) > 1  # sharded: the index is followed
    for name, entry in stored.items():
        expected = load_file(f"{llama_folder}/{entry.file}")[name]
        got = entry.external(llama_folder).numpy()
        assert torch.equal(torch.from_numpy(np.array(got)), expected), name


def _write_raw(path, header: bytes, body: bytes = b"") -> None:
    path.write_bytes(struct.pack("<Q", len(header)) + header + body)


@pytest.mark.parametrize(
    "header, body, message",
    [
        (b"not json", b"", "not JSON"),
        (
            json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode(),
            b"\0" * 8,
            "data offsets",
        ),
        (
            json.dumps({"w": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 0]}}).encode(),
            b"",
            "negative",
        ),
        (
            json.dumps({"w": {"dtype": "Q4", "shape": [4], "data_offsets": [0, 2]}}).encode(),
            b"\0" * 2,
            "ONNX lacks",
        ),
        (json.dumps(["w"]).encode(), b"", "not a JSON object"),
    ],
)
def test_a_damaged_header_is_refused_with_its_file(tmp_path, header, body, message):
    path = tmp_path / "model.safetensors"
    _write_raw(path, header, body)
    with pytest.raises(SourceError, match=message) as info:
        read_header(str(path))
    assert str(path) in str(info.value)


def test_a_header_longer_than_the_file_is_refused(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    with pytest.raises(SourceError, match="not a safetensors file"):
        read_header(str(path))


def test_a_shard_index_may_not_leave_the_folder(tmp_path):
    (tmp_path / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"w": "../elsewhere.safetensors"}})
    )
    with pytest.raises(SourceError, match="outside the folder"):
        checkpoint_tensors(str(tmp_path))


# Tied weights (GPT-2's lm_head), buffers not in the checkpoint (BERT's position ids), and a
# decoder deep enough to be traced with three layers and grown (Qwen2: biased q/k/v).
OTHERS = {
    "qwen2": (
        "causal-lm",
        dict(
            num_hidden_layers=4,
            hidden_size=64,
            intermediate_size=128,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=256,
            max_position_embeddings=64,
        ),
    ),
    "gpt2": ("causal-lm", dict(n_layer=2, n_embd=64, n_head=4, vocab_size=256, n_positions=64)),
    "bert": (
        "masked-lm",
        dict(
            num_hidden_layers=2,
            hidden_size=64,
            num_attention_heads=4,
            intermediate_size=128,
            vocab_size=256,
            max_position_embeddings=64,
        ),
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("model_type", ["llama", *OTHERS])
def test_in_place_export_computes_what_the_ordinary_export_does(model_type, llama_folder, tmp_path):
    task = "causal-lm"
    if model_type != "llama":
        from hcc.frontend.sources import from_config

        task, overrides = OTHERS[model_type]
        llama_folder = str(tmp_path / "ckpt")
        from_config(model_type, overrides, task=task).save_pretrained(
            llama_folder, safe_serialization=True
        )
    _check_same_as_ordinary(llama_folder, task, tmp_path)


def _check_same_as_ordinary(llama_folder, task, tmp_path):
    import onnxruntime as ort

    from hcc.frontend.load import ModelSource, load_model

    in_place = export_checkpoint(llama_folder, task=task)
    ordinary = load_model(ModelSource("directory", llama_folder, task=task))
    # Every node keeps a scope, as in the ordinary export.
    assert all(not node.scope.is_unknown for node in in_place.graph.all_nodes())
    # Every parameter is read from the checkpoint; no initializer holds weight-sized data.
    stored = checkpoint_tensors(llama_folder)
    for value in in_place.graph.initializers.values():
        tensor = value.const_value
        if CHECKPOINT_KEY in tensor.metadata_props:
            assert isinstance(tensor, ir.ExternalTensor)
            assert tensor.offset == stored[tensor.metadata_props[CHECKPOINT_KEY]].offset
        else:
            assert tensor.nbytes < 1024, value.name
    bound = {
        v.const_value.metadata_props.get(CHECKPOINT_KEY)
        for v in in_place.graph.initializers.values()
    }
    assert set(stored) <= bound
    ir.save(in_place, str(tmp_path / "in_place.onnx"))
    ir.save(ordinary, str(tmp_path / "ordinary.onnx"))
    ids = np.random.default_rng(0).integers(0, 256, (3, 11)).astype(np.int64)
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    results = []
    for name in ("in_place", "ordinary"):
        session = ort.InferenceSession(
            str(tmp_path / f"{name}.onnx"), providers=["CPUExecutionProvider"]
        )
        results.append(session.run(None, {i.name: feeds[i.name] for i in session.get_inputs()}))
    for mine, theirs in zip(*results):
        np.testing.assert_array_equal(mine, theirs)


def test_weights_in_place_need_a_checkpoint(tmp_path, capsys):
    from hcc.cli import main

    code = main(["export", "gpt2", "--weights", "link", "-o", str(tmp_path / "m.onnx")])
    assert code == 2
    assert "need a checkpoint" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_cli_export_with_linked_weights_copies_no_weight_bytes(llama_folder, tmp_path):
    import onnxruntime as ort

    from hcc.cli import main

    out = tmp_path / "out" / "m.onnx"
    assert (
        main(
            [
                "export",
                llama_folder,
                "--task",
                "causal-lm",
                "--weights",
                "link",
                "-o",
                str(out),
                "-q",
            ]
        )
        == 0
    )
    shards = sorted(p.name for p in (tmp_path / "out").iterdir() if p.suffix == ".safetensors")
    assert shards == sorted({s.file for s in checkpoint_tensors(llama_folder).values()})
    for shard in shards:
        assert (tmp_path / "out" / shard).samefile(f"{llama_folder}/{shard}")
    assert not (tmp_path / "out" / "m.onnx.data").exists()
    ids = np.random.default_rng(1).integers(0, 256, (2, 5)).astype(np.int64)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    logits = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0]
    assert logits.shape == (2, 5, 256) and np.isfinite(logits).all()


@pytest.mark.slow
def test_a_model_read_in_place_splits_per_layer_and_chains_exactly(llama_folder, tmp_path):
    from hcc.passes import run
    from hcc.pieces import write_pieces
    from hcc.validate import validate_pieces

    model = export_checkpoint(llama_folder, task="causal-lm")
    run(model, "split(by='model.layers.*'),internalize-constants")
    written = write_pieces(model, str(tmp_path))
    manifest = next(p for p in written if p.endswith(".json"))
    deviations = validate_pieces(manifest)
    assert deviations and all(d.ok and d.max_abs == 0.0 for d in deviations), deviations


# Peak RSS of one export in a fresh process: the weights of this checkpoint (~75 MB in
# float32) dominate what the ordinary path adds to the interpreter and torch.
# The peak from /proc (VmHWM): ru_maxrss survives exec, so a child started by a large pytest
# process would report its parent's peak.
_RSS_SCRIPT = """
import sys
from hcc.frontend.load import ExportOptions, ModelSource, load_model
import hcc.ir as ir
weights = None if sys.argv[2] == "eager" else "link"
model = load_model(ModelSource("directory", sys.argv[1], task="causal-lm"),
                   ExportOptions(weights=weights))
ir.save(model, sys.argv[3], weights=weights or "copy")
status = open("/proc/self/status").read()
print(int(status.split("VmHWM:")[1].split()[0]) * 1024)
"""


@pytest.mark.slow
def test_in_place_export_peaks_below_the_ordinary_export(tmp_path):
    import subprocess
    import sys

    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        hidden_size=256,
        intermediate_size=1024,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=32000,
        max_position_embeddings=64,
        use_cache=False,
    )
    folder = tmp_path / "ckpt"
    transformers.LlamaForCausalLM(config).save_pretrained(folder, safe_serialization=True)
    weight_bytes = sum(s.length for s in checkpoint_tensors(str(folder)).values())
    peaks = {}
    for mode in ("eager", "in_place"):
        (tmp_path / mode).mkdir()
        done = subprocess.run(
            [sys.executable, "-c", _RSS_SCRIPT, str(folder), mode, str(tmp_path / mode / "m.onnx")],
            capture_output=True,
            text=True,
            check=True,
        )
        peaks[mode] = int(done.stdout.split()[-1])
    # The ordinary path holds the weights at least once (the module) and copies them.
    assert peaks["in_place"] < peaks["eager"] - weight_bytes, (peaks, weight_bytes)


def test_a_checkpoint_linked_by_an_earlier_export_exports_again(llama_folder, tmp_path):
    # `--weights link` leaves the checkpoint's files with two hard links; reading them again
    # must not trip a hard-link refusal while the graph is optimized.
    shard = next(p for p in os.listdir(llama_folder) if p.endswith(".safetensors"))
    os.link(os.path.join(llama_folder, shard), tmp_path / shard)
    try:
        model = export_checkpoint(llama_folder, task="causal-lm")
    finally:
        os.unlink(tmp_path / shard)
    assert len(model.graph) > 0


@pytest.mark.slow
def test_a_parameter_stored_in_another_float_type_is_cast_in_the_graph(llama_folder, tmp_path):
    # Checkpoints may keep some tensors (norms) in another type than the model computes in;
    # loading casts them, and so does the in-place graph, over the stored bytes.
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "mixed"
    shutil.copytree(llama_folder, folder)
    for shard in folder.glob("*.safetensors"):
        tensors = load_file(str(shard))
        for name in tensors:
            if name.endswith("norm.weight"):
                tensors[name] = tensors[name].to(torch.float16)
        save_file(tensors, str(shard), metadata={"format": "pt"})
    stored = checkpoint_tensors(str(folder))
    half = [n for n, s in stored.items() if s.dtype == ir.DataType.FLOAT16]
    assert half
    model = export_checkpoint(str(folder), task="causal-lm")
    for name in half:
        initializer = model.graph.initializers[name]
        assert initializer.dtype == ir.DataType.FLOAT16
        assert initializer.const_value.offset == stored[name].offset
        [cast] = initializer.consumers()
        assert cast.op_type == "Cast" and not cast.scope.is_unknown
    _check_same_as_ordinary(str(folder), "causal-lm", tmp_path)
