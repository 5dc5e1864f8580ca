"""TypeProto <-> IR types.

The IR types are frozen value objects, so they cannot carry presence flags. Instead each
TypeProto is converted, then written back the canonical way and compared byte for byte: if the
file wrote it differently (say ``elem_type`` left unset, or an empty TypeProto), the caller keeps
the original bytes beside the IR type and re-emits them while the type is unchanged.
"""

from __future__ import annotations

from onnx import TypeProto

from .._dtypes import data_type
from .._types import (
    MapType,
    OpaqueType,
    OptionalType,
    SequenceType,
    SparseTensorType,
    TensorType,
    Type,
)


def _shape_from_proto(shape_proto):
    dims = []
    denotations = []
    any_denotation = False
    for dim in shape_proto.dim:
        which = dim.WhichOneof("value")
        if which == "dim_value":
            dims.append(dim.dim_value)
        elif which == "dim_param":
            dims.append(dim.dim_param)
        else:
            dims.append(None)
        if dim.HasField("denotation"):
            denotations.append(dim.denotation)
            any_denotation = True
        else:
            denotations.append(None)
    return tuple(dims), (tuple(denotations) if any_denotation else None)


def type_from_proto(proto: TypeProto) -> Type | None:
    """The IR type of ``proto``; None when no kind of type is set."""
    denotation = proto.denotation if proto.HasField("denotation") else None
    which = proto.WhichOneof("value")
    if which == "tensor_type" or which == "sparse_tensor_type":
        inner = proto.tensor_type if which == "tensor_type" else proto.sparse_tensor_type
        shape = dim_denotations = None
        if inner.HasField("shape"):
            shape, dim_denotations = _shape_from_proto(inner.shape)
        cls = TensorType if which == "tensor_type" else SparseTensorType
        return cls(data_type(inner.elem_type), shape, denotation, dim_denotations)
    if which == "sequence_type":
        inner = proto.sequence_type
        elem = type_from_proto(inner.elem_type) if inner.HasField("elem_type") else None
        return SequenceType(elem, denotation)
    if which == "optional_type":
        inner = proto.optional_type
        elem = type_from_proto(inner.elem_type) if inner.HasField("elem_type") else None
        return OptionalType(elem, denotation)
    if which == "map_type":
        inner = proto.map_type
        value = type_from_proto(inner.value_type) if inner.HasField("value_type") else None
        return MapType(data_type(inner.key_type), value, denotation)
    if which == "opaque_type":
        inner = proto.opaque_type
        return OpaqueType(inner.domain, inner.name, denotation)
    return None


def type_to_proto(ir_type: Type, dst: TypeProto) -> None:
    """Write ``ir_type`` into ``dst`` in canonical form (the form onnx.helper produces)."""
    # SparseTensorType subclasses TensorType: test it first.
    if isinstance(ir_type, TensorType):
        inner = dst.sparse_tensor_type if isinstance(ir_type, SparseTensorType) else dst.tensor_type
        inner.elem_type = int(ir_type.dtype)
        if ir_type.shape is not None:
            shape = inner.shape
            shape.SetInParent()
            denotations = ir_type.dim_denotations
            for i, d in enumerate(ir_type.shape):
                dim = shape.dim.add()
                if isinstance(d, str):
                    dim.dim_param = d
                elif d is not None:
                    dim.dim_value = d
                if denotations is not None and i < len(denotations) and denotations[i] is not None:
                    dim.denotation = denotations[i]
    elif isinstance(ir_type, SequenceType):
        dst.sequence_type.SetInParent()
        if ir_type.elem is not None:
            type_to_proto(ir_type.elem, dst.sequence_type.elem_type)
    elif isinstance(ir_type, OptionalType):
        dst.optional_type.SetInParent()
        if ir_type.elem is not None:
            type_to_proto(ir_type.elem, dst.optional_type.elem_type)
    elif isinstance(ir_type, MapType):
        dst.map_type.key_type = int(ir_type.key)
        if ir_type.value is not None:
            type_to_proto(ir_type.value, dst.map_type.value_type)
    elif isinstance(ir_type, OpaqueType):
        opaque = dst.opaque_type
        opaque.SetInParent()
        if ir_type.domain:
            opaque.domain = ir_type.domain
        if ir_type.name:
            opaque.name = ir_type.name
    else:
        raise TypeError(f"cannot export type {ir_type!r}")
    if ir_type.denotation is not None:
        dst.denotation = ir_type.denotation


class TypeCodec:
    """Caches conversions both ways: a model repeats the same few types many times."""

    def __init__(self) -> None:
        self._decoded: dict[bytes, tuple[Type | None, bool]] = {}
        self._encoded: dict[Type, bytes] = {}

    def decode(self, proto: TypeProto) -> tuple[Type | None, bytes | None]:
        """(IR type, original bytes if the canonical form would differ, else None)."""
        raw = proto.SerializeToString()
        hit = self._decoded.get(raw)
        if hit is None:
            ir_type = type_from_proto(proto)
            canonical = ir_type is not None and self.encode(ir_type) == raw
            hit = self._decoded[raw] = (ir_type, canonical)
        return hit[0], (None if hit[1] else raw)

    def encode(self, ir_type: Type) -> bytes:
        raw = self._encoded.get(ir_type)
        if raw is None:
            proto = TypeProto()
            type_to_proto(ir_type, proto)
            raw = self._encoded[ir_type] = proto.SerializeToString()
        return raw

    def write(self, ir_type: Type | None, dst: TypeProto, original: tuple | None) -> None:
        """Fill ``dst`` (a TypeProto field that should be present) from ``ir_type``.

        ``original`` is the (IR type, bytes) pair kept at import for non-canonical types; it is
        used only while the IR type is still the one it was read as.
        """
        if original is not None and original[0] == ir_type:
            dst.ParseFromString(original[1])
            dst.SetInParent()
            return
        if ir_type is None:
            dst.SetInParent()
            return
        dst.ParseFromString(self.encode(ir_type))
        dst.SetInParent()
