"""downgrade-ir on onnx's node test corpus (see _corpus.py for what counts as a success).

The default run takes every tenth case above opset 13 (by name) and converts it to 13; the
whole corpus, to 13, 15 and 17, runs with the slow tests. Either way at least 95 % of the cases
onnxruntime can check must come out right, and every other case must be refused with a
DowngradeError that names the operator and the versions.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys

import pytest

GOAL = 0.95
REFUSAL = re.compile(r"^DowngradeError: .*no down-conversion for \w+ from \d+ to \d+")


def _load_corpus():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_corpus.py")
    spec = importlib.util.spec_from_file_location("hcc_downgrade_corpus", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpus():
    return _load_corpus()


def _measure(corpus, cases, opset: int):
    runnable = [case for case in cases if corpus.original_runs(case)]
    outcomes = {case.name: corpus.evaluate(case, corpus.hcc_convert, opset) for case in runnable}
    return runnable, outcomes


def _check(runnable, outcomes) -> None:
    assert runnable, "no case of the corpus could be checked"
    failed = {name: o for name, o in outcomes.items() if not o.ok}
    unclear = {
        name: f"{o.stage}: {o.reason}"
        for name, o in failed.items()
        if o.stage != "convert" or not REFUSAL.match(o.reason)
    }
    assert unclear == {}, "failures other than a clear refusal"
    ratio = 1 - len(failed) / len(runnable)
    assert ratio >= GOAL, f"{ratio:.1%} converted ({len(failed)} of {len(runnable)} refused)"


def test_every_tenth_case_to_opset_13(corpus):
    cases = sorted(corpus.cases_above(13), key=lambda c: c.name)[::10]
    _check(*_measure(corpus, cases, 13))


@pytest.mark.slow
@pytest.mark.parametrize("opset", [13, 15, 17])
def test_whole_corpus(corpus, opset):
    _check(*_measure(corpus, corpus.cases_above(opset), opset))
