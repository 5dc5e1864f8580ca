"""Node attributes: their kinds (numbered as in ONNX), values and sparse tensors."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

from ._tensors import Tensor


class AttrType(enum.IntEnum):
    """Attribute kinds, numbered as in ONNX's AttributeProto.AttributeType."""

    UNDEFINED = 0
    FLOAT = 1
    INT = 2
    STRING = 3
    TENSOR = 4
    GRAPH = 5
    FLOATS = 6
    INTS = 7
    STRINGS = 8
    TENSORS = 9
    GRAPHS = 10
    SPARSE_TENSOR = 11
    SPARSE_TENSORS = 12
    TYPE_PROTO = 13
    TYPE_PROTOS = 14


class SparseTensor:
    """A sparse tensor: non-zero ``values``, their ``indices`` and the dense ``dims``."""

    __slots__ = ("values", "indices", "dims")

    def __init__(self, values: Tensor, indices: Tensor, dims: Sequence[int]) -> None:
        self.values = values
        self.indices = indices
        self.dims = tuple(int(d) for d in dims)

    def __repr__(self) -> str:
        return f"<SparseTensor {self.values.name!r} dims={list(self.dims)}>"


class Attr:
    """A node attribute. ``ref_attr_name`` is set inside functions for attributes that refer to
    an attribute of the calling node; such attributes carry no value."""

    __slots__ = ("name", "type", "value", "doc_string", "ref_attr_name", "proto_extras")

    def __init__(
        self,
        name: str,
        type: AttrType | int,
        value: Any,
        *,
        doc_string: str = "",
        ref_attr_name: str | None = None,
    ) -> None:
        self.name = name
        self.type = type
        self.value = value
        self.doc_string = doc_string
        self.ref_attr_name = ref_attr_name
        self.proto_extras: dict[str, Any] = {}

    @property
    def is_ref(self) -> bool:
        return self.ref_attr_name is not None

    def __repr__(self) -> str:
        if self.is_ref:
            return f"Attr({self.name!r}, ref={self.ref_attr_name!r})"
        return f"Attr({self.name!r}, {getattr(self.type, 'name', self.type)}, {self.value!r})"


# Small constructors so passes can write ``Attr.int("axis", 1)``.
def _attr_ctor(kind: AttrType):
    def make(name: str, value: Any) -> Attr:
        if kind in (AttrType.FLOATS, AttrType.INTS, AttrType.STRINGS):
            value = list(value)
        return Attr(name, kind, value)

    make.__doc__ = f"An attribute of type {kind.name}."
    return staticmethod(make)


Attr.float = _attr_ctor(AttrType.FLOAT)  # type: ignore[attr-defined]
Attr.int = _attr_ctor(AttrType.INT)  # type: ignore[attr-defined]
Attr.string = _attr_ctor(AttrType.STRING)  # type: ignore[attr-defined]
Attr.tensor = _attr_ctor(AttrType.TENSOR)  # type: ignore[attr-defined]
Attr.graph = _attr_ctor(AttrType.GRAPH)  # type: ignore[attr-defined]
Attr.floats = _attr_ctor(AttrType.FLOATS)  # type: ignore[attr-defined]
Attr.ints = _attr_ctor(AttrType.INTS)  # type: ignore[attr-defined]
Attr.strings = _attr_ctor(AttrType.STRINGS)  # type: ignore[attr-defined]
