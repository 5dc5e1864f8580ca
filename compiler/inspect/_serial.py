"""Plain-JSON form of IR pieces, for GraphML's data fields: types, attributes, nodes, graphs.

The GraphML file must rebuild the model on its own (with the weights sidecar), so everything the
IR holds about a node is written: inputs by value key, outputs with their types, attributes of
every kind (subgraphs recursively), metadata and doc strings. Tensor bytes never go into JSON:
a :class:`Sidecar` collects them into one file and the JSON keeps offset and length.

Values are referred to by a *key*: their name, or ``#N`` for an unnamed value, so two unnamed
values never collide. ``proto_extras`` (file-format trivia such as field presence) is not kept:
the rebuilt model is the same model, not necessarily the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

import numpy as np

import hcc.ir as ir
from hcc.ir import (
    Attr,
    AttrType,
    DataType,
    Function,
    Graph,
    MapType,
    Node,
    OpaqueType,
    OptionalType,
    SequenceType,
    SparseTensor,
    SparseTensorType,
    TensorType,
    Value,
)

ALIGN = 16  # offsets of tensors in the sidecar; aligned reads are cheaper to map
# Tensors below this size are copied into memory on import, so the saved model embeds them:
# onnxruntime's shape inference cannot read small constants (Slice starts) from external data.
SMALL_TENSOR = 1024


class GraphMLError(ir.HccError):
    """A GraphML file or its sidecar cannot be read back into a model."""


# -- tensors and the sidecar --------------------------------------------------------------------


class Sidecar:
    """Appends raw tensor bytes to one file (an open descriptor, which stays open) and hashes
    them on the way."""

    def __init__(self, fd: int) -> None:
        self._file = os.fdopen(fd, "wb", closefd=False)
        self._hash = hashlib.sha256()
        self.size = 0

    def add(self, raw) -> tuple[int, int]:
        pad = (-self.size) % ALIGN
        if pad:
            self._write(b"\0" * pad)
        offset = self.size
        self._write(raw)
        return offset, len(raw)

    def _write(self, data) -> None:
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)

    def close(self) -> str:
        """Flush the bytes to the descriptor; returns the sha256 of its contents."""
        self._file.close()
        return self._hash.hexdigest()


def file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _text(item: str | bytes) -> Any:
    """A string attribute or tensor element: plain text, or base64 when not valid UTF-8."""
    return item if isinstance(item, str) else {"b64": _b64(item)}


def _untext(item: Any) -> str | bytes:
    return base64.b64decode(item["b64"]) if isinstance(item, dict) else item


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
            record["strings"] = [_text(s) for s in tensor.numpy().reshape(-1).tolist()]
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
        if kind in (AttrType.FLOAT, AttrType.INT, AttrType.INTS, AttrType.FLOATS):
            return list(value) if isinstance(value, (list, tuple)) else value
        if kind == AttrType.STRING:
            return _text(value)
        if kind == AttrType.STRINGS:
            return [_text(s) for s in value]
        if kind == AttrType.TENSOR:
            return self.tensor(value)
        if kind == AttrType.TENSORS:
            return [self.tensor(t) for t in value]
        if kind == AttrType.GRAPH:
            return self.graph(value)
        if kind == AttrType.GRAPHS:
            return [self.graph(g) for g in value]
        if kind == AttrType.SPARSE_TENSOR:
            return self.sparse(value)
        if kind == AttrType.SPARSE_TENSORS:
            return [self.sparse(s) for s in value]
        if kind == AttrType.TYPE_PROTO:
            return encode_type(value)
        if kind == AttrType.TYPE_PROTOS:
            return [encode_type(t) for t in value]
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


def encode_type(t) -> Any:
    if t is None:
        return None
    if isinstance(t, TensorType):  # SparseTensorType is one too
        record: dict[str, Any] = {
            "sparse_tensor" if isinstance(t, SparseTensorType) else "tensor": int(t.dtype),
            "shape": None if t.shape is None else list(t.shape),
        }
        if t.dim_denotations is not None:
            record["dim_denotations"] = list(t.dim_denotations)
    elif isinstance(t, SequenceType):
        record = {"sequence": encode_type(t.elem)}
    elif isinstance(t, OptionalType):
        record = {"optional": encode_type(t.elem)}
    elif isinstance(t, MapType):
        record = {"map": int(t.key), "value": encode_type(t.value)}
    elif isinstance(t, OpaqueType):
        record = {"opaque": [t.domain, t.name]}
    else:
        raise GraphMLError(f"type {t!r} cannot be written to GraphML")
    if t.denotation is not None:
        record["denotation"] = t.denotation
    return record


def decode_type(record) -> Any:
    if record is None:
        return None
    denotation = record.get("denotation")
    if "tensor" in record or "sparse_tensor" in record:
        cls = SparseTensorType if "sparse_tensor" in record else TensorType
        code = record.get("tensor", record.get("sparse_tensor"))
        shape = record["shape"]
        dims = record.get("dim_denotations")
        return cls(
            _dtype(code),
            None if shape is None else tuple(shape),
            denotation,
            None if dims is None else tuple(dims),
        )
    if "sequence" in record:
        return SequenceType(decode_type(record["sequence"]), denotation)
    if "optional" in record:
        return OptionalType(decode_type(record["optional"]), denotation)
    if "map" in record:
        return MapType(_dtype(record["map"]), decode_type(record["value"]), denotation)
    if "opaque" in record:
        domain, name = record["opaque"]
        return OpaqueType(domain, name, denotation)
    raise GraphMLError(f"unknown type record {record!r}")


def _dtype(code: int):
    try:
        return DataType(code)
    except ValueError:
        return code


# -- decoding -------------------------------------------------------------------------------------


class Decoder:
    """Rebuilds IR objects; tensors are read from the sidecar at ``sidecar_path``."""

    def __init__(self, sidecar_path: str, sidecar_size: int) -> None:
        self.folder = os.path.dirname(os.path.abspath(sidecar_path))
        self.location = os.path.basename(sidecar_path)
        self.size = sidecar_size
        self._scopes: list[dict[str, Value]] = []

    def tensor(self, record: dict, *, in_memory: bool = False) -> ir.Tensor:
        dtype = _dtype(record["dtype"])
        shape = record["shape"]
        common = dict(
            name=record.get("name", ""),
            doc_string=record.get("doc", ""),
            metadata_props=record.get("metadata"),
        )
        if "strings" in record:
            items = [_untext(s) for s in record["strings"]]
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
        elif kind in (
            AttrType.INTS,
            AttrType.FLOATS,
            AttrType.STRINGS,
            AttrType.TENSORS,
            AttrType.GRAPHS,
            AttrType.SPARSE_TENSORS,
            AttrType.TYPE_PROTOS,
        ):
            value = []
        return Attr(
            record["name"],
            kind,
            value,
            doc_string=record.get("doc", ""),
            ref_attr_name=record.get("ref"),
        )

    def attr_value(self, kind, value) -> Any:
        if kind in (AttrType.FLOAT, AttrType.INT, AttrType.INTS, AttrType.FLOATS):
            return value
        if kind == AttrType.STRING:
            return _untext(value)
        if kind == AttrType.STRINGS:
            return [_untext(s) for s in value]
        if kind == AttrType.TENSOR:
            return self.tensor(value, in_memory=True)
        if kind == AttrType.TENSORS:
            return [self.tensor(t, in_memory=True) for t in value]
        if kind == AttrType.GRAPH:
            return self.graph(value)
        if kind == AttrType.GRAPHS:
            return [self.graph(g) for g in value]
        if kind == AttrType.SPARSE_TENSOR:
            return self.sparse(value)
        if kind == AttrType.SPARSE_TENSORS:
            return [self.sparse(s) for s in value]
        if kind == AttrType.TYPE_PROTO:
            return decode_type(value)
        if kind == AttrType.TYPE_PROTOS:
            return [decode_type(t) for t in value]
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
