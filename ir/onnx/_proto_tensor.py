"""Tensors read from TensorProtos, and writing tensors back into TensorProtos.

An imported tensor keeps a reference to the TensorProto it came from. Nothing is decoded until a
pass asks for the data, and an unchanged tensor is exported by copying its proto, which keeps
every field (and field presence) the file had. Name, doc string and metadata stay editable: the
exporter patches those when they differ from the proto.
"""

from __future__ import annotations

import os

import numpy as np
from onnx import TensorProto

from .._dtypes import DataType, data_type
from .._tensors import (
    ExternalTensor,
    Tensor,
    array_to_raw,
    raw_to_array,
    safe_external_path,
)
from ..errors import LoadError

EXTERNAL = TensorProto.EXTERNAL

# Fields that hold a tensor's elements (or say where they are); everything else is "header".
DATA_FIELDS = frozenset(
    {
        "raw_data",
        "float_data",
        "int32_data",
        "string_data",
        "int64_data",
        "double_data",
        "uint64_data",
        "external_data",
        "data_location",
    }
)


_TYPED_FIELDS = ("float_data", "int32_data", "int64_data", "double_data", "uint64_data")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _metadata_of(proto) -> dict[str, str] | None:
    if not len(proto.metadata_props):
        return None
    return {entry.key: entry.value for entry in proto.metadata_props}


class ProtoTensor(Tensor):
    """A tensor whose data stays in its TensorProto until someone reads it."""

    __slots__ = ("proto", "_metadata0")

    def __init__(self, proto: TensorProto) -> None:
        metadata = _metadata_of(proto)
        super().__init__(
            data_type(proto.data_type),
            proto.dims,
            name=proto.name,
            doc_string=proto.doc_string,
            metadata_props=metadata,
        )
        self.proto = proto
        self._metadata0 = metadata or {}

    @property
    def is_external(self) -> bool:
        """True for a reference to external data that was not resolved (no base folder)."""
        return self.proto.data_location == EXTERNAL

    def _check_readable(self) -> None:
        if self.is_external:
            location = next((e.value for e in self.proto.external_data if e.key == "location"), "?")
            raise LoadError(
                f"tensor {self.name!r} keeps its data in external file {location!r}, which was "
                "not loaded; load the model from its file to read it"
            )

    def numpy(self) -> np.ndarray:
        self._check_readable()
        problem = self.data_problem()
        if problem:  # before numpy sees the shape: a huge one would be allocated or refused
            raise LoadError(f"tensor {self.name!r} {problem}")
        proto = self.proto
        if proto.HasField("raw_data"):
            return raw_to_array(proto.raw_data, self._dtype, self._shape, self.name)
        # The typed fields have many per-type quirks (float16 in int32_data, complex pairs,
        # packed 4-bit values...); onnx's own decoder handles them all.
        from onnx import numpy_helper

        try:
            return numpy_helper.to_array(proto)
        except Exception as error:  # onnx raises ValueError, TypeError, KeyError... on bad data
            raise LoadError(
                f"tensor {self.name!r}: its data does not match its element type "
                f"and shape {list(self._shape)} ({_first_line(error)})"
            ) from None

    def tobytes(self) -> bytes:
        self._check_readable()
        if self.proto.HasField("raw_data"):
            return self.proto.raw_data
        return array_to_raw(self.numpy(), self._dtype)

    def raw_view(self) -> memoryview:
        return memoryview(self.tobytes())

    def _stored_nbytes(self) -> int | None:
        proto = self.proto
        if proto.data_location == EXTERNAL:
            return None  # not resolved: its bytes are not ours to look at
        if proto.HasField("raw_data"):
            return len(proto.raw_data)
        dtype = self._dtype
        if not isinstance(dtype, DataType):
            return None
        values = sum(len(getattr(proto, field)) for field in _TYPED_FIELDS)
        # In the typed fields a sub-byte type stores one packed byte per value, a complex
        # number two values; every other type one value per element.
        if dtype.bitwidth < 8:
            return values
        if dtype in (DataType.COMPLEX64, DataType.COMPLEX128):
            return values * dtype.bitwidth // 16
        return values * dtype.bitwidth // 8

    @property
    def nbytes(self) -> int:
        if self._dtype == DataType.STRING:
            return sum(len(s) for s in self.proto.string_data)
        if self.proto.HasField("raw_data") and not isinstance(self._dtype, DataType):
            return len(self.proto.raw_data)
        return super().nbytes


class ImportedExternalTensor(ExternalTensor):
    """An ExternalTensor that remembers its TensorProto, so that the external_data entries (and
    every other field) can be written back verbatim when the data has not moved."""

    __slots__ = ("proto", "_metadata0")

    def __init__(self, proto: TensorProto, base_dir: str) -> None:
        entries = {e.key: e.value for e in proto.external_data}
        location = entries.get("location", "")
        name = proto.name
        try:
            offset = int(entries.get("offset", 0) or 0)
            length = int(entries["length"]) if entries.get("length") else None
        except ValueError:
            raise LoadError(
                f"tensor {name!r} has a malformed external data offset or length"
            ) from None
        if length is None:
            # Without a length the data runs to the end of the file (as onnx reads it).
            length = os.path.getsize(safe_external_path(base_dir, location)) - offset
        metadata = _metadata_of(proto)
        super().__init__(
            location,
            base_dir,
            data_type(proto.data_type),
            proto.dims,
            offset=offset,
            length=length,
            name=name,
            doc_string=proto.doc_string,
            metadata_props=metadata,
        )
        self.proto = proto
        self._metadata0 = metadata or {}


def _encode_str(s) -> bytes:
    return s if isinstance(s, bytes) else str(s).encode("utf-8")


def copy_header(src: TensorProto, dst: TensorProto) -> None:
    """Copy every present field of ``src`` except the data fields (no data bytes are copied)."""
    for field, value in src.ListFields():
        name = field.name
        if name in DATA_FIELDS:
            continue
        if field.is_repeated:
            getattr(dst, name).extend(value)
        elif field.message_type is not None:
            getattr(dst, name).CopyFrom(value)
        else:
            setattr(dst, name, value)


def patch_header(tensor: Tensor, proto: TensorProto, dst: TensorProto, name: str | None) -> None:
    """After copying ``proto`` into ``dst``, apply edits made to the tensor's mutable fields."""
    want = tensor.name if name is None else name
    if want != proto.name:
        dst.name = want
    if tensor.doc_string != proto.doc_string:
        if tensor.doc_string:
            dst.doc_string = tensor.doc_string
        else:
            dst.ClearField("doc_string")
    if tensor.metadata_props != tensor._metadata0:  # type: ignore[attr-defined]
        del dst.metadata_props[:]
        for key, value in tensor.metadata_props.items():
            dst.metadata_props.add(key=key, value=value)


def write_header(tensor: Tensor, dst: TensorProto, name: str | None) -> None:
    """dims, data_type, name, doc string and metadata of a tensor that has no proto."""
    dst.dims.extend(tensor.shape)
    dst.data_type = int(tensor.dtype)
    name = tensor.name if name is None else name
    if name:
        dst.name = name
    if tensor.doc_string:
        dst.doc_string = tensor.doc_string
    for key, value in tensor.metadata_props.items():
        dst.metadata_props.add(key=key, value=value)


def write_embedded(tensor: Tensor, dst: TensorProto, name: str | None) -> None:
    """Write ``tensor`` with its data inside the proto."""
    proto = getattr(tensor, "proto", None)
    if isinstance(tensor, ProtoTensor):
        # Verbatim: also right for unresolved external references (to_onnx without a folder).
        dst.CopyFrom(proto)
        patch_header(tensor, proto, dst, name)
        return
    if proto is not None:  # an ImportedExternalTensor being embedded
        copy_header(proto, dst)
        patch_header(tensor, proto, dst, name)
    else:
        write_header(tensor, dst, name)
    if tensor.dtype == DataType.STRING:
        array = tensor.numpy()
        dst.string_data.extend(_encode_str(s) for s in array.reshape(-1).tolist())
    else:
        dst.raw_data = bytes(tensor.raw_view())


def write_external_ref(tensor: Tensor, dst: TensorProto, name: str | None) -> None:
    """Write an ExternalTensor as a reference to where its data is now (in-memory export)."""
    proto = getattr(tensor, "proto", None)
    if proto is not None:
        dst.CopyFrom(proto)
        patch_header(tensor, proto, dst, name)
        return
    assert isinstance(tensor, ExternalTensor)
    write_header(tensor, dst, name)
    set_external_entries(dst, tensor.location, tensor.offset, tensor.length)


def set_external_entries(dst: TensorProto, location: str, offset: int, length: int) -> None:
    """Point ``dst`` at external data, editing existing entries in place so that any other keys
    (checksum, ...) and the entries' order survive."""
    had_entries = len(dst.external_data) > 0
    dst.data_location = EXTERNAL
    wanted = {"location": location, "offset": str(offset), "length": str(length)}
    for entry in dst.external_data:
        if entry.key in wanted:
            value = wanted.pop(entry.key)
            if entry.value != value:
                entry.value = value
    for key in ("location", "offset", "length"):
        # A file that left out "offset" meant 0; keep it left out.
        if key in wanted and not (key == "offset" and offset == 0 and had_entries):
            dst.external_data.add(key=key, value=wanted[key])
