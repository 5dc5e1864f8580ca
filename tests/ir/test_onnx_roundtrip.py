"""Lossless ONNX import/export: ``to_onnx(from_onnx(p)) == p`` for onnx's own test corpus, for
hand-built protos that use the rarely seen fields, and for a real GPT-2 export."""

from __future__ import annotations

import glob
import os
import warnings

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

import hcc.ir as ir
from hcc.ir.onnx import ProtoTensor, from_onnx, to_onnx

from _models import gpt2_inputs

# -- helpers ------------------------------------------------------------------------------------


def roundtrip(proto: onnx.ModelProto) -> onnx.ModelProto:
    return to_onnx(from_onnx(proto))


def assert_lossless(proto: onnx.ModelProto) -> ir.Model:
    model = from_onnx(proto)
    back = to_onnx(model)
    if back != proto:
        assert str(back) == str(proto)  # shows a readable diff (text format shows presence too)
    assert back == proto
    assert back.SerializeToString() == proto.SerializeToString()
    return model


@pytest.fixture(scope="session")
def node_cases():
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return collect_testcases(None)


# -- onnx's node test corpus --------------------------------------------------------------------


def test_every_node_case_roundtrips(node_cases):
    assert len(node_cases) > 1500
    failures = []
    for case in node_cases:
        proto = case.model
        back = roundtrip(proto)
        if back != proto or back.SerializeToString() != proto.SerializeToString():
            failures.append(case.name)
    assert failures == [], f"{len(failures)} of {len(node_cases)} cases differ: {failures[:10]}"


def _ort_session(blob: bytes):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4
    return ort.InferenceSession(blob, options, providers=["CPUExecutionProvider"])


def _compare(a, b, arrays) -> bool:
    """Structural comparison of outputs (tensors, sequences of tensors, maps, None)."""
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return (
            isinstance(a, (list, tuple))
            and isinstance(b, (list, tuple))
            and len(a) == len(b)
            and all(_compare(x, y, arrays) for x, y in zip(a, b))
        )
    if isinstance(a, dict) or isinstance(b, dict):
        return (
            isinstance(a, dict)
            and isinstance(b, dict)
            and a.keys() == b.keys()
            and all(_compare(a[k], b[k], arrays) for k in a)
        )
    if a is None or b is None:
        return a is None and b is None
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype == object or b.dtype == object:
        return a.shape == b.shape and a.tolist() == b.tolist()
    return arrays(a, b)


def _close_arrays(a, b) -> bool:
    try:
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
    except (AssertionError, TypeError, ValueError):
        return False
    return True


def _same_outputs(got, want) -> bool:
    return _compare(list(got), list(want), _close_arrays)


def _bitwise_equal(a, b) -> bool:
    return _compare(
        a, b, lambda x, y: x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
    )


def _attempt(action):
    """``("ok", result)`` or ``("error", "ExceptionType: message")``: how a call ended."""
    try:
        return "ok", action()
    except Exception as error:  # noqa: BLE001 - any failure is an outcome to compare
        return "error", f"{type(error).__name__}: {error}"


def _once(action):
    """A call made at most once, when first wanted: ``_attempt(action)`` remembered."""
    outcome = []

    def get():
        if not outcome:
            outcome.append(_attempt(action))
        return outcome[0]

    return get


def _run_original(original, feeds):
    outcome, session = original()
    if outcome == "error":
        raise RuntimeError(f"the original fails to load: {session}")
    return session.run(None, feeds)


def _fails_alike(ours, original, what: str) -> str | None:
    """None when the round-tripped model failed exactly as the original; else the difference.

    The round trip is lossless, so onnxruntime must refuse both with the same message; a
    round-tripped model that fails where the original does not is a defect, never a skip.
    """
    if original[0] == "ok":
        return f"only the round-tripped model fails to {what}: {ours[1]}"
    if original[1] != ours[1]:
        return f"the two fail to {what} differently: {ours[1]!r} vs {original[1]!r}"
    return None


def _run_cases_in_onnxruntime(cases) -> int:
    """The round-tripped model gives the expected outputs; where onnxruntime itself disagrees
    with onnx's expectation, it must at least agree bit for bit with the original model. A case
    onnxruntime cannot load or run must fail the same way for the original. Returns how many
    data sets ran."""
    ran = 0
    failures = []
    for case in cases:
        loaded = _attempt(lambda: _ort_session(roundtrip(case.model).SerializeToString()))
        # Most cases load and match onnx's expectation: the original is loaded only when needed.
        original = _once(lambda: _ort_session(case.model.SerializeToString()))
        if loaded[0] == "error":
            difference = _fails_alike(loaded, original(), "load")
            if difference:
                failures.append(f"{case.name}: {difference}")
            continue
        session = loaded[1]
        names = [i.name for i in session.get_inputs()]
        for inputs, expected in case.data_sets:
            feeds = dict(zip(names, inputs, strict=True))
            got = _attempt(lambda: session.run(None, feeds))
            want = _once(lambda: _run_original(original, feeds))
            if got[0] == "error":
                difference = _fails_alike(got, want(), "run")
                if difference:
                    failures.append(f"{case.name}: {difference}")
                break
            ran += 1
            if _same_outputs(got[1], expected):
                continue
            if want()[0] == "error" or not _bitwise_equal(list(got[1]), list(want()[1])):
                failures.append(case.name)
    assert failures == []
    return ran


# Running onnxruntime on every case takes 20-40 s; by default every third case runs.
def test_node_cases_run_the_same_in_onnxruntime(node_cases):
    assert _run_cases_in_onnxruntime(node_cases[::3]) > 400


@pytest.mark.slow
def test_all_node_cases_run_the_same_in_onnxruntime(node_cases):
    assert _run_cases_in_onnxruntime(node_cases) > 1400


# -- real models shipped with onnx --------------------------------------------------------------

_DATA = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
_REAL_MODELS = sorted(
    p
    for sub in ("light", "real", "pytorch-converted", "pytorch-operator", "simple")
    for p in glob.glob(os.path.join(_DATA, sub, "**", "*.onnx"), recursive=True)
)


def test_onnx_ships_real_models():
    assert len(_REAL_MODELS) > 50


@pytest.mark.parametrize(
    "path", _REAL_MODELS, ids=[os.path.relpath(p, _DATA) for p in _REAL_MODELS]
)
def test_real_model_roundtrips(path):
    proto = onnx.load(path, load_external_data=False)
    assert_lossless(proto)
    # Through the file API as well.
    assert to_onnx(ir.load(path)) == proto


def _test_data(model_dir: str) -> tuple[list, list]:
    """The inputs and expected outputs of a shipped model's first test data set."""
    data_dir = sorted(glob.glob(os.path.join(model_dir, "test_data_set_*")))[0]
    found = []
    for kind in ("input", "output"):
        arrays = []
        for name in sorted(glob.glob(os.path.join(data_dir, f"{kind}_*.pb"))):
            tensor = TensorProto()
            with open(name, "rb") as f:
                tensor.ParseFromString(f.read())
            arrays.append(numpy_helper.to_array(tensor))
        found.append(arrays)
    return found[0], found[1]


def test_real_model_runs_with_its_test_data():
    """A shipped model with test_data_set_*: the round-tripped model reproduces its outputs."""
    candidates = [
        p for p in _REAL_MODELS if glob.glob(os.path.join(os.path.dirname(p), "test_data_set_*"))
    ]
    assert candidates
    checked = 0
    failures = []
    for path in candidates[:20]:
        proto = onnx.load(path)
        loaded = _attempt(lambda: _ort_session(roundtrip(proto).SerializeToString()))
        original = _once(lambda: _ort_session(proto.SerializeToString()))
        if loaded[0] == "error":
            failures.append(_fails_alike(loaded, original(), "load"))
            continue
        inputs, expected = _test_data(os.path.dirname(path))
        session = loaded[1]
        feeds = {i.name: v for i, v in zip(session.get_inputs(), inputs, strict=True)}
        got = _attempt(lambda: session.run(None, feeds))
        if got[0] == "error":
            failures.append(
                _fails_alike(got, _attempt(lambda: _run_original(original, feeds)), "run")
            )
            continue
        assert _same_outputs(got[1], expected), path
        checked += 1
    assert [f for f in failures if f] == []
    assert checked >= 3


# -- hand-built protos for the rare fields ------------------------------------------------------


def _tensor_type(elem, shape, denotation=None):
    tp = helper.make_tensor_type_proto(elem, shape)
    if denotation is not None:
        tp.denotation = denotation
    return tp


def _rare_model() -> onnx.ModelProto:
    """One model that uses (almost) every field of onnx.proto."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    x.doc_string = "the input"
    helper.set_metadata_props(x, {"role": "input"})
    # Dims: value, param, neither; one with a denotation.
    x.type.tensor_type.shape.dim.add()
    x.type.tensor_type.shape.dim[0].denotation = "DATA_BATCH"
    x.type.denotation = "TENSOR"
    w = numpy_helper.from_array(np.arange(16, dtype=np.float32).reshape(4, 4), "w")
    w.doc_string = "weights"
    helper.set_metadata_props(w, {"origin": "test"})
    # A sparse initializer.
    values = numpy_helper.from_array(np.array([1.0, 2.0], np.float32), "sp")
    indices = numpy_helper.from_array(np.array([1, 5], np.int64), "sp_indices")
    sparse = helper.make_sparse_tensor(values, indices, [2, 4])

    outer = helper.make_node("MatMul", ["x", "w"], ["mm"], name="mm", domain="")
    helper.set_metadata_props(outer, {"hcc.tag": "/M/Layer.0", "hcc.module": "layers.0"})
    outer.doc_string = ""  # present but default
    # device_configurations
    config = outer.device_configurations.add()
    config.configuration_id = "cfg"
    config.pipeline_stage = 1
    spec = config.sharding_spec.add()
    spec.tensor_name = "mm"
    spec.device.extend([0, 1])
    spec.sharded_dim.add(axis=0).simple_sharding.add(dim_param="batch", num_shards=2)

    # If whose branches read the outer value "mm" (lexical scoping).
    then_graph = helper.make_graph(
        [helper.make_node("Relu", ["mm"], ["then_out"])],
        "then",
        [],
        [helper.make_tensor_value_info("then_out", TensorProto.FLOAT, None)],
    )
    else_graph = helper.make_graph(
        [helper.make_node("Neg", ["mm"], ["else_out"])],
        "else",
        [],
        [helper.make_tensor_value_info("else_out", TensorProto.FLOAT, None)],
    )
    cond = helper.make_node(
        "Constant", [], ["cond"], value=helper.make_tensor("c", TensorProto.BOOL, [], [True])
    )
    if_node = helper.make_node(
        "If", ["cond"], ["if_out"], then_branch=then_graph, else_branch=else_graph
    )
    # Loop whose body reads outer "w".
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("MatMul", ["acc_in", "w"], ["acc_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, None),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, None),
        ],
    )
    trip = helper.make_node(
        "Constant", [], ["trip"], value=helper.make_tensor("t", TensorProto.INT64, [], [2])
    )
    loop = helper.make_node("Loop", ["trip", "", "if_out"], ["loop_out"], body=body)
    # A function call with an empty input and an empty output.
    call = helper.make_node("Fn", ["loop_out", ""], ["fn_out", ""], domain="local", alpha=2.0)
    # Every attribute kind.
    kinds = helper.make_node(
        "Custom",
        ["fn_out"],
        ["y"],
        domain="custom",
        f=0.5,
        i=0,
        s=b"\xff\xfe not utf-8",
        t=helper.make_tensor("tt", TensorProto.INT32, [2], [1, 2]),
        g=helper.make_graph([], "empty", [], []),
        floats=[1.0, 2.5],
        ints=[1, 2, 3],
        strings=["a", "b"],
        tensors=[helper.make_tensor("t1", TensorProto.FLOAT, [1], [1.0])],
        graphs=[helper.make_graph([], "g1", [], [])],
        sparse_tensor=sparse,
        tp=_tensor_type(TensorProto.FLOAT, [1, None]),
    )
    kinds.attribute.append(
        helper.make_attribute("sparse_list", [sparse], attr_type=onnx.AttributeProto.SPARSE_TENSORS)
    )
    kinds.attribute.append(
        helper.make_attribute(
            "types",
            [
                helper.make_sequence_type_proto(_tensor_type(TensorProto.INT64, [3])),
                helper.make_map_type_proto(TensorProto.STRING, _tensor_type(TensorProto.FLOAT, [])),
            ],
        )
    )
    # An attribute of type UNDEFINED as old models had, and one with no type field at all.
    undefined = kinds.attribute.add()
    undefined.name = "undefined"
    undefined.type = onnx.AttributeProto.UNDEFINED
    old_style = kinds.attribute.add()
    old_style.name = "old_style"
    old_style.i = 7

    graph = helper.make_graph(
        [outer, cond, if_node, trip, loop, call, kinds],
        "main",
        [x],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        initializer=[w],
        doc_string="main graph",
        sparse_initializer=[sparse],
    )
    graph.value_info.extend(
        [
            helper.make_tensor_value_info("mm", TensorProto.FLOAT, ["batch", 4]),
            helper.make_tensor_value_info("not_in_graph", TensorProto.FLOAT, [1]),
            helper.make_value_info(
                "opaque", onnx.TypeProto(opaque_type=onnx.TypeProto.Opaque(domain="d", name="n"))
            ),
            helper.make_value_info(
                "sparse_t", helper.make_sparse_tensor_type_proto(TensorProto.FLOAT, [2, 4])
            ),
            helper.make_value_info(
                "optional_seq",
                helper.make_optional_type_proto(
                    helper.make_sequence_type_proto(_tensor_type(TensorProto.FLOAT, [2]))
                ),
            ),
            helper.make_value_info("empty_type", onnx.TypeProto()),
        ]
    )
    annotation = graph.quantization_annotation.add(tensor_name="mm")
    annotation.quant_parameter_tensor_names.add(key="SCALE_TENSOR", value="scale")
    helper.set_metadata_props(graph, {"graph_key": "graph_value"})

    fn_body = [
        helper.make_node("Mul", ["a", "scale"], ["r"]),
        helper.make_node("Constant", [], ["scale"], value_float=0.0),
    ]
    fn_body[1].attribute[0].ref_attr_name = "alpha"
    fn_body[1].attribute[0].ClearField("f")
    helper.set_metadata_props(fn_body[0], {"hcc.tag": "/Fn", "note": "x"})
    function = helper.make_function(
        "local",
        "Fn",
        ["a", "b"],
        ["r", "unused"],
        fn_body,
        [helper.make_opsetid("", 18)],
        attributes=["beta"],
        attribute_protos=[helper.make_attribute("alpha", 1.0)],
        doc_string="a function",
    )
    function.value_info.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, None))
    helper.set_metadata_props(function, {"fn_key": "fn_value"})
    function.overload = ""

    model = helper.make_model(
        graph,
        opset_imports=[
            helper.make_opsetid("", 18),
            helper.make_opsetid("local", 1),
            helper.make_opsetid("custom", 1),
        ],
        functions=[function],
        producer_name="hcc-test",
        doc_string="model doc",
    )
    model.model_version = 0  # present but default
    helper.set_metadata_props(model, {"model_key": "model_value"})
    training = model.training_info.add()
    training.algorithm.CopyFrom(helper.make_graph([], "algorithm", [], []))
    training.update_binding.add(key="w", value="w_new")
    device = model.configuration.add(name="mesh", num_devices=2)
    device.device.extend(["cpu:0", "cpu:1"])
    return model


def test_rare_fields_roundtrip():
    model = assert_lossless(_rare_model())
    graph = model.graph
    # Common fields are real IR data.
    assert graph.doc_string == "main graph"
    assert graph.metadata_props == {"graph_key": "graph_value"}
    assert model.metadata_props == {"model_key": "model_value"}
    x = graph.inputs[0]
    assert x.doc_string == "the input" and x.metadata_props == {"role": "input"}
    assert x.type.shape == ("batch", 4, None)
    assert x.type.dim_denotations == ("DATA_BATCH", None, None)
    assert x.type.denotation == "TENSOR"
    w = graph.initializers["w"]
    assert isinstance(w.const_value, ProtoTensor)
    assert w.const_value.metadata_props == {"origin": "test"}
    assert len(graph.sparse_initializers) == 1
    by_name = {v.name: v for v in graph.value_info}
    assert isinstance(by_name["opaque"].type, ir.OpaqueType)
    assert isinstance(by_name["sparse_t"].type, ir.SparseTensorType)
    assert isinstance(by_name["optional_seq"].type, ir.OptionalType)
    assert by_name["not_in_graph"].producer is None
    function = model.functions[("local", "Fn", "")]
    assert function.attributes == ["beta"]
    assert function.attribute_defaults["alpha"].value == 1.0
    assert function.metadata_props == {"fn_key": "fn_value"}
    ref = function.graph.nodes[1].attributes["value_float"]
    assert ref.is_ref and ref.ref_attr_name == "alpha"
    assert function.graph.nodes[0].scope == ir.Scope.from_tag("/Fn")
    kinds = graph.nodes[-1]
    assert kinds.attr("s") == b"\xff\xfe not utf-8"
    assert kinds.attr("strings") == ["a", "b"]
    assert kinds.attributes["old_style"].type == ir.AttrType.INT
    assert kinds.attributes["old_style"].value == 7
    assert kinds.attributes["undefined"].type == ir.AttrType.UNDEFINED
    call = graph.nodes[5]
    assert call.inputs[1] is None and call.outputs[1].name == ""


def test_outer_scope_values_are_shared():
    model = from_onnx(_rare_model())
    graph = model.graph
    mm = graph.nodes[0].outputs[0]
    if_node = graph.nodes[2]
    then_relu = if_node.attributes["then_branch"].value.nodes[0]
    else_neg = if_node.attributes["else_branch"].value.nodes[0]
    assert then_relu.inputs[0] is mm and else_neg.inputs[0] is mm
    assert {id(n) for n in mm.consumers()} >= {id(then_relu), id(else_neg)}
    assert if_node.attributes["then_branch"].value.parent is if_node
    loop = graph.nodes[4]
    body = loop.attributes["body"].value
    assert body.nodes[1].inputs[1] is graph.initializers["w"]
    assert loop.inputs[1] is None


def test_node_scope_from_tag():
    model = from_onnx(_rare_model())
    node = model.graph.nodes[0]
    assert node.scope == ir.Scope.from_tag("/M/Layer.0", "layers.0")
    assert node.scope.module_path == "layers.0"
    assert model.graph.nodes[1].scope.is_unknown


def test_invalid_tag_leaves_unknown_scope():
    node = helper.make_node("Relu", ["x"], ["y"])
    helper.set_metadata_props(node, {"hcc.tag": "no-leading-slash"})
    proto = helper.make_model(
        helper.make_graph(
            [node],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        )
    )
    model = assert_lossless(proto)
    assert model.graph.nodes[0].scope.is_unknown


def test_field_presence_of_defaults():
    def model_with(node):
        return helper.make_model(
            helper.make_graph(
                [node],
                "g",
                [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
            )
        )

    unset = helper.make_node("Relu", ["x"], ["y"])
    explicit = helper.make_node("Relu", ["x"], ["y"])
    explicit.domain = ""
    explicit.name = ""
    explicit.overload = ""
    assert model_with(unset) != model_with(explicit)
    assert_lossless(model_with(unset))
    assert_lossless(model_with(explicit))
    # Metadata entries with unset key or value, and repeated keys.
    odd = helper.make_node("Relu", ["x"], ["y"])
    odd.metadata_props.add(key="k")
    odd.metadata_props.add(value="v")
    odd.metadata_props.add(key="k", value="again")
    assert_lossless(model_with(odd))
    # ValueInfo doc_string set to '' and a graph without a name.
    proto = model_with(unset)
    proto.graph.input[0].doc_string = ""
    proto.graph.ClearField("name")
    proto.opset_import.add(domain="", version=18)  # a repeated domain
    assert_lossless(proto)


def test_old_ir_initializer_that_is_also_an_input():
    w = numpy_helper.from_array(np.ones((2,), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2]),
            helper.make_tensor_value_info("w", TensorProto.FLOAT, [2]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        initializer=[w],
    )
    proto = helper.make_model(graph, ir_version=3, opset_imports=[helper.make_opsetid("", 8)])
    model = assert_lossless(proto)
    g = model.graph
    assert g.inputs[1] is g.initializers["w"]
    assert g.nodes[0].inputs[1] is g.inputs[1]


def test_weird_models_with_duplicated_names():
    t1 = numpy_helper.from_array(np.ones((1,), np.float32), "c")
    t2 = numpy_helper.from_array(np.zeros((1,), np.float32), "c")
    nodes = [
        helper.make_node("Relu", ["x"], ["v"]),
        helper.make_node("Neg", ["v"], ["v"]),  # redefines v
        helper.make_node("Add", ["v", "c"], ["y"], alpha=1, beta=2),
    ]
    nodes[2].attribute.append(helper.make_attribute("alpha", 3))  # repeated attribute name
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [1]),
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"]),  # listed twice
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1]),  # an input as output
        ],
        initializer=[t1, t2],
    )
    graph.value_info.append(helper.make_tensor_value_info("v", TensorProto.FLOAT, [1]))
    graph.value_info.append(helper.make_tensor_value_info("v", TensorProto.DOUBLE, [1]))
    proto = helper.make_model(graph)
    proto.functions.extend([helper.make_function("d", "f", [], [], [], [])] * 2)
    model = assert_lossless(proto)
    g = model.graph
    first, second = g.nodes[0].outputs[0], g.nodes[1].outputs[0]
    assert first is not second and g.nodes[1].inputs[0] is first
    assert g.nodes[2].inputs[0] is second


def test_unsorted_graph_and_dangling_names():
    nodes = [
        helper.make_node("Relu", ["late"], ["y"]),
        helper.make_node("Neg", ["x"], ["late"]),
        helper.make_node("Add", ["x", "nowhere"], ["z"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = assert_lossless(helper.make_model(graph))
    g = model.graph
    assert g.nodes[0].inputs[0] is g.nodes[1].outputs[0]
    assert g.nodes[2].inputs[1].producer is None


# -- edits by passes show up in the export ------------------------------------------------------


def _small_model() -> onnx.ModelProto:
    node = helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0], name="tr", domain="")
    helper.set_metadata_props(node, {"keep": "me"})
    relu = helper.make_node("Relu", ["t"], ["y"])
    graph = helper.make_graph(
        [node, relu],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 2])],
        initializer=[numpy_helper.from_array(np.ones((3, 2), np.float32), "bias")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_edits_are_exported():
    model = from_onnx(_small_model())
    g = model.graph
    transpose, relu = g.nodes
    transpose.attributes["perm"].value = [0, 1]
    transpose.name = "renamed"
    transpose.scope = ir.Scope.root("Top").child("sub", "Sub")
    bias = g.initializers["bias"]
    add = ir.Node("", "Add", [relu.outputs[0], bias], name="add")
    g.append(add)
    add.outputs[0].name = "z"
    add.outputs[0].type = ir.TensorType(ir.DataType.FLOAT, (3, 2))
    g.outputs[0] = add.outputs[0]
    bias.name = "bias2"
    g.initializers = {"bias2": bias}
    out = to_onnx(model)
    nodes = out.graph.node
    assert list(nodes[0].attribute[0].ints) == [0, 1]
    assert nodes[0].name == "renamed"
    assert nodes[0].HasField("domain")  # presence bookkeeping survives the edit
    meta = {e.key: e.value for e in nodes[0].metadata_props}
    assert meta["keep"] == "me" and meta["hcc.tag"] == "/Top/Sub"
    assert [n.op_type for n in nodes] == ["Transpose", "Relu", "Add"]
    assert list(nodes[2].input) == ["y", "bias2"]
    assert out.graph.initializer[0].name == "bias2"
    assert out.graph.output[0].name == "z"
    onnx.checker.check_model(out)


def test_tensor_edits_are_exported():
    proto = _rare_model()
    model = from_onnx(proto)
    w = model.graph.initializers["w"].const_value
    w.doc_string = "edited"
    w.metadata_props["origin"] = "pass"
    constant = model.graph.nodes[1]
    constant.attributes["value"].value = ir.ArrayTensor(np.array(False), name="c2")
    out = to_onnx(model)
    exported = out.graph.initializer[0]
    assert exported.doc_string == "edited"
    assert {e.key: e.value for e in exported.metadata_props} == {"origin": "pass"}
    assert exported.raw_data == proto.graph.initializer[0].raw_data
    value = out.graph.node[1].attribute[0].t
    assert value.name == "c2" and numpy_helper.to_array(value) == np.array(False)
    # Everything else is untouched.
    out.graph.initializer[0].CopyFrom(proto.graph.initializer[0])
    out.graph.node[1].CopyFrom(proto.graph.node[1])
    assert out == proto


def test_unnamed_values_get_fresh_names():
    x = ir.Value("x", ir.TensorType(ir.DataType.FLOAT, (2,)))
    relu = ir.Node("", "Relu", [x])
    neg = ir.Node("", "Neg", [relu.outputs[0]])
    neg.outputs[0].name = "y"
    neg.outputs[0].type = ir.TensorType(ir.DataType.FLOAT, (2,))
    graph = ir.Graph([x], [neg.outputs[0]], [relu, neg], name="g")
    model = ir.Model(graph, opset_imports={"": 18})
    proto = to_onnx(model)
    onnx.checker.check_model(proto)
    assert proto.graph.node[0].output[0] == proto.graph.node[1].input[0] != ""
    assert relu.outputs[0].name == ""  # the IR is not modified


def test_array_tensors_export_as_raw_and_string_data():
    x = ir.Value("x", ir.TensorType(ir.DataType.FLOAT, (2,)))
    c = ir.Value("c", const_value=ir.ArrayTensor(np.array([1.5, -2.0], np.float32), name="c"))
    labels = ir.Value("labels", const_value=ir.ArrayTensor(np.array(["a", "bé"], dtype=object)))
    add = ir.Node("", "Add", [x, c])
    add.outputs[0].name = "y"
    add.outputs[0].type = ir.TensorType(ir.DataType.FLOAT, (2,))
    graph = ir.Graph([x], [add.outputs[0]], [add], initializers=[c, labels], name="g")
    proto = to_onnx(ir.Model(graph, opset_imports={"": 18}))
    init = {t.name: t for t in proto.graph.initializer}
    assert init["c"].HasField("raw_data")
    np.testing.assert_array_equal(numpy_helper.to_array(init["c"]), [1.5, -2.0])
    assert list(init["labels"].string_data) == [b"a", "bé".encode()]
    session = _ort_session(proto.SerializeToString())
    (y,) = session.run(None, {"x": np.array([1.0, 1.0], np.float32)})
    np.testing.assert_array_equal(y, [2.5, -1.0])


def test_tensors_are_not_decoded_on_import_or_export(monkeypatch):
    def fail(self):
        raise AssertionError("decoded")

    monkeypatch.setattr(ProtoTensor, "numpy", fail)
    monkeypatch.setattr(ProtoTensor, "tobytes", fail)
    assert_lossless(_rare_model())


# -- hypothesis: presence and values of optional fields -----------------------------------------

_names = st.text(alphabet="abcxyz_.:/0", max_size=6)
_maybe = st.one_of(st.none(), _names)


@st.composite
def _type_protos(draw, depth=0):
    tp = onnx.TypeProto()
    kinds = ["tensor", "sparse", "none", "seq", "opt", "map", "opaque"]
    kind = draw(st.sampled_from(kinds if depth < 2 else kinds[:3]))
    if kind in ("tensor", "sparse"):
        inner = tp.tensor_type if kind == "tensor" else tp.sparse_tensor_type
        if draw(st.booleans()):
            inner.elem_type = draw(st.integers(0, 30))
        if draw(st.booleans()):
            inner.shape.SetInParent()
            for _ in range(draw(st.integers(0, 3))):
                dim = inner.shape.dim.add()
                choice = draw(st.integers(0, 2))
                if choice == 0:
                    dim.dim_value = draw(st.integers(0, 9))
                elif choice == 1:
                    dim.dim_param = draw(_names)
                denotation = draw(_maybe)
                if denotation is not None:
                    dim.denotation = denotation
    elif kind in ("seq", "opt"):
        inner = tp.sequence_type if kind == "seq" else tp.optional_type
        inner.SetInParent()
        if draw(st.booleans()):
            inner.elem_type.CopyFrom(draw(_type_protos(depth + 1)))
    elif kind == "map":
        tp.map_type.SetInParent()
        if draw(st.booleans()):
            tp.map_type.key_type = draw(st.integers(0, 13))
        if draw(st.booleans()):
            tp.map_type.value_type.CopyFrom(draw(_type_protos(depth + 1)))
    elif kind == "opaque":
        tp.opaque_type.SetInParent()
        for field in ("domain", "name"):
            value = draw(_maybe)
            if value is not None:
                setattr(tp.opaque_type, field, value)
    denotation = draw(_maybe)
    if denotation is not None:
        tp.denotation = denotation
    return tp


@st.composite
def _attributes(draw):
    attr = onnx.AttributeProto()
    name = draw(_maybe)
    if name is not None:
        attr.name = name
    field = draw(st.sampled_from(["f", "i", "s", "floats", "ints", "strings", "tp", None]))
    if field == "f":
        attr.f = draw(st.floats(width=32, allow_nan=False))
    elif field == "i":
        attr.i = draw(st.integers(-(2**63), 2**63 - 1))
    elif field == "s":
        attr.s = draw(st.binary(max_size=4))
    elif field == "floats":
        attr.floats.extend(draw(st.lists(st.floats(width=32, allow_nan=False), max_size=3)))
    elif field == "ints":
        attr.ints.extend(draw(st.lists(st.integers(-5, 5), max_size=3)))
    elif field == "strings":
        attr.strings.extend(draw(st.lists(st.binary(max_size=3), max_size=3)))
    elif field == "tp":
        attr.tp.CopyFrom(draw(_type_protos()))
    if draw(st.integers(0, 9)) == 0:
        attr.i = 1  # a second value field: the attribute is kept verbatim
    type_choice = draw(st.sampled_from(["match", "absent", "zero", "other"]))
    kinds = {"f": 1, "i": 2, "s": 3, "floats": 6, "ints": 7, "strings": 8, "tp": 13, None: 0}
    if type_choice == "match":
        attr.type = kinds[field]
    elif type_choice == "zero":
        attr.type = 0
    elif type_choice == "other":
        attr.type = draw(st.integers(1, 14))
    for optional in ("doc_string", "ref_attr_name"):
        value = draw(st.one_of(st.none(), st.just(""), _names))
        if value is not None:
            setattr(attr, optional, value)
    return attr


@st.composite
def _models(draw):
    nodes = []
    for k in range(draw(st.integers(1, 3))):
        node = onnx.NodeProto()
        node.input.extend(draw(st.lists(st.sampled_from(["x", "", "n0", "dangling"]), max_size=3)))
        node.output.append(f"n{k}")
        if draw(st.booleans()):
            node.output.append("")
        for field in ("name", "op_type", "domain", "overload", "doc_string"):
            value = draw(st.one_of(st.none(), st.just(""), _names))
            if value is not None:
                setattr(node, field, value)
        node.attribute.extend(draw(st.lists(_attributes(), max_size=3)))
        for _ in range(draw(st.integers(0, 2))):
            entry = node.metadata_props.add()
            key, value = draw(_maybe), draw(_maybe)
            if key is not None:
                entry.key = key
            if value is not None:
                entry.value = value
        nodes.append(node)
    graph = onnx.GraphProto(node=nodes)
    graph.input.add(name="x").type.CopyFrom(draw(_type_protos()))
    for k in range(len(nodes)):
        info = graph.value_info.add(name=f"n{k}")
        if draw(st.booleans()):
            info.type.CopyFrom(draw(_type_protos()))
    graph.output.add(name=f"n{len(nodes) - 1}")
    model = onnx.ModelProto(graph=graph)
    if draw(st.booleans()):
        model.ir_version = draw(st.integers(0, 12))
    return model


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_models())
def test_random_presence_roundtrips(proto):
    assert_lossless(proto)


# -- GPT-2 ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_gpt2_load_save_is_lossless(gpt2_12_layers, tmp_path):
    gpt2_path = gpt2_12_layers.path  # exported once per test run (tests/conftest.py)

    model = ir.load(gpt2_path)
    tensors = [v.const_value for v in model.graph.initializers.values()]
    assert any(isinstance(t, ir.ExternalTensor) for t in tensors)
    assert to_onnx(model) == onnx.load(gpt2_path, load_external_data=False)
    out = str(tmp_path / "out" / "gpt2.onnx")
    os.makedirs(os.path.dirname(out))
    ir.save(model, out)
    # Same offsets, same data file name: even the external_data entries are identical.
    unloaded = onnx.load(gpt2_path, load_external_data=False)
    assert onnx.load(out, load_external_data=False) == unloaded
    assert onnx.load(out) == onnx.load(gpt2_path)
    feeds = gpt2_inputs()
    feeds["attention_mask"] = np.ones_like(feeds["input_ids"])
    want = _ort_session_path(gpt2_path).run(None, feeds)
    got = _ort_session_path(out).run(None, feeds)
    assert len(got) == len(want)
    assert all(_bitwise_equal(a, b) for a, b in zip(got, want))


def _ort_session_path(path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
