"""The pass manager's own cost: the GPT-2 spec's pipeline run bare and through the manager.

Builds the model of ``specs/gpt2-layers.hx`` once (export included), then, on fresh copies of
it, times the pipeline's passes called directly one after another, and the same passes run by
a ``PassManager`` with the ``Timings`` instrument (what ``hcc build --timings`` uses; verify-each
off). Prints both totals and the overhead as a share of the passes' own time. Each run starts from a fresh load of
the saved model, outside the timed region, and the two ways alternate so machine noise hits both alike.

    python benchmarks/pass_manager.py [--repeat 20] [-D layers=12]
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time

SPEC = os.path.join(os.path.dirname(__file__), "..", "specs", "gpt2-layers.hx")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("-D", dest="defines", action="append", default=[])
    args = parser.parse_args()
    defines = dict(item.split("=", 1) for item in args.defines)

    import hcc.ir as ir
    from hcc.driver import read_spec
    from hcc.frontend.load import load_model
    from hcc.passes import PassManager, Timings, build_pipeline

    spec = read_spec(SPEC, defines)
    model = load_model(spec.source, spec.export)
    folder = tempfile.mkdtemp(prefix="hcc-bench-")
    path = os.path.join(folder, "model.onnx")
    ir.save(model, path, external_data="model.onnx.data")
    bare, managed = [], []
    for _ in range(args.repeat):
        work = ir.load(path)
        passes = build_pipeline(spec.pipeline)
        gc.collect()
        gc.disable()  # a collection landing in one side's run would dwarf what we measure
        start = time.perf_counter()
        for pass_ in passes:
            work = pass_.run(work).model
        bare.append(time.perf_counter() - start)
        gc.enable()

        work = ir.load(path)
        passes = build_pipeline(spec.pipeline)
        manager = PassManager(passes, [Timings()])
        gc.collect()
        gc.disable()
        start = time.perf_counter()
        manager.run(work)
        managed.append(time.perf_counter() - start)
        gc.enable()
    # The minimum is the run least disturbed by the rest of the machine.
    b, m = min(bare), min(managed)
    print(f"pipeline: {', '.join(p.name for p in spec.pipeline)}  ({len(model.graph)} nodes)")
    print(f"passes called directly: {b * 1000:9.2f} ms (best of {args.repeat})")
    print(f"through the manager:    {m * 1000:9.2f} ms")
    print(f"manager overhead: {(m - b) / b * 100:+.1f} % of the passes' time (goal <= 5 %)")


if __name__ == "__main__":
    main()
