"""hcc export next to plain torch.onnx.export (dynamo) on the same model, in one run.

Each side runs in its own child process (so peak RSS is its own) and builds the same seeded
model; the timed part is the export and the write of the ONNX file with external data.
Prints, for both: wall seconds, CPU seconds (user + system; steadier than wall time on a busy
machine), the peak RSS of the export alone (the kernel's high-water mark is reset after the
model is built, where Linux allows it) and of the whole process; then the ratios hcc / torch.

    python benchmarks/export.py [--model gpt2] [--layers 12] [--repeat 2]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import statistics
import tempfile
import time


def _build(model_type: str, layers: int):
    from hcc.frontend import sources

    key = {"gpt2": "n_layer"}.get(model_type, "num_hidden_layers")
    module = sources.from_config(model_type, {key: layers}, seed=0)
    kwargs, shapes = sources.example_inputs(module)
    return module, kwargs, shapes


def _reset_peak_rss() -> bool:
    """Reset this process's RSS high-water mark (Linux: write 5 to clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss_mb() -> float:
    """VmHWM from /proc (resettable), else ru_maxrss (the whole process)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _run(side: str, model_type: str, layers: int, out_dir: str, queue) -> None:
    import gc
    import warnings

    import torch

    warnings.simplefilter("ignore")
    module, kwargs, shapes = _build(model_type, layers)
    path = os.path.join(out_dir, f"{side}.onnx")
    gc.collect()
    _reset_peak_rss()
    cpu = _cpu_seconds()
    start = time.perf_counter()
    with torch.no_grad():
        if side == "hcc":
            import hcc
            import hcc.ir

            model = hcc.export(module, (), kwargs, dynamic_shapes=shapes)
            hcc.ir.save(model, path)
        else:
            import contextlib
            import io

            with contextlib.redirect_stdout(io.StringIO()):
                program = torch.onnx.export(
                    module, (), kwargs=kwargs, dynamo=True, dynamic_shapes=shapes, verbose=False
                )
            program.save(path, external_data=True)
    seconds = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu
    export_peak = _peak_rss_mb()
    process_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((seconds, cpu, export_peak, process_peak))


def measure(side: str, model_type: str, layers: int) -> tuple[float, float, float, float]:
    context = mp.get_context("spawn")
    queue = context.Queue()
    with tempfile.TemporaryDirectory() as out_dir:
        process = context.Process(target=_run, args=(side, model_type, layers, out_dir, queue))
        process.start()
        result = queue.get()
        process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gpt2")
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    runs = {"torch": [], "hcc": []}
    for _ in range(args.repeat):
        for side in ("torch", "hcc"):  # alternate so drift hits both alike
            runs[side].append(measure(side, args.model, args.layers))
    summary = {}
    for side, values in runs.items():
        wall, cpu = (statistics.median(v[i] for v in values) for i in (0, 1))
        export_peak, process_peak = (max(v[i] for v in values) for i in (2, 3))
        summary[side] = (wall, cpu, export_peak, process_peak)
        print(
            f"{side:>6}: export {wall:7.2f} s wall {cpu:7.2f} s CPU   peak RSS "
            f"{export_peak:6.0f} MB during export, {process_peak:6.0f} MB whole process"
        )
    hcc, torch = summary["hcc"], summary["torch"]
    print(
        f"ratio hcc/torch: time {hcc[0] / torch[0]:.2f}x wall, {hcc[1] / torch[1]:.2f}x CPU "
        f"(goal <= 1.10x); peak RSS {hcc[2] / torch[2]:.2f}x during export, "
        f"{hcc[3] / torch[3]:.2f}x whole process (goal <= 1.20x)"
    )


if __name__ == "__main__":
    main()
