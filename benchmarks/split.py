"""Per-layer split: hcc against the best onnx script for the same pieces, time and peak memory.

    python benchmarks/split.py [--repeat N] [--tinyllama] [--validate] [--keep DIR]

1. A 12-layer GPT-2 is exported with torch's dynamo exporter (tests/_models.py).
2. hcc, in a child process: load (with the scope-tagging passes), ``split`` per GPT2Block
   (embeddings with the first, head with the last), ``internalize-constants``, write the pieces.
3. onnx, in a child process, as a user would script it: one ``onnx.load`` (graph, shape
   inference once, then the weights), one ``onnx.utils.Extractor``, ``extract_model`` per piece
   with the boundary names from hcc's manifest, each piece saved with its weights in an external
   data file. The extractor cannot rebase a shape helper onto the hidden state, so each piece
   also gets the model's inputs (the pieces it makes read ``input_ids``).
4. onnx, the one-call way: ``onnx.utils.extract_model(path, ...)`` per piece, which loads, checks
   and infers the whole model again on every call (the second onnx line).
The three run in turn (hcc, script, per call; repeated), each child in its own process reporting
its own wall time and peak RSS (``ru_maxrss``), so they never share a heap; ratios are medians of
the ratios within each round.

``--tinyllama`` then exports a TinyLlama-shaped model (1.1 B parameters, random weights, about
4.4 GB of fp32) and splits it per layer with hcc (peak RSS goal: 2 GB), and runs extract_model for
one layer of it for comparison. This needs ~10 GB of free memory during the export and ~10 GB of
disk. ``--validate`` also chains its pieces in onnxruntime against the whole model.
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

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "..", "tests", "_models.py")

# Each child prints one JSON line last: its own wall time and peak RSS.
_HCC = r"""
import json, resource, sys, time
src, out, pattern = sys.argv[1:4]
start = time.perf_counter()
from hcc.frontend.load import ModelSource, load_model
from hcc.passes import run
from hcc.pieces import write_pieces
model = load_model(ModelSource("onnx", src))
loaded = time.perf_counter()
run(model, f"remove-dead-code,split(by={pattern!r}),internalize-constants")
split = time.perf_counter()
write_pieces(model, out)
end = time.perf_counter()
print(json.dumps({"seconds": end - start, "load": loaded - start, "passes": split - loaded,
                  "write": end - split,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

_ONNX = r"""
import json, os, resource, sys, time
import onnx.utils
src, out, manifest_path, only = sys.argv[1:5]
with open(manifest_path) as f:
    manifest = json.load(f)
model_inputs = [v["name"] for v in manifest["inputs"]]
pieces = manifest["pieces"] if only == "all" else [manifest["pieces"][int(only)]]
os.makedirs(out, exist_ok=True)
start = time.perf_counter()
error = None
for entry in pieces:
    inputs = [v["name"] for v in entry["inputs"]]
    inputs += [n for n in model_inputs if n not in inputs]
    outputs = [v["name"] for v in entry["outputs"]]
    try:
        onnx.utils.extract_model(src, os.path.join(out, entry["file"]), inputs, outputs,
                                 infer_shapes=only == "all")
    except Exception as e:  # report, do not hide: the figure is then for a failed run
        error = f"{entry['name']}: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
        break
print(json.dumps({"seconds": time.perf_counter() - start, "error": error,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

# The script a user would write: everything loaded and inferred once, pieces with external data.
_ONNX_SCRIPT = r"""
import json, os, resource, sys, time
import onnx, onnx.shape_inference, onnx.utils
src, out, manifest_path = sys.argv[1:4]
with open(manifest_path) as f:
    manifest = json.load(f)
model_inputs = [v["name"] for v in manifest["inputs"]]
os.makedirs(out, exist_ok=True)
start = time.perf_counter()
model = onnx.load(src, load_external_data=False)
model = onnx.shape_inference.infer_shapes(model)  # typed piece boundaries, as hcc writes them
onnx.load_external_data_for_model(model, os.path.dirname(src))
extractor = onnx.utils.Extractor(model)
for entry in manifest["pieces"]:
    inputs = [v["name"] for v in entry["inputs"]]
    inputs += [n for n in model_inputs if n not in inputs]
    piece = extractor.extract_model(inputs, [v["name"] for v in entry["outputs"]])
    onnx.save(piece, os.path.join(out, entry["file"]), save_as_external_data=True,
              all_tensors_to_one_file=True, location=entry["file"] + ".data", size_threshold=1024)
print(json.dumps({"seconds": time.perf_counter() - start, "error": None,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

_EXPORT_GPT2 = r"""
import importlib.util, json, resource, sys, time
spec = importlib.util.spec_from_file_location("hcc_test_models", sys.argv[1])
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
start = time.perf_counter()
path = m.export_gpt2(sys.argv[2], 12)
print(json.dumps({"path": path, "seconds": time.perf_counter() - start,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

_EXPORT_TINYLLAMA = r"""
import json, os, resource, sys, time, warnings
import torch
from transformers import LlamaConfig, LlamaForCausalLM
folder = sys.argv[1]
os.makedirs(folder, exist_ok=True)
path = os.path.join(folder, "tinyllama.onnx")
start = time.perf_counter()
config = LlamaConfig(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                     num_attention_heads=32, num_key_value_heads=4, vocab_size=32000,
                     use_cache=False)
torch.manual_seed(0)
model = LlamaForCausalLM(config).eval()
built = time.perf_counter()
ids = torch.randint(0, config.vocab_size, (2, 16))
mask = torch.ones(2, 16, dtype=torch.int64)
batch, seq = torch.export.Dim("batch", max=64), torch.export.Dim("seq", max=2048)
with warnings.catch_warnings(), torch.no_grad():
    warnings.simplefilter("ignore")
    torch.onnx.export(model, (ids,), path, kwargs={"attention_mask": mask}, dynamo=True,
                      input_names=["input_ids", "attention_mask"],
                      dynamic_shapes={"input_ids": {0: batch, 1: seq},
                                      "attention_mask": {0: batch, 1: seq}},
                      external_data=True, verbose=False)
end = time.perf_counter()
params = sum(p.numel() for p in model.parameters())
print(json.dumps({"path": path, "seconds": end - start, "build_seconds": built - start,
                  "params": params,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

_VALIDATE = r"""
import json, resource, sys, time
from hcc.validate import validate_pieces
start = time.perf_counter()
deviations = validate_pieces(sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - start,
                  "deviations": {d.name: d.max_abs for d in deviations},
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _child(code: str, *args: str) -> dict:
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"child failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _folder_mb(folder: str) -> float:
    return sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder)) / 2**20


def _pieces_mb(folder: str) -> float:
    """Bytes of the pieces and the data they read (the whole model written beside them by hcc,
    which shares the pieces' data file, is left out)."""
    with open(os.path.join(folder, "manifest.json")) as f:
        manifest = json.load(f)
    files = {e["file"] for e in manifest["pieces"]}
    files |= {f for f in os.listdir(folder) if f.endswith(".data")}
    return sum(os.path.getsize(os.path.join(folder, f)) for f in files) / 2**20


def _largest_piece_mb(folder: str) -> float:
    """Weight bytes of the heaviest piece (external data it points at plus inline tensors)."""
    import onnx

    with open(os.path.join(folder, "manifest.json")) as f:
        manifest = json.load(f)
    largest = 0
    for entry in manifest["pieces"]:
        proto = onnx.load(os.path.join(folder, entry["file"]), load_external_data=False)
        total = 0
        for tensor in proto.graph.initializer:
            lengths = [int(e.value) for e in tensor.external_data if e.key == "length"]
            total += lengths[0] if lengths else len(tensor.raw_data)
        largest = max(largest, total)
    return largest / 2**20


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _ratio(a: list[dict], b: list[dict], key: str) -> float:
    """The median over rounds of a[i] / b[i]: each round's two runs saw the same machine."""
    return statistics.median(x[key] / y[key] for x, y in zip(a, b, strict=True))


def gpt2(work: str, repeat: int) -> None:
    print("exporting GPT-2 (12 layers) ...", flush=True)
    exported = _child(_EXPORT_GPT2, MODELS, os.path.join(work, "gpt2"))
    src = exported["path"]
    print(
        f"  export: {exported['seconds']:.1f} s, peak RSS {exported['peak_mb']:.0f} MB, "
        f"model {_folder_mb(os.path.dirname(src)):.0f} MB"
    )
    hcc_runs, script_runs, call_runs = [], [], []
    manifest = os.path.join(work, "hcc", "manifest.json")
    for _ in range(repeat):  # in turn, so all three see the same machine and page cache
        out = os.path.join(work, "hcc")
        shutil.rmtree(out, ignore_errors=True)
        hcc_runs.append(_child(_HCC, src, out, "*/GPT2Block.*"))
        script = os.path.join(work, "script")
        shutil.rmtree(script, ignore_errors=True)
        script_runs.append(_child(_ONNX_SCRIPT, src, script, manifest))
        calls = os.path.join(work, "extract")
        shutil.rmtree(calls, ignore_errors=True)
        call_runs.append(_child(_ONNX, src, calls, manifest, "all"))
        if call_runs[-1]["error"]:
            print(f"  extract_model failed: {call_runs[-1]['error']}")
    with open(manifest) as f:
        pieces = len(json.load(f)["pieces"])
    rows = [
        ("hcc load+split+write", hcc_runs, _pieces_mb(os.path.join(work, "hcc"))),
        ("onnx script (Extractor)", script_runs, _folder_mb(os.path.join(work, "script"))),
        (f"onnx extract_model x{pieces}", call_runs, _folder_mb(os.path.join(work, "extract"))),
    ]
    print(f"\nGPT-2, 12 layers, {pieces} pieces (median of {repeat}):")
    print(f"  {'':28s} {'time':>9s} {'peak RSS':>10s} {'pieces on disk':>15s}")
    for label, runs, disk in rows:
        print(
            f"  {label:28s} {_median(runs, 'seconds'):8.2f}s {_median(runs, 'peak_mb'):8.0f}MB "
            f"{disk:13.0f}MB"
        )
    print(
        f"  hcc/onnx script:       time {_ratio(hcc_runs, script_runs, 'seconds'):.2f}x, "
        f"peak RSS {_ratio(hcc_runs, script_runs, 'peak_mb'):.2f}x"
    )
    print(
        f"  hcc/extract_model x{pieces}: time {_ratio(hcc_runs, call_runs, 'seconds'):.2f}x, "
        f"peak RSS {_ratio(hcc_runs, call_runs, 'peak_mb'):.2f}x "
        f"(largest piece: {_largest_piece_mb(os.path.join(work, 'hcc')):.0f} MB of weights)"
    )
    parts = ", ".join(f"{k} {_median(hcc_runs, k):.2f}s" for k in ("load", "passes", "write"))
    print(f"  hcc breakdown: {parts}")


def tinyllama(work: str, validate: bool) -> None:
    print("\nexporting a TinyLlama-shaped model (1.1 B parameters, random weights) ...", flush=True)
    exported = _child(_EXPORT_TINYLLAMA, os.path.join(work, "tinyllama"))
    src = exported["path"]
    print(
        f"  export: {exported['seconds']:.0f} s (building the module "
        f"{exported['build_seconds']:.0f} s), {exported['params'] / 1e9:.2f} B parameters, "
        f"peak RSS {exported['peak_mb'] / 1024:.1f} GB, "
        f"model {_folder_mb(os.path.dirname(src)) / 1024:.2f} GB"
    )
    out = os.path.join(work, "tinyllama-pieces")
    run = _child(_HCC, src, out, "*/LlamaDecoderLayer.*")
    with open(os.path.join(out, "manifest.json")) as f:
        manifest = json.load(f)
    print(
        f"  hcc load+split+write: {run['seconds']:.1f} s (load {run['load']:.1f}, passes "
        f"{run['passes']:.1f}, write {run['write']:.1f}), peak RSS {run['peak_mb']:.0f} MB "
        f"(goal <= 2048 MB), {len(manifest['pieces'])} pieces, the largest holding "
        f"{_largest_piece_mb(out):.0f} MB of weights"
    )
    one = _child(
        _ONNX, src, os.path.join(work, "tinyllama-extract"), os.path.join(out, "manifest.json"), "1"
    )
    status = f"failed: {one['error']}" if one["error"] else "ok"
    print(
        f"  onnx extract_model, one layer: {one['seconds']:.1f} s, peak RSS "
        f"{one['peak_mb']:.0f} MB ({status})"
    )
    if validate:
        checked = _child(_VALIDATE, os.path.join(out, "manifest.json"))
        worst = max(checked["deviations"].values())
        print(
            f"  chained in onnxruntime: max abs deviation {worst} "
            f"({checked['seconds']:.0f} s, peak RSS {checked['peak_mb'] / 1024:.1f} GB)"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--tinyllama",
        action="store_true",
        help="also split a 1.1 B-parameter LLaMA (long; ~10 GB RAM to export)",
    )
    parser.add_argument(
        "--validate",
        action="store_true",
        help="with --tinyllama: chain its pieces against the whole model",
    )
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep the files")
    args = parser.parse_args(argv)
    work = os.path.abspath(args.keep) if args.keep else tempfile.mkdtemp(prefix="hcc-split-")
    os.makedirs(work, exist_ok=True)
    try:
        gpt2(work, args.repeat)
        if args.tinyllama:
            tinyllama(work, args.validate)
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
