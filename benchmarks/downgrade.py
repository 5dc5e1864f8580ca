"""Opset down-conversion on onnx's node test corpus: hcc's downgrade-ir beside onnx.version_converter.

    python benchmarks/downgrade.py [--opsets 13 15 17] [--stride 1] [--failures 12]

For each target opset, every corpus model whose default-domain opset is above it is converted
by both tools. A conversion succeeds when the result really is at the target opset and IR
version, passes onnx's full checker, runs in onnxruntime and reproduces the expected outputs
(rtol 1e-3, atol 1e-5). Cases whose original model onnxruntime cannot run, or runs to other
outputs, are left out for both tools. The target IR version is the lowest the target opset and
the model allow (7 for opsets 13-14, 8 from 15); the version converter keeps the model's IR
version, so its script then sets the target one, as a user would, and the checker judges it.
The corpus helpers live in tests/passes/downgrade/_corpus.py.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import os
import sys
import time


def _corpus_module():
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "tests", "passes", "downgrade", "_corpus.py")
    spec = importlib.util.spec_from_file_location("hcc_downgrade_corpus", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def run(opset: int, corpus, stride: int, top: int) -> dict:
    cases = sorted(corpus.cases_above(opset), key=lambda c: c.name)[::stride]
    started = time.perf_counter()
    runnable = [case for case in cases if corpus.original_runs(case)]
    tools = {
        "hcc downgrade-ir": corpus.hcc_convert,
        "onnx.version_converter": corpus.stock_convert,
    }
    results = {}
    categories: dict[str, collections.Counter] = {}
    for name, convert in tools.items():
        began = time.perf_counter()
        reasons: collections.Counter = collections.Counter()
        kinds: collections.Counter = collections.Counter()
        passed = 0
        for case in runnable:
            outcome = corpus.evaluate(case, convert, opset)
            if outcome.ok:
                passed += 1
            else:
                reasons[corpus.reason_group(outcome)] += 1
                kinds[corpus.category(outcome)] += 1
        results[name] = (passed, reasons, time.perf_counter() - began)
        categories[name] = kinds
    print(
        f"\n== to opset {opset}: {len(cases)} cases above it, {len(runnable)} that onnxruntime "
        f"runs correctly as given ({time.perf_counter() - started:.0f} s)"
    )
    width = max(len(n) for n in tools)
    for name, (passed, _, seconds) in results.items():
        print(
            f"  {name:<{width}}  {passed:5d} / {len(runnable)}  "
            f"{100.0 * passed / max(1, len(runnable)):5.1f} %   ({seconds:.0f} s)"
        )
    print("  failures by kind:")
    kinds = sorted({k for counter in categories.values() for k in counter})
    print(f"    {'':<36}" + "".join(f"{n:>26}" for n in tools))
    for kind in kinds:
        print(f"    {kind:<36}" + "".join(f"{categories[n][kind]:>26}" for n in tools))
    for name, (passed, reasons, _) in results.items():
        failed = len(runnable) - passed
        print(f"  failures of {name} ({failed}), by reason:")
        for reason, count in reasons.most_common(top):
            print(f"    {count:5d}  {reason}")
        rest = sum(reasons.values()) - sum(c for _, c in reasons.most_common(top))
        if rest:
            print(f"    {rest:5d}  ... {len(reasons) - top} other reasons")
    return {name: passed / max(1, len(runnable)) for name, (passed, _, _) in results.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opsets", type=int, nargs="+", default=[13, 15, 17])
    parser.add_argument("--stride", type=int, default=1, help="take every n-th case (by name)")
    parser.add_argument("--failures", type=int, default=12, help="reasons listed per tool")
    args = parser.parse_args(argv)
    corpus = _corpus_module()
    started = time.perf_counter()
    corpus.all_cases()
    print(
        f"onnx node test corpus: {len(corpus.all_cases())} cases with one data set "
        f"({time.perf_counter() - started:.0f} s to build)"
    )
    summary = {opset: run(opset, corpus, args.stride, args.failures) for opset in args.opsets}
    print("\n== summary (success ratio)")
    names = list(next(iter(summary.values())))
    print("  opset  " + "  ".join(f"{n:>24}" for n in names))
    for opset, ratios in summary.items():
        print(f"  {opset:5d}  " + "  ".join(f"{100 * ratios[n]:23.1f}%" for n in names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
