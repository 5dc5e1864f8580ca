"""Load + save a model with hcc and with onnx; compare wall time and peak memory.

    python benchmarks/roundtrip.py [model.onnx] [--repeat 3]

Without a path, a 12-layer GPT-2 is exported with torch's dynamo exporter first (tests/_models.py).
Each measurement runs in its own child process, which reports its own wall time and peak RSS
(``ru_maxrss`` of itself), so the tools never share a heap. Each writes external data into a
fresh folder:
- hcc: ``hcc.ir.save(hcc.ir.load(src), dst)``;
- onnx eager: ``onnx.load`` (weights read into memory), then
  ``onnx.save(save_as_external_data=True, location=<same name>)``;
- onnx lazy, the script a user who knows the weights do not change would write:
  ``onnx.load(load_external_data=False)``, ``onnx.save`` of the graph, and the data file copied.
The three run in turn, repeated; ratios are medians of the ratios within each round.
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

_CHILD = r"""
import json, os, resource, sys, time
tool, src, dst, location = sys.argv[1:5]
if tool == "hcc":
    import hcc.ir as ir
    start = time.perf_counter()
    ir.save(ir.load(src), dst)
elif tool == "onnx":
    import onnx
    start = time.perf_counter()
    model = onnx.load(src)
    onnx.save(model, dst, save_as_external_data=True, all_tensors_to_one_file=True,
              location=location)
else:  # onnx-lazy: the graph through onnx, the weights copied as a file
    import shutil
    import onnx
    start = time.perf_counter()
    model = onnx.load(src, load_external_data=False)
    onnx.save(model, dst)
    shutil.copyfile(os.path.join(os.path.dirname(src), location),
                    os.path.join(os.path.dirname(dst), location))
seconds = time.perf_counter() - start
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_mb": peak_kb / 1024}))
"""


def _data_location(path: str) -> str:
    import onnx

    proto = onnx.load(path, load_external_data=False)
    for tensor in proto.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                return entry.value
    return os.path.basename(path) + ".data"


def _measure(tool: str, src: str, work: str, location: str) -> dict:
    folder = os.path.join(work, tool)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    dst = os.path.join(folder, os.path.basename(src))
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, tool, src, dst, location],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def _export_gpt2(folder: str) -> str:
    """Export GPT-2 in a child process, so torch does not stay in this process' memory."""
    models = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "_models.py")
    code = (
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('hcc_test_models', {models!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        f"print(m.export_gpt2({folder!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    )
    return result.stdout.strip().splitlines()[-1]


def _outputs_equal(work: str, name: str, other: str) -> tuple[bool, bool]:
    import filecmp

    import onnx

    a = os.path.join(work, "hcc", name)
    b = os.path.join(work, other, name)
    protos = onnx.load(a) == onnx.load(b)
    names_a = sorted(os.listdir(os.path.dirname(a)))
    files = names_a == sorted(os.listdir(os.path.dirname(b))) and all(
        filecmp.cmp(os.path.join(work, "hcc", f), os.path.join(work, other, f), shallow=False)
        for f in names_a
    )
    return protos, files


def _ratio(a: list[dict], b: list[dict], key: str) -> float:
    """The median over rounds of a[i] / b[i]: each round's runs saw the same machine."""
    return statistics.median(x[key] / y[key] for x, y in zip(a, b, strict=True))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="an .onnx file (default: export GPT-2)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    work = tempfile.mkdtemp(prefix="hcc-bench-")
    try:
        src = args.model
        if src is None:
            print("exporting GPT-2 (12 layers) ...", flush=True)
            src = _export_gpt2(os.path.join(work, "model"))
        src = os.path.abspath(src)
        location = _data_location(src)
        runs: dict[str, list[dict]] = {"hcc": [], "onnx": [], "onnx-lazy": []}
        for _ in range(args.repeat):  # in turn, so all see the same page cache state
            for tool in runs:
                runs[tool].append(_measure(tool, src, work, location))
        for tool, results in runs.items():
            seconds = statistics.median(r["seconds"] for r in results)
            peak = statistics.median(r["peak_mb"] for r in results)
            times = ", ".join(f"{r['seconds']:.3f}" for r in results)
            peaks = ", ".join(f"{r['peak_mb']:.0f}" for r in results)
            print(
                f"{tool:9s} load+save: median {seconds:.3f} s  [{times}]  "
                f"peak RSS median {peak:.0f} MB  [{peaks}]"
            )
        protos = True
        for other in ("onnx", "onnx-lazy"):
            print(
                f"hcc/{other}: time {_ratio(runs['hcc'], runs[other], 'seconds'):.2f}x, "
                f"peak memory {_ratio(runs['hcc'], runs[other], 'peak_mb'):.2f}x"
            )
            same_protos, same_files = _outputs_equal(work, os.path.basename(src), other)
            print(f"  outputs: protos equal {same_protos}, files byte-identical {same_files}")
            protos = protos and same_protos
        return 0 if protos else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
