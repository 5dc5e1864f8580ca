"""The printer's text form: pinned exactly, since dumps are diffed between passes and runs."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import ml_dtypes
import numpy as np

from hcc.ir import (
    ArrayTensor,
    Attr,
    AttrType,
    DataType,
    ExternalTensor,
    Function,
    Graph,
    Model,
    Node,
    Scope,
    TensorType,
    Value,
    _tensors,
    format_graph,
    format_model,
    print_ir,
)
from hcc.ir.printer import format_function, format_node

BERT = Scope.root("BertModel")
LAYER0 = BERT.child("encoder", "BertEncoder").child("encoder.layer.0", "BertLayer.0")


def f32(*shape) -> TensorType:
    return TensorType(DataType.FLOAT, shape)


def small_graph() -> Graph:
    x = Value("x", f32("batch", 4))
    bias = Value("bias", const_value=ArrayTensor(np.array([0.5, 1, 2, 3], np.float32)))
    weight = Value("weight", const_value=ArrayTensor(np.zeros((4, 4), np.float32)))
    matmul = Node("", "MatMul", [x, weight], name="mm", scope=LAYER0)
    matmul.outputs[0].type = f32("batch", 4)
    add = Node("", "Add", [matmul.outputs[0], bias], attributes=[Attr.int("axis", 1)], scope=LAYER0)
    add.outputs[0].name = "y"
    clip = Node("", "Clip", [add.outputs[0], None, None])  # untagged, optional inputs omitted
    return Graph(
        [x],
        [add.outputs[0], clip.outputs[0]],
        [matmul, add, clip],
        initializers=[bias, weight],
        name="main",
    )


def test_a_small_graph_prints_exactly():
    assert (
        format_graph(small_graph())
        == """\
graph main(
  %x: float[batch,4]
) {
  %bias: float[4] = initializer [0.5, 1.0, 2.0, 3.0]
  %weight: float[4,4] = initializer <64 bytes>
  %0: float[batch,4] = MatMul(%x, %weight)  @ /BertModel/BertEncoder/BertLayer.0  # mm
  %y = Add(%0, %bias)  {axis=1}  @ /BertModel/BertEncoder/BertLayer.0
  %1 = Clip(%y, none, none)  @ ?
  return %y, %1
}
"""
    )


def if_model() -> Model:
    cond = Value("cond", TensorType(DataType.BOOL, ()))
    x = Value("x", f32(2))
    then_node = Node("", "Neg", [x], scope=LAYER0, name="neg")
    then_branch = Graph([], then_node.outputs, [then_node], name="then")
    else_branch = Graph([], [x], [], name="else")  # returns the outer value itself
    if_node = Node(
        "",
        "If",
        [cond],
        scope=BERT,
        name="if0",
        attributes=[Attr.graph("then_branch", then_branch), Attr.graph("else_branch", else_branch)],
    )
    if_node.outputs[0].name = "out"
    if_node.outputs[0].type = f32(2)
    graph = Graph([cond, x], if_node.outputs, [if_node], name="g")
    a = Value("a")
    alpha = Attr("alpha", AttrType.FLOAT, None, ref_attr_name="alpha")
    body = Node("", "Mul", [a, a], attributes=[alpha])
    function = Function(
        "custom",
        "Square",
        Graph([a], body.outputs, [body]),
        attributes=["alpha"],
        opset_imports={"": 18},
    )
    return Model(
        graph,
        ir_version=10,
        opset_imports={"custom": 1, "": 18},
        producer_name="hcc",
        producer_version="0.1",
        metadata_props={"hcc.hierarchy": "{" + "x" * 80 + "}"},
        functions=[function],
    )


def test_a_model_with_an_if_and_a_function_prints_exactly():
    assert (
        format_model(if_model())
        == """\
model ir_version=10 opset_imports={"": 18, "custom": 1} producer="hcc 0.1"
metadata {"hcc.hierarchy": <82 chars>}
graph g(
  %cond: bool[],
  %x: float[2]
) {
  %out: float[2] = If(%cond)  @ /BertModel  # if0
    then_branch: graph then() {
      %0 = Neg(%x)  @ /BertModel/BertEncoder/BertLayer.0  # neg
      return %0
    }
    else_branch: graph else() {
      return %x: float[2]
    }
  return %out: float[2]
}
function custom::Square(
  %a
) attributes [alpha] opset_imports={"": 18} {
  %1 = Mul(%a, %a)  {alpha=ref(alpha)}  @ ?
  return %1
}
"""
    )


def test_printing_does_not_change_the_model_or_the_next_print():
    model = if_model()
    first = format_model(model)
    assert format_model(model) == first
    assert first == format_model(if_model())  # a separately built equal model prints alike


def test_opset_import_order_does_not_change_the_text():
    model, reordered = if_model(), if_model()
    reordered.opset_imports = dict(reversed(list(model.opset_imports.items())))
    assert list(reordered.opset_imports) != list(model.opset_imports)
    assert format_model(reordered) == format_model(model)


_PRINT_IN_A_NEW_PROCESS = """
import runpy, sys
from hcc.ir import format_model
model = runpy.run_path({test_file!r})["if_model"]()
model.opset_imports = {{f"domain.{{i}}": i for i in range(1, 9)}} | model.opset_imports
sys.stdout.write(format_model(model))
"""


def test_the_text_is_the_same_in_every_process():
    # Hash randomisation differs per process: a printer iterating over a set or ordering by id()
    # would print two runs of the same model differently.
    code = _PRINT_IN_A_NEW_PROCESS.format(test_file=__file__)
    texts = [
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    ]
    assert texts[0] and texts[0] == texts[1]


def test_numbered_names_skip_real_numeric_names():
    # TorchScript exports name values "0", "1", ...: a numbered name must not alias them.
    x = Value("0")
    relu = Node("", "Relu", [x])
    graph = Graph([x], relu.outputs, [relu], name="g")
    assert "%1 = Relu(%0)" in format_graph(graph)


def test_names_with_spaces_or_symbols_are_quoted():
    x = Value("/encoder/layer.0/Add_output_0")
    odd = Node("", "Relu", [x])
    odd.outputs[0].name = "a b"
    graph = Graph([x], odd.outputs, [odd], name="weird name")
    text = format_graph(graph)
    assert text.startswith('graph "weird name"(\n  %/encoder/layer.0/Add_output_0\n')
    assert '%"a b" = Relu(%/encoder/layer.0/Add_output_0)' in text


def test_attribute_kinds():
    node = Node(
        "com.microsoft",
        "Custom",
        [],
        attributes=[
            Attr.float("eps", 1e-5),
            Attr.floats("scales", [1, 0.25]),
            Attr.ints("perm", [0, 2, 1]),
            Attr.string("mode", b"constant"),
            Attr.strings("names", ["a", "b"]),
            Attr.tensor("value", ArrayTensor(np.array([1, 2], np.int64))),
            Attr.tensor("big", ArrayTensor(np.zeros(100, np.float32))),
        ],
        num_outputs=0,
        scope=BERT,
    )
    assert format_node(node) == (
        'com.microsoft::Custom()  {eps=1e-05, scales=[1.0, 0.25], perm=[0, 2, 1], mode="constant", '
        'names=["a", "b"], value=tensor<int64[2]> [1, 2], big=tensor<float[100]>}  @ /BertModel\n'
    )


def test_sub_byte_and_string_initializers_show_their_values():
    q = Value("q", const_value=ArrayTensor(np.array([-1, 7], ml_dtypes.int4), DataType.INT4))
    s = Value("s", const_value=ArrayTensor(np.array([b"hi"], dtype=object)))
    text = format_graph(Graph([], [], [], initializers=[q, s], name="g"))
    assert "%q: int4[2] = initializer [-1, 7]" in text
    assert '%s: string[1] = initializer ["hi"]' in text


def test_external_data_is_named_never_read(tmp_path, monkeypatch):
    (tmp_path / "w.bin").write_bytes(bytes(16))
    tensor = ExternalTensor("w.bin", str(tmp_path), DataType.FLOAT, (2,), offset=8)

    def no_mapping(*args, **kwargs):
        raise AssertionError("the printer mapped external data")

    monkeypatch.setattr(_tensors.mmap, "mmap", no_mapping)
    text = format_graph(Graph([], [], [], initializers=[Value("w", const_value=tensor)], name="g"))
    assert '%w: float[2] = initializer external("w.bin", offset=8, length=8)' in text


def test_print_ir_writes_to_a_stream():
    stream = io.StringIO()
    print_ir(small_graph(), file=stream)
    assert stream.getvalue() == format_graph(small_graph())
    stream = io.StringIO()
    print_ir(if_model().functions[("custom", "Square", "")], file=stream)
    assert stream.getvalue().startswith("function custom::Square(")
    assert format_function(if_model().functions[("custom", "Square", "")]) == stream.getvalue()
