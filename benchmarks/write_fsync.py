"""What syncing to disk costs ``hcc opt``: the same command with and without fsync.

    python benchmarks/write_fsync.py [--megabytes 128] [--repeat 5]

hcc syncs every file it writes (and its folder) before renaming it into place, so a crash never
leaves a renamed but empty file. This times ``hcc opt IN -o OUT`` (an empty pipeline: load,
copy the weights, write) on a model with that many megabytes of weights, in child processes,
alternating the two variants (A B A B ...); the variant without sync replaces
``hcc.ir.files._fsync`` by a no-op. Each child reports its own wall time; the ratio is taken
pair by pair, and the medians are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

_CHILD = r"""
import json, sys, time
sync, src, dst = sys.argv[1] == "sync", sys.argv[2], sys.argv[3]
start = time.perf_counter()
import hcc.ir as ir
import hcc.ir.files as files
if not sync:
    files._fsync = lambda fd: None
saving = []
real_save = ir.save
def timed_save(*args, **kwargs):
    begin = time.perf_counter()
    real_save(*args, **kwargs)
    saving.append(time.perf_counter() - begin)
ir.save = timed_save
from hcc.cli import main
code = main(["opt", src, "-o", dst])
print(json.dumps({"seconds": time.perf_counter() - start, "save": sum(saving), "code": code}))
"""


def _make_model(path: str, megabytes: int) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    columns = 4096
    rows = megabytes * 2**20 // (4 * columns * 4)
    rng = np.random.default_rng(0)
    weights = [
        numpy_helper.from_array(rng.standard_normal((rows, columns), np.float32), f"w{i}")
        for i in range(4)
    ]
    nodes, current = [], "x"
    for i in range(4):
        nodes.append(helper.make_node("Add", [current, f"w{i}"], [f"h{i}"]))
        current = f"h{i}"
    graph = helper.make_graph(
        nodes,
        "big",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, columns])],
        [helper.make_tensor_value_info(current, TensorProto.FLOAT, [rows, columns])],
        weights,
    )
    model = helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 18)])
    onnx.save(model, path, save_as_external_data=True, location="model.onnx.data")


def _run(variant: str, src: str, dst: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, variant, src, dst],
        check=True,
        capture_output=True,
        text=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    if report["code"] != 0:
        raise SystemExit(f"hcc opt failed: {result.stderr}")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hcc-fsync-") as work:
        src = os.path.join(work, "model.onnx")
        _make_model(src, args.megabytes)
        dst = os.path.join(work, "out", "model.onnx")
        os.makedirs(os.path.dirname(dst))
        _run("sync", src, dst)  # warm-up: imports and page cache
        runs: dict[str, list[dict]] = {"sync": [], "nosync": []}
        for _ in range(args.repeat):
            for variant in ("sync", "nosync"):
                runs[variant].append(_run(variant, src, dst))
    print(f"hcc opt, {args.megabytes} MB of weights, {args.repeat} pairs (median, min-max):")
    for key, what in (("seconds", "whole command"), ("save", "saving only")):
        for variant, label in (("sync", "with fsync"), ("nosync", "without fsync")):
            values = [run[key] for run in runs[variant]]
            print(
                f"  {what}, {label:14} {statistics.median(values):.2f} s  "
                f"({min(values):.2f}-{max(values):.2f})"
            )
        ratios = [a[key] / b[key] for a, b in zip(runs["sync"], runs["nosync"], strict=True)]
        print(
            f"  {what}, ratio          {statistics.median(ratios):.2f}x  "
            f"({min(ratios):.2f}-{max(ratios):.2f})"
        )


if __name__ == "__main__":
    main()
