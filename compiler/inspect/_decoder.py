"""Rebuild IR pieces from the plain-JSON records of :mod:`._serial`, tensors read from the
sidecar."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

import hcc.ir as ir
from hcc.ir import (
    Attr,
    AttrType,
    Function,
    Graph,
    Node,
    SparseTensor,
    Value,
)

from ._serial import (
    LIST_ATTR_KINDS,
    GraphMLError,
    convert_attr_value,
    decode_type,
    dtype_of,
    from_text,
)

# Tensors below this size are copied into memory on import, so the saved model embeds them:
# onnxruntime's shape inference cannot read small constants (Slice starts) from external data.
SMALL_TENSOR = 1024


class Decoder:
    """Rebuilds IR objects; tensors are read from the sidecar at ``sidecar_path``."""

    def __init__(self, sidecar_path: str, sidecar_size: int) -> None:
        self.folder = os.path.dirname(os.path.abspath(sidecar_path))
        self.location = os.path.basename(sidecar_path)
        self.size = sidecar_size
        self._scopes: list[dict[str, Value]] = []

    def tensor(self, record: dict, *, in_memory: bool = False) -> ir.Tensor:
        dtype = dtype_of(record["dtype"])
        shape = record["shape"]
        common = dict(
            name=record.get("name", ""),
            doc_string=record.get("doc", ""),
            metadata_props=record.get("metadata"),
        )
        if "strings" in record:
            items = [from_text(s) for s in record["strings"]]
            array = np.array(items, dtype=object).reshape(shape)
            return ir.ArrayTensor(array, dtype, **common)
        offset, length = record["offset"], record["length"]
        if offset < 0 or length < 0 or offset + length > self.size:
            raise GraphMLError(
                f"tensor {common['name']!r} reads bytes {offset}..{offset + length} of the "
                f"sidecar, which has {self.size}: the sidecar does not belong to this GraphML"
            )
        external = ir.ExternalTensor(
            self.location, self.folder, dtype, shape, offset=offset, length=length, **common
        )
        problem = external.data_problem()
        if problem:
            raise GraphMLError(f"tensor {common['name']!r} {problem}")
        if not in_memory and length >= SMALL_TENSOR:
            return external
        # Attribute tensors (Constant values) stay embedded in ONNX: copy them out of the map.
        array = np.array(external.numpy())
        external.release()
        return ir.ArrayTensor(array, dtype, **common)

    def value(self, record: dict, graph: Graph | None = None) -> Value:
        value = Value(
            record.get("name", record["key"]),
            decode_type(record.get("type")),
            doc_string=record.get("doc", ""),
            metadata_props=record.get("metadata"),
        )
        if graph is not None:
            value.meta["_graph"] = graph
        return value

    def describe(self, value: Value, record: dict) -> None:
        """Give an existing value the type/doc/metadata a later record carries."""
        if "type" in record:
            value.type = decode_type(record["type"])
        if "doc" in record:
            value.doc_string = record["doc"]
        if "metadata" in record:
            value.metadata_props = dict(record["metadata"])

    def lookup(self, key: str) -> Value:
        for names in reversed(self._scopes):
            if key in names:
                return names[key]
        # Defined nowhere (a dangling reference): one value shared by every reader.
        value = Value("" if key.startswith("#") else key)
        self._scopes[-1][key] = value
        return value

    def attr(self, record: dict) -> Attr:
        kind = record["type"]
        try:
            kind = AttrType(kind)
        except ValueError:
            pass
        value = record.get("value")
        if "value" in record:
            value = self.attr_value(kind, value)
        elif kind in LIST_ATTR_KINDS:
            value = []
        return Attr(
            record["name"],
            kind,
            value,
            doc_string=record.get("doc", ""),
            ref_attr_name=record.get("ref"),
        )

    def attr_value(self, kind, value) -> Any:
        return convert_attr_value(self, kind, value)

    # The per-item converters :func:`convert_attr_value` calls by name.
    text = staticmethod(from_text)
    type_proto = staticmethod(decode_type)

    def attr_tensor(self, record: dict) -> ir.Tensor:
        # Attribute tensors live in the node, not in external data.
        return self.tensor(record, in_memory=True)

    def unknown_kind(self, kind, value) -> Any:
        # A kind this version does not know is kept as recorded, so the model still loads.
        return value

    def sparse(self, record: dict) -> SparseTensor:
        return SparseTensor(
            self.tensor(record["values"], in_memory=True),
            self.tensor(record["indices"], in_memory=True),
            record["dims"],
        )

    def graph(self, record: dict, nodes: list[dict] | None = None) -> Graph:
        """A graph from its JSON record; ``nodes`` replaces ``record["nodes"]`` (main graph)."""
        graph = Graph(
            name=record.get("name", ""),
            doc_string=record.get("doc", ""),
            metadata_props=record.get("metadata"),
        )
        names: dict[str, Value] = {}
        self._scopes.append(names)
        try:
            self._graph_body(
                graph, record, record.get("nodes", []) if nodes is None else nodes, names
            )
        finally:
            self._scopes.pop()
        return graph

    def _graph_body(
        self, graph: Graph, record: dict, nodes: list[dict], names: dict[str, Value]
    ) -> None:
        for entry in record.get("inputs", []):
            value = self.value(entry, graph)
            graph.inputs.append(value)
            names[entry["key"]] = value
        for entry in record.get("initializers", []):
            value = names.get(entry["key"])
            if value is None:
                value = self.value(entry, graph)
                names[entry["key"]] = value
            value.const_value = self.tensor(entry["tensor"])
            graph.add_initializer(value)
        for entry in record.get("sparse_initializers", []):
            graph.sparse_initializers.append(self.sparse(entry))
        # Every output first: an input may name a value made further down (or in a subgraph).
        made = []
        for node_record in nodes:
            outputs = []
            for entry in node_record["outputs"]:
                value = self.value(entry)
                names[entry["key"]] = value
                outputs.append(value)
            made.append(outputs)
        for node_record, outputs in zip(nodes, made):
            graph.append(self.node(node_record, outputs))
        for entry in record.get("outputs", []):
            value = self.lookup(entry["key"])
            self.describe(value, entry)
            graph.outputs.append(value)
        for entry in record.get("value_info", []):
            value = names.get(entry["key"]) or self.value(entry)
            self.describe(value, entry)
            graph.value_info.append(value)

    def node(self, record: dict, outputs: list[Value]) -> Node:
        inputs = [None if key is None else self.lookup(key) for key in record["inputs"]]
        attributes = [self.attr(a) for a in record.get("attributes", [])]
        node = Node(
            record.get("domain", ""),
            record["op_type"],
            inputs,
            outputs=outputs,
            attributes=attributes,
            name=record.get("name", ""),
            overload=record.get("overload", ""),
            doc_string=record.get("doc", ""),
        )
        metadata = dict(record.get("metadata") or {})
        tag = metadata.get(ir.TAG_KEY)
        if tag is not None:
            try:
                node.scope = ir.Scope.from_tag(tag, metadata.get(ir.MODULE_KEY))
            except (ValueError, TypeError):
                pass  # an unreadable tag: the node keeps the unknown scope, as ir.load does
        # The stored metadata wins over what the scope setter wrote: the namespace names
        # qualified classes that a tag alone cannot restore.
        node.metadata_props = metadata
        return node

    def function(self, record: dict) -> Function:
        return Function(
            record["domain"],
            record["name"],
            self.graph(record["graph"]),
            overload=record.get("overload", ""),
            attributes=record.get("attributes", []),
            attribute_defaults=[self.attr(a) for a in record.get("attribute_defaults", [])],
            opset_imports=record.get("opsets"),
            doc_string=record.get("doc", ""),
            metadata_props=record.get("metadata"),
        )
