"""Models larger than memory: export a checkpoint with its weights read in place, against
torch's own export of the loaded model; time and peak memory.

    python benchmarks/large.py [--shape small|tinyllama|llama-7b] [--repeat N] [--keep DIR]
                               [--steps split,torch,kv] [--kv-dtype bfloat16|float32]

1. A LLaMA-shaped checkpoint is written shard by shard (random bfloat16 weights, one layer's
   tensors in memory at a time, ``model.safetensors.index.json`` as ``save_pretrained`` writes
   it). ``small`` is a few hundred MB, ``tinyllama`` TinyLlama's shape (1.1 B parameters,
   ~2.2 GB), ``llama-7b`` Llama-2-7B's (~13.5 GB: needs that much disk and a long time; never
   run by the tests).
2. hcc, in a child process: ``load_model`` of the folder with ``weights="link"`` (the model
   built on the meta device, every parameter bound to its bytes in the checkpoint), split per
   decoder layer, pieces written (their weights copied from the checkpoint, file to file), and
   the whole model saved with ``weights="link"``. It reports the bytes it added to its folder.
   One middle layer's piece then runs in onnxruntime against the torch layer built alone from
   the checkpoint's tensors (float32 on both sides: onnxruntime's CPU kernels lack bfloat16).
3. torch, in a child process (skipped for ``llama-7b``, which does not fit this machine's
   memory): ``from_pretrained`` then ``torch.onnx.export(dynamo=True)`` and ``save``, as a user
   would script it.
4. hcc's KV-cache build, in a child process: the recipe on the checkpoint's meta-device model
   (prefill and decode traced with three layers, grown to all), every weight linked from the
   checkpoint; it reports the bytes it added. One prefill block piece and one decode block piece
   of a middle layer then run in onnxruntime (upcast to float32) against the torch decoder layer
   built alone from that layer's tensors, in float32 and in bfloat16.
The children run in turn (hcc, torch, kv; repeated), each in its own process reporting its own
wall time and peak RSS (``VmHWM``); ratios are medians of the ratios within each round.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

SHAPES = {
    "small": dict(
        hidden_size=512,
        intermediate_size=1408,
        num_hidden_layers=4,
        num_attention_heads=8,
        num_key_value_heads=4,
        vocab_size=32000,
    ),
    "tinyllama": dict(
        hidden_size=2048,
        intermediate_size=5632,
        num_hidden_layers=22,
        num_attention_heads=32,
        num_key_value_heads=4,
        vocab_size=32000,
    ),
    "llama-7b": dict(
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        vocab_size=32000,
    ),
}

# Each child prints one JSON line last: its own wall time and peak RSS.
# The peak from /proc (VmHWM): ru_maxrss survives exec, so a child would report the peak of the
# benchmark process that wrote the checkpoint, not its own.
_PEAK = r"""
def peak_mb():
    status = open("/proc/self/status").read()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024
"""

# Bytes a child added to its output folder: files that are not hard links to the checkpoint.
_NEW_BYTES = r"""
def new_bytes(folder, src):
    checkpoint = [os.path.join(src, n) for n in os.listdir(src)]
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(folder)
               for f in files
               if not any(os.path.samefile(os.path.join(root, f), p) for p in checkpoint))
"""

_HCC = (
    _PEAK
    + _NEW_BYTES
    + r"""
import json, os, sys, time
src, out = sys.argv[1:3]
start = time.perf_counter()
import hcc.ir as ir
from hcc.frontend.load import ExportOptions, ModelSource, load_model
from hcc.passes import run
from hcc.pieces import write_pieces
model = load_model(ModelSource("directory", src, task="causal-lm"), ExportOptions(weights="link"))
exported = time.perf_counter()
ir.save(model, os.path.join(out, "model.onnx"), weights="link")
run(model, "split(by='model.layers.*'),internalize-constants")
write_pieces(model, os.path.join(out, "pieces"))
end = time.perf_counter()
whole_new = new_bytes(out, src) - new_bytes(os.path.join(out, "pieces"), src)
new = new_bytes(out, src)
print(json.dumps({"seconds": end - start, "export": exported - start,
                  "whole_model_new_bytes": whole_new, "new_bytes": new,
                  "peak_mb": peak_mb()}))
"""
)

# The KV-cache recipe from the checkpoint: prefill and decode traced on the meta device (three
# layers, grown to all), cut into embedding, block_i, block_cache_i and lm_head in bfloat16 as the
# checkpoint stores them, every weight linked from the checkpoint.
_KV = (
    _PEAK
    + _NEW_BYTES
    + r"""
import json, os, sys, time
src, out, dtype = sys.argv[1:4]
start = time.perf_counter()
from hcc.llm.recipe import LLMOptions, build_pieces, checkpoint_module
options = LLMOptions(max_len=128, dtype=dtype)
paths = build_pieces(checkpoint_module(src), out, options, checkpoint=src, weights="link")
end = time.perf_counter()
print(json.dumps({"seconds": end - start, "new_bytes": new_bytes(out, src),
                  "pieces": sum(p.endswith(".onnx") for p in paths), "peak_mb": peak_mb()}))
"""
)

# The same KV-cache build as hcc offered it before reading checkpoints in place: the loaded
# model (from_pretrained in the build's dtype), exported whole in both forms; its weights copied.
_KV_LOADED = (
    _PEAK
    + _NEW_BYTES
    + r"""
import json, os, sys, time
src, out, dtype = sys.argv[1:4]
start = time.perf_counter()
import torch, transformers
from hcc.llm.recipe import LLMOptions, build_pieces
model = transformers.AutoModelForCausalLM.from_pretrained(src, dtype=getattr(torch, dtype))
paths = build_pieces(model.eval(), out, LLMOptions(max_len=128, dtype=dtype))
end = time.perf_counter()
print(json.dumps({"seconds": end - start, "new_bytes": new_bytes(out, src),
                  "pieces": sum(p.endswith(".onnx") for p in paths), "peak_mb": peak_mb()}))
"""
)

_TORCH = (
    _PEAK
    + r"""
import json, os, sys, time
src, out = sys.argv[1:3]
start = time.perf_counter()
import torch, transformers
model = transformers.AutoModelForCausalLM.from_pretrained(src, use_safetensors=True).eval()
model.config.use_cache = False
ids = torch.zeros((2, 16), dtype=torch.int64)
batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq")
program = torch.onnx.export(model, (), kwargs={"input_ids": ids, "attention_mask": ids + 1},
                            dynamo=True, dynamic_shapes={"input_ids": {0: batch, 1: seq},
                                                         "attention_mask": {0: batch, 1: seq}})
program.save(os.path.join(out, "model.onnx"), external_data=True)
end = time.perf_counter()
print(json.dumps({"seconds": end - start, "peak_mb": peak_mb()}))
"""
)


# Every bfloat16 tensor, type and Cast target of a piece as float32: onnxruntime's CPU kernels
# lack bfloat16 for most operators. Shared by the scripts that run pieces against torch layers.
_UPCAST = r"""
BF16, F32 = TensorProto.BFLOAT16, TensorProto.FLOAT

def upcast_tensor(t, folder=None):
    if t.data_location == TensorProto.EXTERNAL:
        # Read here: onnx's loader refuses a file with several hard links (a linked checkpoint).
        info = {e.key: e.value for e in t.external_data}
        raw = np.fromfile(os.path.join(folder, info["location"]), dtype=np.uint8,
                          count=int(info["length"]), offset=int(info.get("offset", 0)))
        t.ClearField("external_data")
        t.data_location = TensorProto.DEFAULT
        t.raw_data = raw.tobytes()
        del raw
    if t.data_type != BF16:
        return t
    return numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float32), t.name)

def upcast(model, folder=None):
    # folder: where the model's external data lies, when it was loaded without it.
    g = model.graph
    for i in range(len(g.initializer)):
        g.initializer[i].CopyFrom(upcast_tensor(g.initializer[i], folder))
    for v in [*g.input, *g.output, *g.value_info]:
        if v.type.tensor_type.elem_type == BF16:
            v.type.tensor_type.elem_type = F32
    for node in g.node:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                a.t.CopyFrom(upcast_tensor(a.t))
            if node.op_type == "Cast" and a.name == "to" and a.i == BF16:
                a.i = F32
    return model
"""


# One decoder-layer piece of hcc's split in onnxruntime against the torch layer built alone from
# the same checkpoint tensors, both in float32 (the bfloat16 weights upcast).
_LAYER = (
    r"""
import json, os, sys
import numpy as np
src, pieces, index = sys.argv[1], sys.argv[2], int(sys.argv[3])
import onnx, torch, transformers
import onnxruntime as ort
from onnx import TensorProto, numpy_helper
from safetensors import safe_open
from transformers.models.llama.modeling_llama import LlamaDecoderLayer, LlamaRotaryEmbedding
"""
    + _UPCAST
    + r"""
manifest = json.load(open(os.path.join(pieces, "manifest.json")))
entry = next(p for p in manifest["pieces"] if p["name"].endswith(f"Layer.{index}"))
model = upcast(onnx.load(os.path.join(pieces, entry["file"])))
session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
del model

config = transformers.AutoConfig.from_pretrained(src)
prefix = f"model.layers.{index}."
with open(os.path.join(src, "model.safetensors.index.json")) as f:
    weight_map = json.load(f)["weight_map"]
state = {}
for name, file in weight_map.items():
    if name.startswith(prefix):
        with safe_open(os.path.join(src, file), "pt") as f:
            state[name[len(prefix):]] = f.get_tensor(name).float()
with torch.device("meta"):
    layer = LlamaDecoderLayer(config, index)
layer.load_state_dict(state, assign=True)
layer.eval()
seq = 16
generator = torch.Generator().manual_seed(0)
hidden = torch.randn(1, seq, config.hidden_size, generator=generator)
positions = torch.arange(seq)[None]
rotary = LlamaRotaryEmbedding(config)
causal = torch.full((seq, seq), torch.finfo(torch.float32).min).triu(1)[None, None]
with torch.no_grad():
    cos_sin = rotary(hidden, positions)
    want = layer(hidden, attention_mask=causal, position_ids=positions, position_embeddings=cos_sin)
    want = (want[0] if isinstance(want, tuple) else want).numpy()
feeds = {}
for i in session.get_inputs():
    feeds[i.name] = hidden.numpy() if "float" in i.type else np.ones((1, seq), dtype=np.int64)
got = session.run(None, feeds)[0]
rel = float(np.abs(got - want).max() / np.abs(want).max())
print(json.dumps({"piece": entry["name"], "max_abs": float(np.abs(got - want).max()), "relative": rel,
                  "finite": bool(np.isfinite(got).all())}))
"""
)


# One prefill block piece and one decode block piece of the KV-cache build in onnxruntime
# against the torch decoder layer they stand for, built alone from that layer's tensors in the
# checkpoint (read with safetensors). onnxruntime's CPU kernels lack bfloat16, so each piece runs
# upcast to float32; the torch layer runs both in float32 (bfloat16 weights upcast) and in
# bfloat16 as stored. One piece in memory at a time, then the torch layer.
_BLOCKS = (
    _PEAK
    + r"""
import json, os, sys, tempfile
import numpy as np
src, pieces, index = sys.argv[1], sys.argv[2], int(sys.argv[3])
import onnx, torch, transformers
import onnxruntime as ort
from onnx import TensorProto, numpy_helper
from safetensors import safe_open
from transformers.models.llama.modeling_llama import LlamaDecoderLayer, LlamaRotaryEmbedding
"""
    + _UPCAST
    + r"""
def run_upcast(path, feeds):
    # Every bfloat16 tensor, type and Cast target as float32, written beside a temporary
    # model and run from there: the proto and the session never hold the weights together.
    model = upcast(onnx.load(path, load_external_data=False), os.path.dirname(path))
    with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(pieces))) as tmp:
        onnx.save_model(model, os.path.join(tmp, "m.onnx"), save_as_external_data=True,
                        location="m.data")
        del model
        session = ort.InferenceSession(os.path.join(tmp, "m.onnx"),
                                       providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        out = dict(zip(names, session.run(None, feeds)))
        del session
    return out

manifest = json.load(open(os.path.join(pieces, "manifest.json")))
config = transformers.AutoConfig.from_pretrained(src)
heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
head_dim = config.hidden_size // heads
generator = torch.Generator().manual_seed(0)
seq, history = 16, 24
prompt = torch.randn(1, seq, config.hidden_size, generator=generator)
token = torch.randn(1, 1, config.hidden_size, generator=generator)
past_k = torch.randn(1, kv_heads, history, head_dim, generator=generator)
past_v = torch.randn(1, kv_heads, history, head_dim, generator=generator)

def ones(n):
    return np.ones((1, n), dtype=np.int64)

got = {}
for piece, values in (
    (f"block_{index}", {"hidden": prompt.numpy(), "attention_mask": ones(seq),
                        "position_ids": np.arange(seq)[None]}),
    (f"block_cache_{index}", {"hidden": token.numpy(), "attention_mask": ones(history + 1),
                              "position_ids": np.array([[history]]),
                              "past_k": past_k.numpy(), "past_v": past_v.numpy()}),
):
    # Fed and read by role (the manifest names each piece's tensors by role).
    entry = manifest["pieces"][piece]
    inputs = {i["name"] for i in entry["inputs"]}
    feeds = {name: values[role] for role, name in entry["names"].items() if name in inputs}
    outs = run_upcast(os.path.join(pieces, entry["file"]), feeds)
    got[piece] = {role: outs[name] for role, name in entry["names"].items() if name in outs}

prefix = f"model.layers.{index}."
with open(os.path.join(src, "model.safetensors.index.json")) as f:
    weight_map = json.load(f)["weight_map"]
state = {}
for name, file in weight_map.items():
    if name.startswith(prefix):
        with safe_open(os.path.join(src, file), "pt") as f:
            state[name[len(prefix):]] = f.get_tensor(name)

class Cache:
    # What the layer's attention asks of a cache: the history in, history and new entries out.
    def __init__(self, k=None, v=None):
        self.k, self.v = k, v
    def update(self, k, v, layer_idx, *args, **kwargs):
        self.new_k, self.new_v = k, v
        if self.k is not None:
            k = torch.cat([self.k.to(k.dtype), k], -2)
            v = torch.cat([self.v.to(v.dtype), v], -2)
        return k, v

def torch_layer(dtype):
    with torch.device("meta"):
        layer = LlamaDecoderLayer(config, index)
    layer.load_state_dict({k: t.to(dtype) for k, t in state.items()}, assign=True)
    layer.eval()
    rotary = LlamaRotaryEmbedding(config)  # float32 frequencies, as transformers keeps them
    results = {}
    with torch.no_grad():
        hidden = prompt.to(dtype)
        positions = torch.arange(seq)[None]
        causal = torch.full((seq, seq), torch.finfo(dtype).min, dtype=dtype).triu(1)[None, None]
        cache = Cache()
        out = layer(hidden, attention_mask=causal, position_ids=positions, cache=cache,
                    position_embeddings=rotary(hidden, positions))
        results["block"] = {"hidden": out, "k": cache.new_k, "v": cache.new_v}
        hidden = token.to(dtype)
        positions = torch.tensor([[history]])
        cache = Cache(past_k, past_v)
        out = layer(hidden, attention_mask=None, position_ids=positions, cache=cache,
                    position_embeddings=rotary(hidden, positions))
        results["block_cache"] = {"hidden": out, "k": cache.new_k, "v": cache.new_v}
    del layer
    return {mode: {k: t.float().numpy() for k, t in r.items()} for mode, r in results.items()}

reference = {"float32": torch_layer(torch.float32), "bfloat16": torch_layer(torch.bfloat16)}

def relative(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())

report = {}
for mode, piece, k_role, v_role in (
    ("block", f"block_{index}", "present_k", "present_v"),
    ("block_cache", f"block_cache_{index}", "new_k", "new_v"),
):
    ours = got[piece]
    values = {"hidden": ours["hidden_out"], "k": ours[k_role], "v": ours[v_role]}
    row = {"finite": all(bool(np.isfinite(v).all()) for v in values.values())}
    for dtype, ref in reference.items():
        row[f"vs_torch_{dtype}"] = max(relative(values[k], ref[mode][k]) for k in values)
        row[f"parts_{dtype}"] = {k: relative(values[k], ref[mode][k]) for k in values}
    row["torch_bfloat16_vs_float32"] = max(
        relative(reference["bfloat16"][mode][k], reference["float32"][mode][k]) for k in values
    )
    report[piece] = row
print(json.dumps({"pieces": report, "peak_mb": peak_mb()}))
"""
)


def write_checkpoint(folder: str, shape: dict) -> int:
    """A LLaMA checkpoint of random bfloat16 weights, one shard per layer; returns its bytes."""
    import torch
    import transformers
    from safetensors.torch import save_file

    config = transformers.LlamaConfig(**shape, max_position_embeddings=2048, use_cache=False)
    config.dtype = "bfloat16"
    config.save_pretrained(folder)
    hidden, inter = shape["hidden_size"], shape["intermediate_size"]
    head_dim = hidden // shape["num_attention_heads"]
    kv = shape["num_key_value_heads"] * head_dim
    generator = torch.Generator().manual_seed(0)

    def rand(*dims):
        return (torch.randn(dims, generator=generator) * 0.02).to(torch.bfloat16)

    layers = shape["num_hidden_layers"]

    def shard(index: int) -> dict:
        if index == 0:
            return {"model.embed_tokens.weight": rand(shape["vocab_size"], hidden)}
        if index == layers + 1:
            return {
                "model.norm.weight": 1 + rand(hidden),
                "lm_head.weight": rand(shape["vocab_size"], hidden),
            }
        p = f"model.layers.{index - 1}."
        return {
            p + "self_attn.q_proj.weight": rand(hidden, hidden),
            p + "self_attn.k_proj.weight": rand(kv, hidden),
            p + "self_attn.v_proj.weight": rand(kv, hidden),
            p + "self_attn.o_proj.weight": rand(hidden, hidden),
            p + "mlp.gate_proj.weight": rand(inter, hidden),
            p + "mlp.up_proj.weight": rand(inter, hidden),
            p + "mlp.down_proj.weight": rand(hidden, inter),
            p + "input_layernorm.weight": 1 + rand(hidden),
            p + "post_attention_layernorm.weight": 1 + rand(hidden),
        }

    weight_map, total = {}, 0
    count = layers + 2
    for index in range(count):
        # Made and written one shard at a time: never the whole model in memory.
        tensors = shard(index)
        name = f"model-{index + 1:05d}-of-{count:05d}.safetensors"
        save_file(tensors, os.path.join(folder, name), metadata={"format": "pt"})
        for key, tensor in tensors.items():
            weight_map[key] = name
            total += tensor.numel() * tensor.element_size()
        del tensors
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    return total


def _child(script: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stderr[-3000:])
        raise SystemExit(f"child failed with exit status {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


STEPS = ("split", "torch", "kv", "kv-loaded")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="small")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--keep", help="folder to keep the checkpoint in (reused when it is there already)"
    )
    parser.add_argument(
        "--kv-dtype",
        choices=("bfloat16", "float32"),
        default="bfloat16",
        help="what the KV-cache pieces compute in: the checkpoint's bfloat16, or float32 with "
        "each weight cast by a graph node (still read in place)",
    )
    parser.add_argument(
        "--steps",
        default=",".join(STEPS),
        help="which children to run, of split (hcc export + per-layer split), torch (its "
        "export), kv (hcc's KV-cache build from the checkpoint) and kv-loaded (the same from "
        "the loaded model); torch and kv-loaded never for llama-7b",
    )
    args = parser.parse_args()
    steps = args.steps.split(",")
    if not set(steps) <= set(STEPS):
        parser.error(f"--steps takes {', '.join(STEPS)}")
    if args.shape == "llama-7b":
        # The loaded model does not fit this machine's memory.
        steps = [step for step in steps if step not in ("torch", "kv-loaded")]
    root = args.keep or tempfile.mkdtemp(prefix="hcc-large-")
    try:
        folder = os.path.join(root, "checkpoint")
        os.makedirs(folder, exist_ok=True)
        index = os.path.join(folder, "model.safetensors.index.json")
        if args.keep and os.path.isfile(index):
            with open(index) as f:
                size = json.load(f)["metadata"]["total_size"]
        else:
            size = write_checkpoint(folder, SHAPES[args.shape])
        print(f"{args.shape}: checkpoint of {size / 2**20:.0f} MiB (bfloat16) in {folder}")
        # A middle layer: one grown from the traced ones.
        layer = SHAPES[args.shape]["num_hidden_layers"] // 2
        rounds = []
        for round_ in range(args.repeat):
            result = {}
            children = (("hcc", _HCC), ("torch", _TORCH), ("kv", _KV), ("kv-loaded", _KV_LOADED))
            for side, script in children:
                if {"hcc": "split"}.get(side, side) not in steps:
                    continue
                out = os.path.join(root, f"{side}-{round_}")
                shutil.rmtree(out, ignore_errors=True)
                os.makedirs(out)
                extra = [args.kv_dtype] if side.startswith("kv") else []
                result[side] = _child(script, folder, out, *extra)
                if side == "hcc" and round_ == 0:
                    check = _child(_LAYER, folder, os.path.join(out, "pieces"), str(layer))
                    print(
                        f"{check['piece']} in onnxruntime vs the torch layer (float32 from the "
                        f"bfloat16 checkpoint): max abs {check['max_abs']:.3g}, relative "
                        f"{check['relative']:.3g}"
                    )
                if side == "kv" and round_ == 0:
                    _print_blocks(_child(_BLOCKS, folder, out, str(layer)))
                shutil.rmtree(out, ignore_errors=True)
            rounds.append(result)
            _print_round(round_, result, size)
        if "kv" in rounds[0] and "kv-loaded" in rounds[0]:
            time_ratio = statistics.median(
                r["kv"]["seconds"] / r["kv-loaded"]["seconds"] for r in rounds
            )
            rss_ratio = statistics.median(
                r["kv"]["peak_mb"] / r["kv-loaded"]["peak_mb"] for r in rounds
            )
            print(
                f"kv-cache from the checkpoint / from the loaded model: time {time_ratio:.2f}x, "
                f"peak RSS {rss_ratio:.2f}x (medians)"
            )
        if "hcc" in rounds[0] and "torch" in rounds[0]:
            time_ratio = statistics.median(
                r["hcc"]["seconds"] / r["torch"]["seconds"] for r in rounds
            )
            rss_ratio = statistics.median(
                r["hcc"]["peak_mb"] / r["torch"]["peak_mb"] for r in rounds
            )
            print(f"hcc / torch: time {time_ratio:.2f}x, peak RSS {rss_ratio:.2f}x (medians)")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def _print_round(round_: int, result: dict, size: int) -> None:
    line = "  ".join(
        f"{side} {r['seconds']:.1f} s {r['peak_mb']:.0f} MB" for side, r in result.items()
    )
    notes = []
    hcc = result.get("hcc")
    if hcc:
        notes.append(
            f"hcc export {hcc['export']:.1f} s; whole model adds "
            f"{hcc['whole_model_new_bytes'] / 2**20:.1f} MiB = "
            f"{100 * hcc['whole_model_new_bytes'] / size:.3f} % of the checkpoint, pieces "
            f"{(hcc['new_bytes'] - hcc['whole_model_new_bytes']) / 2**20:.0f} MiB"
        )
    kv = result.get("kv")
    if kv:
        notes.append(
            f"kv: {kv['pieces']} pieces add {kv['new_bytes'] / 2**20:.1f} MiB = "
            f"{100 * kv['new_bytes'] / size:.3f} % of the checkpoint"
        )
    print(f"round {round_ + 1}: {line}  ({'; '.join(notes)})")


def _print_blocks(check: dict) -> None:
    for piece, row in check["pieces"].items():
        print(
            f"{piece} in onnxruntime (upcast to float32) vs the torch layer built alone: relative "
            f"{row['vs_torch_float32']:.3g} against torch in float32, "
            f"{row['vs_torch_bfloat16']:.3g} against torch in bfloat16 (torch bfloat16 vs "
            f"float32: {row['torch_bfloat16_vs_float32']:.3g}); finite: {row['finite']}; "
            "against float32 per output: "
            + ", ".join(f"{k} {v:.2g}" for k, v in row["parts_float32"].items())
        )
    print(f"(the check's own peak RSS: {check['peak_mb']:.0f} MB)")


if __name__ == "__main__":
    main()
