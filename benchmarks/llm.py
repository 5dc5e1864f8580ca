"""Time to produce all KV-cache pieces next to one plain dynamo export of the same model.

    python benchmarks/llm.py [--model llama|gpt2] [--layers 4] [--static] [--repeat 3]

Each side runs in its own child process, which builds the same seeded model (not timed) and then
times only its own work: the plain side exports one ONNX file with external data, hcc writes
embedding, block_i, block_cache_i, lm_head and the manifest. The two sides run in turn (plain,
hcc, plain, hcc, ...); the ratio is the median of the ratios within each round. Also prints the
weight bytes on disk against the model's parameter bytes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

_CHILD = r"""
import contextlib, io, json, os, resource, sys, tempfile, time, warnings
warnings.simplefilter("ignore")
import torch
from hcc.frontend import sources
from hcc.llm.recipe import LLMOptions, build_pieces
side, model_type, layers, static, max_len = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
    sys.argv[4] == "1", int(sys.argv[5])
if model_type == "gpt2":
    overrides = {"n_layer": layers}
else:
    overrides = dict(num_hidden_layers=layers, hidden_size=512, intermediate_size=1376,
                     num_attention_heads=8, num_key_value_heads=4, vocab_size=32000)
model = sources.from_config(model_type, overrides, task="causal-lm", seed=0)
params = sum(p.numel() * p.element_size()
             for p in {id(p): p for p in model.parameters()}.values())
with tempfile.TemporaryDirectory() as folder:
    start = time.perf_counter()
    if side == "plain":
        ids = torch.ones(2, 16, dtype=torch.long)
        batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq")
        with contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
            model.config.use_cache = False
            program = torch.onnx.export(model, (ids,), dynamo=True,
                                        dynamic_shapes={"input_ids": {0: batch, 1: seq}})
            program.save(os.path.join(folder, "plain.onnx"), external_data=True)
        paths = [os.path.join(folder, f) for f in os.listdir(folder)]
    else:
        paths = build_pieces(model, os.path.join(folder, "pieces"),
                             LLMOptions(max_len=max_len, static=static), name="m")
    seconds = time.perf_counter() - start
    data = sum(os.path.getsize(p) for p in paths if p.endswith(".data"))
    graphs = len([p for p in paths if p.endswith(".onnx")])
print(json.dumps({"seconds": seconds, "params": params, "data": data, "graphs": graphs,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _child(*args: str) -> dict:
    result = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"child failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="llama", choices=["llama", "gpt2"])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--static", action="store_true")
    parser.add_argument("--max-len", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    common = [args.model, str(args.layers), "1" if args.static else "0", str(args.max_len)]
    runs: dict[str, list[dict]] = {"plain": [], "hcc": []}
    for _ in range(args.repeat):
        for side in runs:
            runs[side].append(_child(side, *common))
    plain, pieces = runs["plain"], runs["hcc"]
    params, data, graphs = pieces[0]["params"], pieces[0]["data"], pieces[0]["graphs"]
    seconds = {side: statistics.median(r["seconds"] for r in rs) for side, rs in runs.items()}
    peaks = {side: statistics.median(r["peak_mb"] for r in rs) for side, rs in runs.items()}
    ratio = statistics.median(
        h["seconds"] / p["seconds"] for h, p in zip(pieces, plain, strict=True)
    )
    print(
        f"model: {args.model}, {args.layers} layers, {params / 1e6:.1f} MB of parameters "
        f"(median of {args.repeat}, in turn)"
    )
    print(
        f"plain dynamo export (one graph):       {seconds['plain']:7.2f} s  "
        f"peak RSS {peaks['plain']:.0f} MB"
    )
    print(
        f"hcc kv-cache pieces ({graphs} graphs{', static' if args.static else ''}): "
        f"{seconds['hcc']:7.2f} s  peak RSS {peaks['hcc']:.0f} MB"
    )
    print(f"hcc/plain: time {ratio:.2f}x")
    print(
        f"weights on disk: {data / 1e6:.1f} MB = {data / params:.3f}x the parameter bytes "
        "(goal <= 1.05x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
