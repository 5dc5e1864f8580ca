"""inline-functions on functions hcc did not write: onnx's own function definitions.

The node test corpus of onnx 1.23 holds no model with model-local functions; its ``_expanded``
cases are operators that ONNX defines by a function, with that function already inlined. Here
each such case is turned back into a call: the operator's node calls a model-local function
whose body is the operator's function definition from its schema, unchanged (attribute
references, defaults and context-dependent bodies included). hcc inlines it, and onnxruntime
must give bit-equal results: against the model with the function, or, where onnxruntime cannot
load such a function (it needs every function input used), against the corpus's expanded model,
which is onnx's own inlining of the same body.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import onnx
import onnxruntime as ort
from onnx import FunctionProto, TypeProto, helper, numpy_helper

import hcc.ir as ir
from hcc.ir.verifier import verify
from hcc.passes import run

DOMAIN = "corpus.functions"


@functools.lru_cache(maxsize=1)
def _cases() -> dict:
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {case.name: case for case in collect_testcases(None)}


def function_cases() -> list[tuple[str, onnx.ModelProto, onnx.ModelProto, list]]:
    """(name, model calling a local function, onnx's expanded model, data sets) for every
    expanded case whose operator has a function for the case's opset."""
    cases = _cases()
    made = []
    for name in sorted(cases):
        if "_expanded" not in name:
            continue
        base = cases.get(name.split("_expanded")[0])
        if base is None or base.model is None or len(base.model.graph.node) != 1:
            continue
        model = _as_function_call(base.model, cases[name].model)
        if model is not None:
            made.append((name, model, cases[name].model, base.data_sets))
    return made


def _as_function_call(model: onnx.ModelProto, expanded: onnx.ModelProto):
    node = model.graph.node[0]
    version = _onnx_version(expanded)
    try:
        schema = onnx.defs.get_schema(node.op_type, version, node.domain)
    except onnx.defs.SchemaError:
        return None
    body = _function_body(schema, node, model, version)
    if body is None:
        return None
    call = onnx.NodeProto()
    call.CopyFrom(node)
    # The operator's defaults become the call's attributes, as the corpus does before expanding:
    # a local function's reference to an attribute the call lacks means "no attribute".
    given = {a.name for a in call.attribute}
    for attr_name, attr in schema.attributes.items():
        if attr_name not in given and attr.default_value.name:
            call.attribute.append(attr.default_value)
    call.domain = DOMAIN
    body.domain, body.name = DOMAIN, node.op_type
    imports = {o.domain: o.version for o in expanded.opset_import}
    imports[""] = version
    del body.opset_import[:]
    body.opset_import.extend(helper.make_opsetid(d, v) for d, v in sorted(imports.items()))
    graph = onnx.GraphProto()
    graph.CopyFrom(model.graph)
    del graph.node[:]
    graph.node.append(call)
    opsets = [helper.make_opsetid(d, v) for d, v in sorted(imports.items())]
    opsets.append(helper.make_opsetid(DOMAIN, 1))
    made = helper.make_model(
        graph, opset_imports=opsets, functions=[body], producer_name="hcc-tests"
    )
    made.ir_version = max(model.ir_version, 8)
    return made


def _onnx_version(model: onnx.ModelProto) -> int:
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def _function_body(schema, node, model, version) -> FunctionProto | None:
    body = FunctionProto()
    if version in schema.function_opset_versions:
        body.ParseFromString(schema.get_function_with_opset_version(version))
        return body
    if version in schema.context_dependent_function_opset_versions:
        types = {v.name: v.type for v in model.graph.input}
        inputs = [(types.get(n) or TypeProto()).SerializeToString() for n in node.input]
        body.ParseFromString(
            schema.get_context_dependent_function_with_opset_version(
                version, node.SerializeToString(), inputs
            )
        )
        return body
    return None


def _feeds(session, inputs) -> dict:
    """The case's inputs as onnxruntime takes them (arrays, lists for sequences)."""

    def convert(value):
        if isinstance(value, onnx.TensorProto):
            return numpy_helper.to_array(value)
        if isinstance(value, list):
            return [convert(v) for v in value]
        return None if value is None else np.asarray(value)

    return {i.name: convert(x) for i, x in zip(session.get_inputs(), inputs)}


def _same(a, b) -> bool:
    """Bit-equal results (NaN equal to NaN), sequences element by element."""
    if isinstance(a, list) or isinstance(b, list):
        return (
            isinstance(a, list)
            and isinstance(b, list)
            and len(a) == len(b)
            and all(_same(x, y) for x, y in zip(a, b))
        )
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


def _session(model: onnx.ModelProto):
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the corpus makes onnxruntime chatty
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def _reference(model, expanded, inputs):
    """onnxruntime's session and results for the case, or None if it cannot run it."""
    for candidate in (model, expanded):
        try:
            session = _session(candidate)
            feeds = _feeds(session, inputs)
            return feeds, session.run(None, feeds)
        except Exception:  # noqa: BLE001 - onnxruntime's kernels and types are limited
            continue
    return None


def test_inlining_onnx_function_definitions_gives_equal_results():
    checked, failures = 0, []
    for name, model, expanded, data_sets in function_cases():
        reference = _reference(model, expanded, data_sets[0][0])
        if reference is None:
            continue
        feeds, expected = reference
        try:
            inlined = run(ir.from_onnx(model), "inline-functions")
            verify(inlined)
            assert inlined.functions == {} and DOMAIN not in inlined.opset_imports
            proto = ir.to_onnx(inlined)
            onnx.checker.check_model(proto)
            actual = _session(proto).run(None, feeds)
        except Exception as error:  # noqa: BLE001 - collect every case, report them together
            failures.append(f"{name}: {type(error).__name__}: {str(error).splitlines()[0]}")
            continue
        if not _same(list(actual), list(expected)):
            failures.append(f"{name}: results differ")
        checked += 1
    assert failures == []
    # About 400 of the corpus's ~470 function cases run in onnxruntime 1.2x.
    assert checked >= 350, checked
