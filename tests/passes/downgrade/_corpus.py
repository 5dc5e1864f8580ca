"""onnx's node test corpus as a yardstick for opset down-conversion.

Each case of ``onnx.backend.test.case.node`` is a one-node model (or its function expansion) with
inputs and expected outputs. A conversion counts as correct when the converted model really is
at the target opset and IR version, passes the full checker, runs in onnxruntime and reproduces
the expected outputs. Cases whose original model
onnxruntime cannot run, or runs to other outputs, say nothing about the converter and are left
out of the count.

Shared by tests/passes/downgrade and benchmarks/downgrade.py (which loads this file by path).
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx

RTOL = 1e-3
ATOL = 1e-5


@dataclass
class Case:
    name: str
    model: onnx.ModelProto
    inputs: list
    outputs: list

    @property
    def opset(self) -> int | None:
        return default_opset(self.model)


@dataclass
class Outcome:
    ok: bool
    stage: str = ""  # convert | version | check | run | compare
    reason: str = ""  # short, groupable


def default_opset(model: onnx.ModelProto) -> int | None:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return entry.version
    return None


@functools.lru_cache(maxsize=1)
def all_cases() -> tuple[Case, ...]:
    """Every node test case that has one data set (about 1900; ~15 s to build)."""
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        collected = collect_testcases(None)
    cases = []
    for case in collected:
        if len(case.data_sets) != 1:
            continue
        inputs, outputs = case.data_sets[0]
        cases.append(Case(case.name, case.model, list(inputs), list(outputs)))
    return tuple(cases)


def cases_above(opset: int) -> list[Case]:
    return [c for c in all_cases() if (c.opset or 0) > opset]


def _feeds(model: onnx.ModelProto, inputs: list) -> dict:
    initializers = {t.name for t in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in initializers]
    return dict(zip(names, inputs))


def run(model: onnx.ModelProto, inputs: list) -> list:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return session.run(None, _feeds(model, inputs))


def _same(got, expected) -> bool:
    if isinstance(expected, (list, tuple)):
        return (
            isinstance(got, (list, tuple))
            and len(got) == len(expected)
            and all(_same(g, e) for g, e in zip(got, expected))
        )
    if expected is None:
        return got is None
    got = np.asarray(got)
    expected = np.asarray(expected)
    if got.shape != expected.shape:
        return False
    if expected.dtype.kind in "OUS" or got.dtype.kind in "OUS":
        return got.tolist() == expected.tolist()
    if got.dtype != expected.dtype:
        return False
    try:
        np.testing.assert_allclose(
            got.astype(np.float64),
            expected.astype(np.float64),
            rtol=RTOL,
            atol=ATOL,
            equal_nan=True,
        )
    except (AssertionError, TypeError, ValueError):
        return False
    return True


def matches(outputs: list, expected: list) -> bool:
    return len(outputs) == len(expected) and all(_same(g, e) for g, e in zip(outputs, expected))


def original_runs(case: Case) -> bool:
    """onnxruntime runs the unconverted model to the expected outputs."""
    try:
        return matches(run(case.model, case.inputs), case.outputs)
    except Exception:
        return False


def _short(error: BaseException) -> str:
    text = " ".join(str(error).split())
    text = re.sub(r"\[ONNXRuntimeError\] : \d+ : \w+ : ", "", text)
    return text[:160]


def target_ir(model: onnx.ModelProto, opset: int) -> int:
    """The IR version a conversion to ``opset`` must reach: the lowest the target opset and the
    model's features allow (7 for opset 13 and 14, 8 from 15; more for functions, float8, ...),
    never above the model's own."""
    import hcc.ir
    from hcc.ir.onnx import schemas
    from hcc.passes.downgrade import lowest_ir

    ir_version = max(schemas.ir_version_for_opset(opset), lowest_ir(hcc.ir.from_onnx(model)))
    return min(ir_version, model.ir_version, 10)


def evaluate(
    case: Case, convert: Callable[[onnx.ModelProto, int, int], onnx.ModelProto], opset: int
) -> Outcome:
    """Convert to ``opset`` (and its IR version), then check the versions, check, run and
    compare one case."""
    ir_version = target_ir(case.model, opset)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            converted = convert(case.model, opset, ir_version)
    except Exception as error:  # a converter's refusal is a failure like any other
        return Outcome(False, "convert", f"{type(error).__name__}: {_short(error)}")
    reached = (default_opset(converted), converted.ir_version)
    if reached != (opset, ir_version):
        return Outcome(
            False,
            "version",
            f"opset {reached[0]} and IR {reached[1]}, not opset {opset} and IR {ir_version}",
        )
    try:
        onnx.checker.check_model(converted, full_check=True)
    except Exception as error:
        return Outcome(False, "check", _short(error))
    try:
        got = run(converted, case.inputs)
    except Exception as error:
        return Outcome(False, "run", _short(error))
    if not matches(got, case.outputs):
        return Outcome(False, "compare", "outputs differ from the expected data")
    return Outcome(True)


# -- the two converters compared --------------------------------------------------------------


def hcc_convert(model: onnx.ModelProto, opset: int, ir_version: int) -> onnx.ModelProto:
    """hcc's downgrade-ir to ``opset`` and ``ir_version``."""
    import hcc.passes

    return hcc.passes.run(model, f"downgrade-ir(ir={ir_version},opset={opset})")


def stock_convert(model: onnx.ModelProto, opset: int, ir_version: int) -> onnx.ModelProto:
    """``onnx.version_converter`` to ``opset``; it keeps the IR version as it is, so the IR
    version is then set as a user would (the checker judges whether the model fits it)."""
    import onnx.version_converter

    converted = onnx.version_converter.convert_version(model, opset)
    converted.ir_version = ir_version
    return converted


def reason_group(outcome: Outcome) -> str:
    """A failure reason with the details that differ per case (versions, names) left out."""
    text = outcome.reason
    patterns = [
        (r"no down-conversion for (\w+)", "no down-conversion for {}"),
        (r"No Adapter (?:To|From) Version \$?\d+ for (\w+)", "no adapter for {}"),
        (r"No Previous Version of (\w+)", "no previous version of {}"),
        (r"No initializer or constant input to", "axes not constant (no attribute form)"),
        (r"type_restriction.*isUnallowed", "a type the target lacks"),
    ]
    for pattern, label in patterns:
        match = re.search(pattern, text, re.IGNORECASE)
        if match:
            return f"{outcome.stage}: {label.format(*match.groups())}"
    text = text.split("failed: ", 1)[-1]  # onnx's C++ assertions: keep the message
    text = re.sub(r"'[^']*'|\"[^\"]*\"|`[^`]*`", "'…'", text)
    text = re.sub(r"\d+", "N", text)
    return f"{outcome.stage}: {text[:90]}"


def category(outcome: Outcome) -> str:
    """One of a few kinds of failure, comparable between tools."""
    group = reason_group(outcome)
    if outcome.stage == "convert":
        if re.search(r"no (down-conversion|adapter|previous version)|not constant", group):
            return "refused: no conversion for an op"
        return "refused or crashed: other"
    return {
        "version": "not at the target versions",
        "check": "invalid result (checker)",
        "run": "onnxruntime cannot run the result",
        "compare": "wrong outputs",
    }[outcome.stage]


def subset(cases: list[Case], per_op: int = 2) -> list[Case]:
    """A deterministic sample that covers every operator: the first ``per_op`` cases of each
    (by case name), the operator being the first node's."""
    taken: dict[str, int] = {}
    chosen = []
    for case in sorted(cases, key=lambda c: c.name):
        op = case.model.graph.node[0].op_type if len(case.model.graph.node) else ""
        if taken.get(op, 0) < per_op:
            taken[op] = taken.get(op, 0) + 1
            chosen.append(case)
    return chosen
