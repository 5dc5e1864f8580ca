"""Small IR models built by hand, so pass tests do not depend on the ONNX importer."""

from __future__ import annotations

import numpy as np
import pytest

from hcc.ir import ArrayTensor, Attr, DataType, Graph, Model, Node, Scope, TensorType, Value

FLOAT2 = TensorType(DataType.FLOAT, (2,))


class GraphBuilder:
    """Appends nodes to one graph; every value is a float[2] tensor named after its node."""

    def __init__(self, name: str = "main") -> None:
        self.graph = Graph(name=name)
        self._count = 0

    def input(self, name: str) -> Value:
        value = Value(name, FLOAT2)
        self.graph.inputs.append(value)
        value.meta["_graph"] = self.graph
        return value

    def initializer(self, name: str, fill: float = 0.0) -> Value:
        tensor = ArrayTensor(np.full(2, fill, np.float32), name=name)
        return self.graph.add_initializer(Value(name, FLOAT2, const_value=tensor))

    def op(
        self,
        op_type: str,
        *inputs: Value | None,
        outputs: int = 1,
        domain: str = "",
        scope: Scope | None = None,
        name: str | None = None,
        subgraphs: dict[str, Graph] | None = None,
    ):
        """Append a node; returns its output value (or the tuple of them)."""
        self._count += 1
        name = name or f"{op_type.lower()}{self._count}"
        values = [Value(f"{name}_out{i}" if outputs > 1 else name, FLOAT2) for i in range(outputs)]
        attributes = [Attr.graph(key, g) for key, g in (subgraphs or {}).items()]
        node = Node(
            domain, op_type, inputs, outputs=values, name=name, attributes=attributes, scope=scope
        )
        for g in (subgraphs or {}).values():
            g.parent = node
        self.graph.append(node)
        return values[0] if outputs == 1 else tuple(values)

    def output(self, *values: Value) -> None:
        self.graph.outputs.extend(values)

    def model(self) -> Model:
        return Model(self.graph, ir_version=10, opset_imports={"": 18})


@pytest.fixture
def graph_builder():
    """``graph_builder(name="main")`` makes a :class:`GraphBuilder`."""
    return GraphBuilder


@pytest.fixture
def bert_scope() -> Scope:
    return Scope.root("BertModel").child("encoder.layer.0", "BertLayer.0")
