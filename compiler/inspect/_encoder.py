"""Write IR pieces as plain-JSON records (the format is described in :mod:`._serial`)."""

from __future__ import annotations

from typing import Any

import hcc.ir as ir
from hcc.ir import (
    Attr,
    DataType,
    Function,
    Graph,
    Node,
    SparseTensor,
    Value,
)

from ._serial import GraphMLError, Sidecar, as_text, convert_attr_value, encode_type


class Encoder:
    def __init__(self, sidecar: Sidecar) -> None:
        self.sidecar = sidecar
        self._keys: dict[int, str] = {}
        self._unnamed = 0

    def key(self, value: Value) -> str:
        found = self._keys.get(id(value))
        if found is None:
            if value.name:
                found = value.name
            else:
                found = f"#{self._unnamed}"
                self._unnamed += 1
            self._keys[id(value)] = found
        return found

    # -- leaves -------------------------------------------------------------------------------

    def tensor(self, tensor: ir.Tensor) -> dict:
        record: dict[str, Any] = {"dtype": int(tensor.dtype), "shape": list(tensor.shape)}
        if tensor.name:
            record["name"] = tensor.name
        if tensor.doc_string:
            record["doc"] = tensor.doc_string
        if tensor.metadata_props:
            record["metadata"] = dict(tensor.metadata_props)
        if tensor.dtype == DataType.STRING:
            record["strings"] = [as_text(s) for s in tensor.numpy().reshape(-1).tolist()]
        else:
            record["offset"], record["length"] = self.sidecar.add(tensor.raw_view())
        return record

    def value(self, value: Value) -> dict:
        record: dict[str, Any] = {"key": self.key(value)}
        if value.name != record["key"]:
            record["name"] = value.name
        if value.type is not None:
            record["type"] = encode_type(value.type)
        if value.doc_string:
            record["doc"] = value.doc_string
        if value.metadata_props:
            record["metadata"] = dict(value.metadata_props)
        return record

    def attr(self, attr: Attr) -> dict:
        record: dict[str, Any] = {"name": attr.name, "type": int(attr.type)}
        if attr.doc_string:
            record["doc"] = attr.doc_string
        if attr.ref_attr_name is not None:
            record["ref"] = attr.ref_attr_name
        if attr.value is not None:
            record["value"] = self.attr_value(attr.type, attr.value)
        return record

    def attr_value(self, kind, value) -> Any:
        return convert_attr_value(self, kind, value)

    # The per-item converters :func:`convert_attr_value` calls by name.
    text = staticmethod(as_text)
    type_proto = staticmethod(encode_type)

    def attr_tensor(self, tensor: ir.Tensor) -> dict:
        return self.tensor(tensor)

    def unknown_kind(self, kind, value) -> Any:
        raise GraphMLError(f"attribute of kind {kind} cannot be written to GraphML")

    def sparse(self, sparse: SparseTensor) -> dict:
        return {
            "values": self.tensor(sparse.values),
            "indices": self.tensor(sparse.indices),
            "dims": list(sparse.dims),
        }

    # -- nodes and graphs ---------------------------------------------------------------------

    def node(self, node: Node) -> dict:
        record: dict[str, Any] = {
            "name": node.name,
            "op_type": node.op_type,
            "inputs": [None if v is None else self.key(v) for v in node.inputs],
            "outputs": [self.value(v) for v in node.outputs],
        }
        if node.domain:
            record["domain"] = node.domain
        if node.overload:
            record["overload"] = node.overload
        if node.doc_string:
            record["doc"] = node.doc_string
        if node.attributes:
            record["attributes"] = [self.attr(a) for a in node.attributes.values()]
        if node.metadata_props:
            record["metadata"] = dict(node.metadata_props)
        return record

    def graph(self, graph: Graph, *, with_nodes: bool = True) -> dict:
        """A graph as JSON; the main graph's nodes go to GraphML elements instead."""
        record: dict[str, Any] = {
            "name": graph.name,
            "inputs": [self.value(v) for v in graph.inputs],
            "initializers": [],
        }
        inputs = {id(v) for v in graph.inputs}
        for value in graph.initializers.values():
            entry = self.value(value) if id(value) not in inputs else {"key": self.key(value)}
            entry["tensor"] = self.tensor(value.const_value)
            record["initializers"].append(entry)
        if graph.sparse_initializers:
            record["sparse_initializers"] = [self.sparse(s) for s in graph.sparse_initializers]
        if with_nodes:
            record["nodes"] = [self.node(n) for n in graph]
        record["outputs"] = [self.value(v) for v in graph.outputs]
        # value_info repeats types already written with the values; only its order is new.
        record["value_info"] = [self.value(v) for v in graph.value_info]
        if graph.doc_string:
            record["doc"] = graph.doc_string
        if graph.metadata_props:
            record["metadata"] = dict(graph.metadata_props)
        return record

    def function(self, function: Function) -> dict:
        record = {
            "domain": function.domain,
            "name": function.name,
            "overload": function.overload,
            "attributes": list(function.attributes),
            "attribute_defaults": [self.attr(a) for a in function.attribute_defaults.values()],
            "opsets": dict(function.opset_imports),
            "graph": self.graph(function.graph),
        }
        if function.doc_string:
            record["doc"] = function.doc_string
        if function.metadata_props:
            record["metadata"] = dict(function.metadata_props)
        return record
