"""hcc export next to plain torch.onnx.export (dynamo) on the same model, in one run.

Each side runs in its own child process (so peak RSS is its own) and builds the same seeded
model; the timed part is the export and the write of the ONNX file with external data.
Prints seconds and peak RSS for both, and the ratios hcc / torch.

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


def _run(side: str, model_type: str, layers: int, out_dir: str, queue) -> None:
    import warnings

    import torch

    warnings.simplefilter("ignore")
    module, kwargs, shapes = _build(model_type, layers)
    path = os.path.join(out_dir, f"{side}.onnx")
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
                program = torch.onnx.export(module, (), kwargs=kwargs, dynamo=True,
                                            dynamic_shapes=shapes, verbose=False)
            program.save(path, external_data=True)
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put((seconds, peak_kb / 1024))


def measure(side: str, model_type: str, layers: int) -> tuple[float, float]:
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
        summary[side] = (statistics.median(v[0] for v in values), max(v[1] for v in values))
        print(f"{side:>6}: export {summary[side][0]:7.2f} s   peak RSS {summary[side][1]:8.0f} MB")
    time_ratio = summary["hcc"][0] / summary["torch"][0]
    rss_ratio = summary["hcc"][1] / summary["torch"][1]
    print(f"ratio hcc/torch: time {time_ratio:.2f}x (goal <= 1.10x), "
          f"peak RSS {rss_ratio:.2f}x (goal <= 1.20x)")


if __name__ == "__main__":
    main()
