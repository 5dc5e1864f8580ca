"""Plain-JSON form of IR pieces, for GraphML's data fields: types, attributes, nodes, graphs.

The GraphML file must rebuild the model on its own (with the weights sidecar), so everything the
IR holds about a node is written: inputs by value key, outputs with their types, attributes of
every kind (subgraphs recursively), metadata and doc strings. Tensor bytes never go into JSON:
a :class:`Sidecar` collects them into one file and the JSON keeps offset and length.

Values are referred to by a *key*: their name, or ``#N`` for an unnamed value, so two unnamed
values never collide. ``proto_extras`` (file-format trivia such as field presence) is not kept:
the rebuilt model is the same model, not necessarily the same bytes.

This module holds what both directions share (the sidecar, type records, text); the
:class:`~hcc.inspect._encoder.Encoder` writes records and the
:class:`~hcc.inspect._decoder.Decoder` reads them back.
"""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

import hcc.ir as ir
from hcc.ir import (
    AttrType,
    DataType,
    MapType,
    OpaqueType,
    OptionalType,
    SequenceType,
    SparseTensorType,
    TensorType,
)

ALIGN = 16  # offsets of tensors in the sidecar; aligned reads are cheaper to map


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


def as_text(item: str | bytes) -> Any:
    """A string attribute or tensor element: plain text, or base64 when not valid UTF-8."""
    return item if isinstance(item, str) else {"b64": _b64(item)}


def from_text(item: Any) -> str | bytes:
    return base64.b64decode(item["b64"]) if isinstance(item, dict) else item


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
            dtype_of(code),
            None if shape is None else tuple(shape),
            denotation,
            None if dims is None else tuple(dims),
        )
    if "sequence" in record:
        return SequenceType(decode_type(record["sequence"]), denotation)
    if "optional" in record:
        return OptionalType(decode_type(record["optional"]), denotation)
    if "map" in record:
        return MapType(dtype_of(record["map"]), decode_type(record["value"]), denotation)
    if "opaque" in record:
        domain, name = record["opaque"]
        return OpaqueType(domain, name, denotation)
    raise GraphMLError(f"unknown type record {record!r}")


def dtype_of(code: int):
    try:
        return DataType(code)
    except ValueError:
        return code


# How each attribute kind's payload is converted, by both directions alike: the name of the
# converter's method for one item, and whether the payload is a list of such items. Number
# kinds go through unchanged (as a list when they are a list). Encoder and Decoder each name
# their own methods ``text``, ``attr_tensor``, ``graph``, ``sparse`` and ``type_proto``.
_ATTR_ITEMS: dict[AttrType, tuple[str, bool]] = {
    AttrType.STRING: ("text", False),
    AttrType.STRINGS: ("text", True),
    AttrType.TENSOR: ("attr_tensor", False),
    AttrType.TENSORS: ("attr_tensor", True),
    AttrType.GRAPH: ("graph", False),
    AttrType.GRAPHS: ("graph", True),
    AttrType.SPARSE_TENSOR: ("sparse", False),
    AttrType.SPARSE_TENSORS: ("sparse", True),
    AttrType.TYPE_PROTO: ("type_proto", False),
    AttrType.TYPE_PROTOS: ("type_proto", True),
}
_NUMBER_KINDS = frozenset({AttrType.FLOAT, AttrType.INT, AttrType.INTS, AttrType.FLOATS})
# Kinds whose payload is a list: an attribute of one of them with no value is an empty list.
LIST_ATTR_KINDS = frozenset(
    {AttrType.INTS, AttrType.FLOATS} | {kind for kind, (_, many) in _ATTR_ITEMS.items() if many}
)


def convert_attr_value(converter, kind, value) -> Any:
    """``value`` of an attribute of ``kind``, each item passed through ``converter``'s method
    for it; ``converter.unknown_kind(kind, value)`` decides about a kind the table lacks."""
    if kind in _NUMBER_KINDS:
        return list(value) if isinstance(value, (list, tuple)) else value
    if kind not in _ATTR_ITEMS:
        return converter.unknown_kind(kind, value)
    method, many = _ATTR_ITEMS[kind]
    convert = getattr(converter, method)
    return [convert(item) for item in value] if many else convert(value)
