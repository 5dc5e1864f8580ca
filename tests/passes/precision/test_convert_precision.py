"""convert-precision: types follow the scope policy, Casts sit only at its boundaries, each
tagged with the scope it serves, and the converted models still run and stay close."""

from __future__ import annotations

import numpy as np
import pytest

import hcc.ir as ir
from hcc.deviation import deviation
from hcc.ir import Attr, DataType, Function, Graph, Node, Scope, TensorType, Value
from hcc.passes import PassManager, VerifyEach, build_pipeline
from hcc.passes.precision import CASTS_KEY, PrecisionError

F16, F32 = DataType.FLOAT16, DataType.FLOAT
X = {"x": np.linspace(-2, 2, 8, dtype=np.float32).reshape(2, 4)}


def convert(model, text="convert-precision"):
    return PassManager(build_pipeline(text), [VerifyEach(require_scopes=True)]).run(model)


def by_name(model):
    return {n.name: n for n in model.all_nodes()}


def casts(model):
    return [n for n in model.all_nodes() if n.op_type == "Cast"]


def test_kept_scope_stays_float32_and_casts_sit_only_at_its_boundary(make_chain):
    model = convert(make_chain(), "convert-precision(keep=['*/Norm'], keep_ops=[])").model
    nodes = by_name(model)
    assert nodes["matmul"].outputs[0].dtype == F16 and nodes["relu"].outputs[0].dtype == F16
    assert {nodes[n].outputs[0].dtype for n in ("mean", "centre", "scale")} == {F32}
    made = casts(model)
    # Into the model (io = keep), into Norm, out of Norm, out of the model.
    assert [(c.inputs[0].dtype, c.outputs[0].dtype) for c in made] == [
        (F32, F16),
        (F16, F32),
        (F32, F16),
        (F16, F32),
    ]
    norm_entry = made[1]
    assert norm_entry.scope.tag == "/Net/Norm"  # the scope it serves: the reader, Norm
    assert sorted(model.meta[CASTS_KEY]) == sorted((c.name, c.scope.tag) for c in made)


def test_weights_are_stored_in_the_type_their_readers_compute_in(make_chain):
    model = convert(make_chain(), "convert-precision(keep=['*/Norm'], keep_ops=[])").model
    weights = model.graph.initializers
    assert weights["mlp.weight"].const_value.dtype == F16
    assert weights["mlp.weight"].const_value.numpy().dtype == np.float16
    assert weights["norm.scale"].const_value.dtype == F32


def test_model_inputs_and_outputs_keep_their_types_and_names(make_chain, ort_run):
    model = convert(make_chain()).model
    assert [(v.name, v.dtype) for v in model.graph.inputs] == [("x", F32)]
    assert [(v.name, v.dtype) for v in model.graph.outputs] == [("relu", F32)]
    expected = ort_run(make_chain(), X)[0]
    got = ort_run(model, X)[0]
    assert got.dtype == np.float32
    assert deviation("relu", expected, got).within(2e-3)


def test_io_converted_gives_the_interface_the_low_type(make_chain, ort_run):
    model = convert(make_chain(), "convert-precision(io=converted, keep_ops=[])").model
    assert model.graph.inputs[0].dtype == F16 and model.graph.outputs[0].dtype == F16
    assert casts(model) == []  # nothing is kept: no boundary, no Cast
    got = ort_run(model, {"x": X["x"].astype(np.float16)})[0]
    assert got.dtype == np.float16


def test_default_keep_ops_hold_the_reduction_in_float32(make_chain):
    model = convert(make_chain()).model
    nodes = by_name(model)
    assert nodes["mean"].outputs[0].dtype == F32
    assert nodes["centre"].outputs[0].dtype == F16


def _cube_then_square_mean(builder):
    """x -> MatMul -> Pow(3) -> Mul (a tanh GELU's cube) and MatMul -> Pow(2) -> ReduceMean (a
    RMSNorm's squares): the same op between converted neighbours and at a kept reduction."""
    b = builder()
    x = b.input("x")
    w = b.weight("w", np.eye(4))
    h = b.op("MatMul", "matmul", x, w)
    cube = b.op("Pow", "cube", h, b.weight("three", 3.0))
    gelu = b.op("Mul", "gelu", cube, b.weight("c", 0.044715))
    square = b.op("Pow", "square", h, b.weight("two", 2.0))
    mean = b.op("ReduceMean", "mean", square, type=TensorType(F32, ("batch", 1)))
    return b.model(gelu, mean)


def test_a_kept_elementwise_op_between_converted_neighbours_converts_too(builder):
    model = convert(_cube_then_square_mean(builder)).model
    nodes = by_name(model)
    assert nodes["cube"].outputs[0].dtype == F16  # float32 there would only add two Casts
    assert nodes["cube"].inputs[0] is nodes["matmul"].outputs[0]
    # The squares feed the kept ReduceMean directly, in float32: they never pass float16.
    assert nodes["square"].outputs[0].dtype == F32
    assert nodes["mean"].inputs[0] is nodes["square"].outputs[0]


def test_a_kept_elementwise_op_stays_float32_next_to_a_float32_input_or_output(builder):
    b = builder()
    x = b.input("x")
    y = b.op("Exp", "exp", x)
    model = convert(b.model(y)).model
    assert by_name(model)["exp"].outputs[0].dtype == F32
    assert casts(model) == []  # io = keep: the model's input and output are float32


def test_every_node_is_tagged_and_the_verifier_agrees(make_chain):
    model = convert(make_chain(), "convert-precision(keep=['*/Norm'])").model
    assert all(not n.scope.is_unknown for n in model.all_nodes())
    ir.verify(model, require_scopes=True)


def test_out_of_range_weights_are_clamped_with_a_warning_naming_tensor_and_scope(builder):
    b = builder()
    x = b.input("x")
    big = b.weight("mlp.big", [1e6, -1e6, 3.0, np.inf])
    y = b.op("Add", "add", x, big, scope=Scope.root("Net").child("mlp", "Mlp"))
    model = b.model(y)
    result = convert(model, "convert-precision")
    (warning,) = result.warnings
    assert "'mlp.big'" in warning and "/Net/Mlp" in warning and "2 value(s)" in warning
    values = model.graph.initializers["mlp.big"].const_value.numpy()
    assert values.tolist() == [65504.0, -65504.0, 3.0, np.inf]  # infinity is in range


def test_a_keep_pattern_matching_nothing_is_an_error_with_a_hint(make_chain):
    with pytest.raises(PrecisionError, match="matches no scope; scopes near it: /Net/Norm"):
        convert(make_chain(), "convert-precision(keep=['*/Nrom'])")


def test_a_misspelt_keep_op_is_an_error_with_a_hint(make_chain):
    with pytest.raises(
        PrecisionError, match="'ReduceMaen', which is no ONNX operator.*did you mean 'ReduceMean'"
    ):
        convert(make_chain(), "convert-precision(keep_ops=[ReduceMaen])")


def test_bfloat16_converts_weights_and_casts(make_chain):
    model = convert(make_chain(), "convert-precision(dtype=bfloat16, keep=['*/Norm'])").model
    assert model.graph.initializers["mlp.weight"].const_value.dtype == DataType.BFLOAT16
    assert {c.attributes["to"].value for c in casts(model)} == {int(DataType.BFLOAT16), int(F32)}


def test_bfloat16_runs_in_onnxruntime_on_the_ops_it_has_kernels_for(builder, ort_run):
    # onnxruntime's CPU provider has bfloat16 kernels for data movement and LayerNormalization
    # only (no MatMul, Add, Mul, ...; docs/precision.md lists what each test model lacks), so a
    # graph of those runs there and must agree with onnx's evaluator and with float32.
    from onnx.reference import ReferenceEvaluator

    b = builder()
    x = b.input("x", TensorType(F32, (2, 8)))
    scale = b.weight("scale", np.linspace(0.5, 2.0, 8))
    bias = b.weight("bias", np.linspace(-1.0, 1.0, 8))
    norm = b.op("LayerNormalization", "norm", x, scale, bias, type=TensorType(F32, (2, 8)))
    t = b.op("Transpose", "turn", norm, type=TensorType(F32, (8, 2)))
    y = b.op(
        "Concat", "join", t, t, type=TensorType(F32, (16, 2)), attributes=[Attr.int("axis", 0)]
    )
    feeds = {"x": np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32) * 3}
    reference = ort_run(b.model(y), feeds)[0]
    b.graph.outputs.clear()
    model = convert(b.model(y), "convert-precision(dtype=bfloat16)").model
    assert by_name(model)["norm"].outputs[0].dtype == DataType.BFLOAT16
    got = ort_run(model, feeds)[0]
    assert got.dtype == np.float32  # io = keep
    evaluated = ReferenceEvaluator(ir.to_onnx(model)).run(None, feeds)[0]
    # bfloat16 keeps 8 significant bits: a step of 2**-7 relative, ~0.06 at |y| ~ 4.
    assert deviation("y", reference, got).within(0, rtol=2**-7, scale=np.abs(reference).max())
    assert deviation("y", evaluated, got).within(0, rtol=2**-7, scale=np.abs(reference).max())


def test_casts_in_the_model_follow_the_region_they_sit_in(builder):
    b = builder()
    ids = b.input("ids", TensorType(DataType.INT64, ("batch", 4)))
    f = b.op("Cast", "to_float", ids, attributes=[Attr.int("to", int(F32))])
    y = b.op("Sqrt", "sqrt", f)
    model = convert(b.model(y), "convert-precision(keep_ops=[])").model
    nodes = by_name(model)
    assert nodes["to_float"].attributes["to"].value == int(F16)  # no Cast pair around it
    assert len(casts(model)) == 2  # the exporter's, now to float16, and the output's


def test_if_branches_are_converted_with_their_interface_unchanged(builder, ort_run):
    scope = Scope.root("Net").child("gate", "Gate")
    outer = builder()
    x = outer.input("x")
    cond = outer.input("cond", TensorType(DataType.BOOL, ()))
    w = outer.weight("w", np.full(4, 2.0))
    h = outer.op("Mul", "pre", x, w, scope=scope)
    branches = []
    for name, op in (("then", "Relu"), ("else", "Neg")):
        inner = builder(name)
        r = inner.op(op, f"{name}_op", h, scope=scope)
        inner.graph.outputs.append(r)
        branches.append(inner.graph)
    y = outer.op(
        "If",
        "if",
        cond,
        scope=scope,
        attributes=[Attr.graph("then_branch", branches[0]), Attr.graph("else_branch", branches[1])],
    )
    model = outer.model(y)
    reference = ort_run(model, {**X, "cond": np.array(False)})[0]
    model = convert(model, "convert-precision(keep_ops=[])").model
    for branch in branches:
        (op,) = [n for n in branch.nodes if n.op_type != "Cast"]
        assert op.outputs[0].dtype == F16
        assert branch.outputs[0].dtype == F32  # the If's outputs are unchanged
    got = ort_run(model, {**X, "cond": np.array(False)})[0]
    assert deviation("y", reference, got).within(1e-2)


def test_function_bodies_are_converted_behind_an_unchanged_interface(builder, ort_run):
    scope = Scope.root("Net").child("layer", "Layer")
    body = Graph(name="body")
    a = Value("a")
    body.inputs.append(a)
    a.meta["_graph"] = body
    s = Value("s")
    body.append(Node("", "Sigmoid", [a], outputs=[s], name="sig", scope=scope))
    body.outputs.append(s)
    function = Function("demo", "Layer", body, opset_imports={"": 18})
    outer = builder()
    x = outer.input("x")
    y = Value("y", TensorType(F32, ("batch", 4)))
    outer.graph.append(Node("demo", "Layer", [x], outputs=[y], name="call", scope=scope))
    model = outer.model(y)
    model.opset_imports["demo"] = 1
    model.functions[function.identifier] = function
    reference = ort_run(model, X)[0]
    model = convert(model, "convert-precision(keep_ops=[])").model
    assert [n.op_type for n in body.nodes] == ["Cast", "Sigmoid", "Cast"]
    assert [c.attributes["to"].value for c in casts(model)] == [int(F16), int(F32)]
    assert [c.outputs[0].name for c in casts(model)] == ["a_fp16", "s"]
    assert all(c.scope == scope for c in casts(model))
    got = ort_run(model, X)[0]
    assert deviation("y", reference, got).within(1e-2)


# -- exported transformers (2 layers, hidden 32) ---------------------------------------------------

# Largest absolute deviation of the float16 logits from float32 allowed: logits of these tiny
# random models are below 1 in magnitude; float16 keeps 11 bits (a relative step of 1e-3).
TOLERANCE = 2e-3


def low_outputs(exported, options="", tmp_path=None):
    import onnxruntime as ort

    model = exported.load()
    result = convert(model, f"convert-precision({options})" if options else "convert-precision")
    path = str(tmp_path / "low.onnx")
    ir.save(result.model, path)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return result, session.run(None, exported.feeds)


def worst(exported, outputs) -> float:
    gaps = [
        deviation(str(i), want, got)
        for i, (want, got) in enumerate(zip(exported.reference, outputs))
    ]
    assert all(g.ok for g in gaps), [g.problem for g in gaps]
    return max(g.max_abs for g in gaps)


def test_tiny_transformers_run_in_float16_within_the_tolerance(tiny, tmp_path):
    result, outputs = low_outputs(tiny, tmp_path=tmp_path)
    assert worst(tiny, outputs) < TOLERANCE
    assert all(not n.scope.is_unknown for n in result.model.all_nodes())
    weights = [v for v in result.model.graph.initializers.values() if v.const_value.size > 64]
    assert weights and all(v.const_value.dtype == F16 for v in weights)


def test_keeping_every_norm_lowers_the_deviation(tiny, tmp_path):
    _, plain = low_outputs(tiny, tmp_path=tmp_path)
    kept, outputs = low_outputs(tiny, tiny.keep_norms, tmp_path=tmp_path)
    assert worst(tiny, outputs) < worst(tiny, plain)


def test_a_kept_layer_computes_in_float32_and_only_its_boundary_is_cast(tiny_llama, tmp_path):
    glob = "*/LlamaDecoderLayer.0"
    result, outputs = low_outputs(tiny_llama, f"keep=['{glob}'], keep_ops=[]", tmp_path=tmp_path)
    assert worst(tiny_llama, outputs) < TOLERANCE
    layer = next(
        n.scope for n in result.model.graph.nodes if n.scope.tag.endswith("LlamaDecoderLayer.0")
    ).at_depth(2)
    inside = [n for n in result.model.graph.nodes if n.scope.is_within(layer)]
    assert inside and all(v.dtype != F16 for n in inside for v in n.outputs if n.op_type != "Cast")
    inserted = {name for name, _ in result.model.meta[CASTS_KEY]}
    made = [
        c
        for c in casts(result.model)
        if c.name in inserted and c.outputs[0] not in result.model.graph.outputs
    ]
    # Every Cast either leads into the kept layer (float32 out) or away from it.
    assert made and all(c.scope.is_within(layer) == (c.outputs[0].dtype == F32) for c in made)


def test_converting_again_changes_nothing(make_chain):
    model = convert(make_chain(), "convert-precision(keep=['*/Norm'])").model
    nodes = len(list(model.all_nodes()))
    again = convert(model, "convert-precision(keep=['*/Norm'])")
    assert not again.changed and len(list(again.model.all_nodes())) == nodes


def test_nan_weights_stay_nan_and_are_not_counted_as_clamped(builder):
    b = builder()
    x = b.input("x")
    w = b.weight("w", [np.nan, 1.0, -np.inf, 2.0])
    model = b.model(b.op("Mul", "mul", x, w))
    result = convert(model, "convert-precision")
    assert result.warnings == ()
    values = model.graph.initializers["w"].const_value.numpy()
    assert np.isnan(values[0]) and values[2] == -np.inf


def test_hcc_opt_shows_the_warnings_on_stderr(builder, tmp_path, capsys):
    from hcc.cli import main

    b = builder()
    x = b.input("x")
    model = b.model(b.op("Add", "add", x, b.weight("big", [1e9, 0, 0, 0])))
    source, target = str(tmp_path / "in.onnx"), str(tmp_path / "out.onnx")
    ir.save(model, source)
    assert main(["opt", source, "-o", target, "-p", "convert-precision"]) == 0
    err = capsys.readouterr().err
    assert "hcc: warning: convert-precision: initializer 'big'" in err
