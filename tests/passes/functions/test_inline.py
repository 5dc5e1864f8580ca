"""inline-functions on functions other tools wrote (built here with onnx.helper)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import hcc.ir as ir
from hcc.ir import Scope
from hcc.ir.verifier import verify
from hcc.passes import run
from hcc.passes.functions import InlineError, InlineFunctionsPass

LOCAL = "tool.functions"
X = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
Y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])


def model_with(nodes, functions, *, inputs=(X,), outputs=(Y,), opset=18, initializers=()):
    graph = helper.make_graph(nodes, "g", list(inputs), list(outputs), list(initializers))
    imports = [helper.make_opsetid("", opset), helper.make_opsetid(LOCAL, 1)]
    model = helper.make_model(graph, opset_imports=imports, functions=functions, ir_version=10)
    onnx.checker.check_model(model)
    return model


def function(name, inputs, outputs, nodes, *, attributes=(), defaults=(), domain=LOCAL, opset=18):
    made = helper.make_function(
        domain,
        name,
        list(inputs),
        list(outputs),
        nodes,
        [helper.make_opsetid("", opset)],
        list(attributes),
    )
    made.attribute_proto.extend(defaults)
    return made


def results(model: onnx.ModelProto, feeds: dict) -> list:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def inline(model: onnx.ModelProto, pipeline: str = "inline-functions") -> ir.Model:
    result = run(ir.from_onnx(model), pipeline)
    verify(result)
    return result


def feeds():
    return {"x": np.linspace(-2, 2, 6, dtype=np.float32).reshape(2, 3)}


def assert_computes_the_same(original: onnx.ModelProto, inlined: ir.Model) -> None:
    proto = ir.to_onnx(inlined)
    onnx.checker.check_model(proto, full_check=True)
    expected, actual = results(original, feeds()), results(proto, feeds())
    assert [a.tobytes() for a in actual] == [e.tobytes() for e in expected]


# -- attributes ----------------------------------------------------------------------------------


def ref(name: str, refers_to: str) -> onnx.AttributeProto:
    return onnx.AttributeProto(name=name, ref_attr_name=refers_to, type=onnx.AttributeProto.FLOAT)


def test_attribute_references_take_the_call_value_the_default_or_vanish():
    body = [
        helper.make_node("LeakyRelu", ["a"], ["t1"], name="leaky"),
        helper.make_node("Elu", ["t1"], ["t2"], name="elu"),
        helper.make_node("HardSigmoid", ["t2"], ["b"], name="hard"),
    ]
    body[0].attribute.append(ref("alpha", "slope"))
    body[1].attribute.append(ref("alpha", "elu_alpha"))
    body[2].attribute.append(ref("alpha", "hard_alpha"))
    f = function(
        "Act",
        ["a"],
        ["b"],
        body,
        attributes=["slope", "hard_alpha"],
        defaults=[helper.make_attribute("elu_alpha", 0.25)],
    )
    call = helper.make_node("Act", ["x"], ["y"], domain=LOCAL, name="act", slope=0.5)
    original = model_with([call], [f])

    inlined = inline(original)
    alphas = {n.op_type: n.attr("alpha") for n in inlined.graph.nodes}
    assert alphas == {"LeakyRelu": 0.5, "Elu": 0.25, "HardSigmoid": None}
    assert not any(a.is_ref for n in inlined.graph.nodes for a in n.attributes.values())
    assert_computes_the_same(original, inlined)


# -- interface -----------------------------------------------------------------------------------


def test_a_missing_optional_input_stays_missing():
    body = [helper.make_node("Clip", ["a", "low", "high"], ["b"], name="clip")]
    f = function("Bound", ["a", "low", "high"], ["b"], body)
    low = helper.make_tensor("low", TensorProto.FLOAT, [], [-1.0])
    call = helper.make_node("Bound", ["x", "low"], ["y"], domain=LOCAL, name="bound")
    original = model_with([call], [f], initializers=[low])

    inlined = inline(original)
    (clip,) = inlined.graph.nodes
    assert [v.name if v is not None else None for v in clip.inputs] == ["x", "low", None]
    assert_computes_the_same(original, inlined)


def test_an_output_that_is_an_input_gets_an_identity():
    f = function("Both", ["a"], ["n", "a"], [helper.make_node("Neg", ["a"], ["n"], name="neg")])
    call = helper.make_node("Both", ["x"], ["y", "z"], domain=LOCAL, name="both")
    outputs = [Y, helper.make_tensor_value_info("z", TensorProto.FLOAT, [2, 3])]
    original = model_with([call], [f], outputs=outputs)

    inlined = inline(original)
    assert [
        (n.op_type, [v.name for v in n.inputs], [v.name for v in n.outputs])
        for n in inlined.graph.nodes
    ] == [("Neg", ["x"], ["y"]), ("Identity", ["x"], ["z"])]
    # onnxruntime cannot load the original (a function output that is an input); numpy can say.
    y, z = results(ir.to_onnx(inlined), feeds())
    assert np.array_equal(y, -feeds()["x"]) and np.array_equal(z, feeds()["x"])


# -- nesting -------------------------------------------------------------------------------------


def test_nested_calls_and_calls_inside_subgraphs_are_inlined():
    inner = function("Inner", ["a"], ["b"], [helper.make_node("Relu", ["a"], ["b"], name="relu")])
    outer = function(
        "Outer",
        ["a"],
        ["b"],
        [
            helper.make_node("Inner", ["a"], ["t"], domain=LOCAL, name="call_inner"),
            helper.make_node("Neg", ["t"], ["b"], name="neg"),
        ],
    )
    outer.opset_import.append(helper.make_opsetid(LOCAL, 1))
    then_branch = helper.make_graph(
        [helper.make_node("Outer", ["x"], ["r"], domain=LOCAL, name="in_then")],
        "then",
        [],
        [helper.make_tensor_value_info("r", TensorProto.FLOAT, [2, 3])],
    )
    else_branch = helper.make_graph(
        [helper.make_node("Abs", ["x"], ["s"], name="in_else")],
        "else",
        [],
        [helper.make_tensor_value_info("s", TensorProto.FLOAT, [2, 3])],
    )
    cond = helper.make_tensor_value_info("c", TensorProto.BOOL, [])
    nodes = [
        helper.make_node(
            "If", ["c"], ["y"], name="if", then_branch=then_branch, else_branch=else_branch
        )
    ]
    original = model_with(nodes, [inner, outer], inputs=(X, cond))

    inlined = inline(original)
    assert inlined.functions == {}
    assert LOCAL not in inlined.opset_imports
    then = inlined.graph.nodes[0].attributes["then_branch"].value
    assert [n.op_type for n in then.nodes] == ["Relu", "Neg"]
    for flag in (True, False):
        data = {**feeds(), "c": np.array(flag)}
        assert [a.tobytes() for a in results(ir.to_onnx(inlined), data)] == [
            a.tobytes() for a in results(original, data)
        ]


def test_calls_inside_a_kept_function_are_inlined():
    other = "other.functions"
    inner = function(
        "Inner", ["a"], ["b"], [helper.make_node("Relu", ["a"], ["b"], name="r")], domain=other
    )
    outer = function(
        "Outer",
        ["a"],
        ["b"],
        [
            helper.make_node("Inner", ["a"], ["t"], domain=other, name="call"),
            helper.make_node("Neg", ["t"], ["b"], name="neg"),
        ],
    )
    outer.opset_import.append(helper.make_opsetid(other, 1))
    original = model_with(
        [helper.make_node("Outer", ["x"], ["y"], domain=LOCAL, name="o")], [inner, outer]
    )
    original.opset_import.append(helper.make_opsetid(other, 1))

    inlined = inline(original, f"inline-functions(domains=['{other}'])")
    assert list(inlined.functions) == [(LOCAL, "Outer", "")]
    body = inlined.functions[(LOCAL, "Outer", "")].graph
    assert [n.op_type for n in body.nodes] == ["Relu", "Neg"]
    assert other not in inlined.opset_imports
    assert_computes_the_same(original, inlined)


def test_recursive_functions_are_refused():
    ping = function("Ping", ["a"], ["b"], [helper.make_node("Pong", ["a"], ["b"], domain=LOCAL)])
    pong = function("Pong", ["a"], ["b"], [helper.make_node("Ping", ["a"], ["b"], domain=LOCAL)])
    graph = helper.make_graph([helper.make_node("Ping", ["x"], ["y"], domain=LOCAL)], "g", [X], [Y])
    model = helper.make_model(
        graph,
        functions=[ping, pong],
        opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(LOCAL, 1)],
    )
    with pytest.raises(InlineError, match="call themselves"):
        run(ir.from_onnx(model), "inline-functions")


def test_a_function_of_another_opset_version_is_refused():
    f = function("Act", ["a"], ["b"], [helper.make_node("Relu", ["a"], ["b"])], opset=17)
    call = helper.make_node("Act", ["x"], ["y"], domain=LOCAL)
    model = helper.make_model(
        helper.make_graph([call], "g", [X], [Y]),
        functions=[f],
        opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(LOCAL, 1)],
    )
    with pytest.raises(InlineError, match="version 17 but its caller version 18"):
        run(ir.from_onnx(model), "inline-functions")


# -- names and scopes ----------------------------------------------------------------------------


def test_names_the_caller_uses_are_not_taken_again():
    body = [
        helper.make_node("Neg", ["a"], ["t"], name="neg"),
        helper.make_node("Abs", ["t"], ["b"], name="abs"),
    ]
    f = function("F", ["a"], ["b"], body)
    nodes = [
        helper.make_node("Relu", ["x"], ["t"], name="neg"),
        helper.make_node("F", ["t"], ["u"], domain=LOCAL, name="f"),
        helper.make_node("F", ["u"], ["y"], domain=LOCAL, name="f/neg"),
    ]
    original = model_with(nodes, [f])

    inlined = inline(original)
    names = [n.name for n in inlined.graph.nodes]
    assert len(set(names)) == len(names)
    # "f/neg" is the second call's name: the first call's copy of "neg" takes the next one.
    assert names == ["neg", "f/neg_2", "f/abs", "f/neg/neg", "f/neg/abs"]
    values = [v.name for n in inlined.graph.nodes for v in n.outputs]
    assert len(set(values)) == len(values) and values[-1] == "y"
    assert_computes_the_same(original, inlined)


def test_inlined_nodes_take_the_call_sites_scope():
    body = [
        helper.make_node("Neg", ["a"], ["t"], name="neg"),
        helper.make_node("Abs", ["t"], ["b"], name="abs"),
    ]
    # A tag the other tool wrote means nothing at this call site.
    body[1].metadata_props.add(key="hcc.tag", value="/Elsewhere")
    f = function("F", ["a"], ["b"], body)
    call = helper.make_node("F", ["x"], ["y"], domain=LOCAL, name="f")
    for key, value in (("hcc.tag", "/Net/Block.0"), ("hcc.module", "blocks.0")):
        call.metadata_props.add(key=key, value=value)
    original = model_with([call], [f])

    inlined = inline(original)
    block = Scope.root("Net").child("blocks.0", "Block.0")
    assert [n.scope for n in inlined.graph.nodes] == [block, block]
    verify(inlined, require_scopes=True)


def test_only_the_chosen_domains_are_inlined():
    f = function("F", ["a"], ["b"], [helper.make_node("Neg", ["a"], ["b"])])
    original = model_with([helper.make_node("F", ["x"], ["y"], domain=LOCAL)], [f])
    model = ir.from_onnx(original)
    assert InlineFunctionsPass(domains=["elsewhere"]).run(model).changed is False
    assert list(model.functions) == [(LOCAL, "F", "")]
    assert InlineFunctionsPass(domains=[LOCAL]).run(model).changed is True
    assert model.functions == {}


def test_a_model_without_functions_is_left_alone():
    model = ir.from_onnx(model_with([helper.make_node("Neg", ["x"], ["y"])], []))
    assert InlineFunctionsPass().run(model).changed is False


def test_functions_torch_writes_for_modules_inline_to_the_same_results():
    import io
    import warnings

    import torch

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear, self.norm = torch.nn.Linear(3, 3), torch.nn.LayerNorm(3)

        def forward(self, x):
            return self.norm(x + torch.relu(self.linear(x)))

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = torch.nn.ModuleList([Block() for _ in range(3)])

        def forward(self, x):
            for block in self.blocks:
                x = block(x)
            return x

    torch.manual_seed(0)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # One function per Block and per LayerNorm (its eps is an attribute reference).
        torch.onnx.export(
            Net().eval(),
            (torch.randn(2, 3),),
            buffer,
            dynamo=False,
            input_names=["x"],
            opset_version=17,
            export_modules_as_functions={Block, torch.nn.LayerNorm},
        )
    original = onnx.load_from_string(buffer.getvalue())
    assert len(original.functions) == 2

    inlined = inline(original)
    assert inlined.functions == {}
    assert [n.op_type for n in inlined.graph.nodes if n.op_type != "Identity"] == [
        "Gemm",
        "Relu",
        "Add",
        "LayerNormalization",
    ] * 3
    assert_computes_the_same(original, inlined)
