"""Small scoped models built in the IR, and the comparisons the function tests share."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

import hcc.ir as ir
from hcc.ir import ArrayTensor, Attr, DataType, Graph, Model, Node, Scope, TensorType, Value

FLOAT = TensorType(DataType.FLOAT, ("batch", 4))
INT64 = TensorType(DataType.INT64, (2,))


class Builder:
    """Appends named nodes to one graph; outputs are named after their node."""

    def __init__(self) -> None:
        self.graph = Graph(name="net")

    def input(self, name: str, type=FLOAT) -> Value:
        value = Value(name, type)
        self.graph.inputs.append(value)
        value.meta["_graph"] = self.graph
        return value

    def weight(self, name: str, fill: float, shape=(4,)) -> Value:
        tensor = ArrayTensor(np.full(shape, fill, np.float32), name=name)
        return self.graph.add_initializer(
            Value(name, TensorType(DataType.FLOAT, shape), const_value=tensor)
        )

    def op(
        self,
        op_type: str,
        name: str,
        *inputs,
        scope: Scope,
        outputs: int = 1,
        type=FLOAT,
        attributes=(),
        metadata=None,
        domain: str = "",
    ):
        values = [Value(name if outputs == 1 else f"{name}_{i}", type) for i in range(outputs)]
        node = Node(
            domain,
            op_type,
            inputs,
            outputs=values,
            name=name,
            scope=scope,
            attributes=list(attributes),
        )
        node.metadata_props.update(metadata or {})
        self.graph.append(node)
        return values[0] if outputs == 1 else tuple(values)

    def model(self, *outputs: Value, opset: int = 18) -> Model:
        self.graph.outputs.extend(outputs)
        # Types of every node output, as an exporter writes them.
        self.graph.value_info.extend(
            v for n in self.graph.nodes for v in n.outputs if v not in outputs
        )
        return Model(self.graph, ir_version=10, opset_imports={"": opset})


ROOT = Scope.root("Net")


def layer_scope(i: int) -> Scope:
    return ROOT.child(f"layers.{i}", f"Layer.{i}")


def inner_scope(i: int) -> Scope:
    return layer_scope(i).child(f"layers.{i}.inner", "Inner")


def layered(n: int = 3, *, shared: bool = True, odd_last: bool = False) -> Model:
    """``n`` layers of Mul (Inner) -> Add -> Relu (Layer), each with its own weights.

    With ``shared`` the first layer's Inner computes a shape that every layer reads (as
    exporters share work between layers). With ``odd_last`` the last layer has an extra op.
    Nodes carry metadata that is the same in every layer (``kind``) and that differs (``note``).
    """
    b = Builder()
    x = b.input("x")
    h = b.op("Neg", "embed", x, scope=ROOT)
    shape = None
    for i in range(n):
        inner, layer = inner_scope(i), layer_scope(i)
        meta = {"kind": "demo", "note": f"layer {i}"}
        w = b.weight(f"layers.{i}.inner.weight", 1.0 + i)
        bias = b.weight(f"layers.{i}.bias", 0.5 * i)
        if shared and i == 0:
            shape = b.op("Shape", "shape", x, scope=inner, type=INT64, metadata=meta)
        m = b.op("Mul", f"mul_{i}", h, w, scope=inner, metadata=meta)
        if shape is not None:
            m = b.op("Reshape", f"reshape_{i}", m, shape, scope=inner, metadata=meta)
        a = b.op("Add", f"add_{i}", m, bias, scope=layer, metadata=meta)
        if odd_last and i == n - 1:
            a = b.op("Sigmoid", f"sigmoid_{i}", a, scope=layer, metadata=meta)
        h = b.op("Relu", f"relu_{i}", a, scope=layer, metadata=meta)
    y = b.op("Abs", "head", h, scope=ROOT)
    return b.model(y)


@pytest.fixture
def builder():
    """``builder()`` makes a :class:`Builder`."""
    return Builder


@pytest.fixture
def make_layered():
    """``make_layered(n, shared=..., odd_last=...)``: see :func:`layered`."""
    return layered


@pytest.fixture
def scopes():
    """The scopes of :func:`layered`: ``scopes.root``, ``scopes.layer(i)``, ``scopes.inner(i)``."""

    class Scopes:
        root = ROOT
        layer = staticmethod(layer_scope)
        inner = staticmethod(inner_scope)

    return Scopes


def describe(node: Node) -> tuple:
    """What 'equal node for node' compares: everything but object identity."""
    attrs = tuple(
        (a.name, int(a.type), _attr_value(a), a.ref_attr_name) for a in node.attributes.values()
    )
    return (
        node.domain,
        node.op_type,
        node.overload,
        node.name,
        tuple(None if v is None else v.name for v in node.inputs),
        tuple(v.name for v in node.outputs),
        tuple(v.type for v in node.outputs),
        attrs,
        node.scope.tag,
        node.scope.module_path,
        dict(node.metadata_props),
    )


def _attr_value(attr: Attr):
    if attr.type in (ir.AttrType.GRAPH,):
        return tuple(describe(n) for n in attr.value.nodes)
    if attr.type == ir.AttrType.TENSOR:
        return attr.value.numpy().tobytes()
    if isinstance(attr.value, list):
        return tuple(attr.value)
    return attr.value


def assert_same_model(a: Model, b: Model, *, initializer_order: bool = True) -> None:
    """Node for node (in order), graph interface, value_info, initializers, opsets."""
    assert [describe(n) for n in a.graph.nodes] == [describe(n) for n in b.graph.nodes]
    assert [v.name for v in a.graph.inputs] == [v.name for v in b.graph.inputs]
    assert [(v.name, v.type) for v in a.graph.outputs] == [
        (v.name, v.type) for v in b.graph.outputs
    ]
    assert [(v.name, v.type) for v in a.graph.value_info] == [
        (v.name, v.type) for v in b.graph.value_info
    ]
    names_a, names_b = list(a.graph.initializers), list(b.graph.initializers)
    if not initializer_order:
        names_a, names_b = sorted(names_a), sorted(names_b)
    assert names_a == names_b
    assert a.opset_imports == b.opset_imports
    assert set(a.functions) == set(b.functions)


def run_ort(model: Model, feeds: dict, level=None) -> list:
    options = ort.SessionOptions()
    if level is not None:
        options.graph_optimization_level = level
    proto = ir.to_onnx(model)
    session = ort.InferenceSession(
        proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return session.run(None, feeds)


def layered_feeds() -> dict:
    return {"x": np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)}


@pytest.fixture
def same_model():
    """``same_model(a, b, initializer_order=True)`` asserts :func:`assert_same_model`."""
    return assert_same_model


@pytest.fixture
def node_key():
    """``node_key(node)``: the tuple two nodes must share to be equal node for node."""
    return describe


@pytest.fixture
def ort_run():
    """``ort_run(model, feeds, level=None)``: onnxruntime's outputs for an IR model."""
    return run_ort


@pytest.fixture
def feeds():
    return layered_feeds()
