"""Tensors: in-memory arrays and lazily memory-mapped external data.

A model's weights can be larger than what we want to hold twice. ``ExternalTensor`` only records
where its bytes are (file, offset, length); the file is memory-mapped the first time something
asks for the bytes, and writers stream from that map. Paths are checked when the tensor is made:
external data may never be read from outside the model's folder.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Sequence

import numpy as np

from ._dtypes import DataType
from .errors import LoadError


class Tensor:
    """Base of all tensors: element type, shape, optional name, doc string and metadata."""

    __slots__ = ("name", "doc_string", "metadata_props", "_dtype", "_shape", "__weakref__")

    def __init__(
        self,
        dtype: DataType | int,
        shape: Sequence[int],
        *,
        name: str = "",
        doc_string: str = "",
        metadata_props: dict[str, str] | None = None,
    ) -> None:
        self._dtype = dtype
        self._shape = tuple(int(d) for d in shape)
        self.name = name
        self.doc_string = doc_string
        self.metadata_props = dict(metadata_props or {})

    @property
    def dtype(self) -> DataType | int:
        return self._dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def size(self) -> int:
        n = 1
        for d in self._shape:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        """Bytes of the tensor's raw (packed) little-endian form; for strings, of their UTF-8
        (or bytes) contents, since string tensors have no raw form."""
        if self._dtype == DataType.STRING:
            return sum(len(_as_bytes(item)) for item in self.numpy().reshape(-1))
        if not isinstance(self._dtype, DataType):
            return len(self.tobytes())
        return (self.size * self._dtype.bitwidth + 7) // 8

    def data_problem(self) -> str | None:
        """What makes the stored data disagree with the element type and shape, found without
        reading the data; None when they agree. (A damaged file loads, so that ``hcc validate``
        can say what is wrong with it; this is how it says so.)"""
        dtype = self._dtype
        if not isinstance(dtype, DataType) or dtype == DataType.UNDEFINED:
            return f"has an unknown element type ({_dtype_name(dtype)})"
        if any(d < 0 for d in self._shape):
            return f"has a negative dimension in its shape {list(self._shape)}"
        stored = self._stored_nbytes()
        if stored is None or dtype == DataType.STRING:
            return None
        expected = (self.size * dtype.bitwidth + 7) // 8
        if stored != expected:
            return (
                f"holds {stored} bytes of data, but {dtype.name.lower()}{list(self._shape)} "
                f"takes {expected}"
            )
        return None

    def _stored_nbytes(self) -> int | None:
        """The size of the stored data in raw-data bytes, when known without reading it."""
        return None

    def numpy(self) -> np.ndarray:
        raise NotImplementedError

    def tobytes(self) -> bytes:
        """The raw little-endian bytes, packed for sub-byte types (ONNX ``raw_data`` layout)."""
        return array_to_raw(self.numpy(), self._dtype)

    def raw_view(self) -> memoryview:
        """A read-only view of the raw bytes; may avoid a copy (memory-mapped tensors)."""
        return memoryview(self.tobytes())

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        dtype = self._dtype.name if isinstance(self._dtype, DataType) else self._dtype
        return f"<{type(self).__name__}{name} {dtype}{list(self._shape)}>"


class ArrayTensor(Tensor):
    """A tensor held in memory as a numpy array (object arrays of bytes for strings)."""

    __slots__ = ("_array",)

    def __init__(self, array, dtype: DataType | int | None = None, **kwargs) -> None:
        array = np.asarray(array)
        if dtype is None:
            # Byte order is a storage detail (tobytes writes little endian): >i4 is still INT32.
            dtype = DataType.from_numpy(array.dtype.newbyteorder("="))
        super().__init__(dtype, array.shape, **kwargs)
        self._array = array

    def numpy(self) -> np.ndarray:
        return self._array


class ExternalTensor(Tensor):
    """A tensor whose bytes live in a file beside the model, read by memory-mapping on demand."""

    __slots__ = ("location", "base_dir", "offset", "length", "_map")

    def __init__(
        self,
        location: str,
        base_dir: str,
        dtype: DataType | int,
        shape: Sequence[int],
        *,
        offset: int = 0,
        length: int | None = None,
        **kwargs,
    ) -> None:
        super().__init__(dtype, shape, **kwargs)
        self.location = location
        self.base_dir = base_dir
        self.offset = int(offset)
        self.length = self.nbytes if length is None else int(length)
        self._map: mmap.mmap | None = None
        path = safe_external_path(base_dir, location)
        size = os.path.getsize(path)
        if self.offset < 0 or self.length < 0 or self.offset + self.length > size:
            raise LoadError(
                f"external data for tensor {self.name!r} reads bytes {self.offset}.."
                f"{self.offset + self.length} but {location!r} has {size} bytes"
            )

    @property
    def path(self) -> str:
        return os.path.join(self.base_dir, self.location)

    def _stored_nbytes(self) -> int | None:
        return self.length

    def raw_view(self) -> memoryview:
        if self.length == 0:
            return memoryview(b"")
        if self._map is None:
            # Map the whole file once; the OS shares pages between tensors of the same file.
            with open(self.path, "rb") as f:
                self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        return memoryview(self._map)[self.offset : self.offset + self.length]

    def tobytes(self) -> bytes:
        return bytes(self.raw_view())

    def numpy(self) -> np.ndarray:
        return raw_to_array(self.raw_view(), self._dtype, self._shape, self.name)

    def release(self) -> None:
        """Drop the memory map (it is re-created if the bytes are needed again)."""
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:  # a view is still alive; let garbage collection close it
                pass
            self._map = None


def safe_external_path(base_dir: str, location: str) -> str:
    """Resolve ``location`` under ``base_dir``, refusing anything that leaves that folder."""
    if not location:
        raise LoadError("external data with an empty location")
    if not isinstance(location, str):
        raise LoadError(f"external data location {location!r} is not UTF-8 text")
    if "\0" in location:
        raise LoadError(f"external data location {location!r} contains a NUL byte")
    if os.path.isabs(location) or location.startswith(("/", "\\")) or ":" in location[:3]:
        raise LoadError(f"external data location {location!r} is absolute; it must be relative")
    parts = location.replace("\\", "/").split("/")
    if ".." in parts:
        raise LoadError(f"external data location {location!r} leaves the model's folder")
    root = os.path.realpath(base_dir)
    path = os.path.realpath(os.path.join(base_dir, location))
    if os.path.commonpath([root, path]) != root:
        raise LoadError(
            f"external data location {location!r} resolves outside the model's folder (symlink?)"
        )
    if not os.path.isfile(path):
        raise LoadError(f"external data file {location!r} not found in {base_dir!r}")
    return path


def _dtype_name(dtype: DataType | int) -> str:
    return dtype.name.lower() if isinstance(dtype, DataType) else f"code {dtype}"


def _as_bytes(item) -> bytes:
    return item if isinstance(item, bytes) else str(item).encode("utf-8")


def _is_subbyte(dtype) -> bool:
    return isinstance(dtype, DataType) and dtype.bitwidth in (2, 4)


def array_to_raw(array: np.ndarray, dtype: DataType | int) -> bytes:
    """Pack an array into ONNX raw-data bytes (little endian; 2/4-bit types packed per byte)."""
    if isinstance(dtype, DataType) and dtype == DataType.STRING:
        raise ValueError("string tensors have no raw-data form")
    if _is_subbyte(dtype):
        bits = dtype.bitwidth
        per_byte = 8 // bits
        arr = np.asarray(array)
        if arr.dtype.itemsize != 1:
            # Wider containers (int64 lists, float32 values for float4): convert to the element
            # type first, so each element becomes one code byte before packing.
            arr = arr.astype(dtype.to_numpy())
        codes = np.ascontiguousarray(arr).reshape(-1).view(np.uint8) & ((1 << bits) - 1)
        pad = (-codes.size) % per_byte
        if pad:
            codes = np.concatenate([codes, np.zeros(pad, np.uint8)])
        codes = codes.reshape(-1, per_byte).astype(np.uint8)
        packed = np.zeros(codes.shape[0], np.uint8)
        for k in range(per_byte):
            packed |= codes[:, k] << (k * bits)
        return packed.tobytes()
    arr = np.ascontiguousarray(array)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return arr.tobytes()


def raw_to_array(raw, dtype: DataType | int, shape: tuple[int, ...], name: str = "") -> np.ndarray:
    """Unpack ONNX raw-data bytes into an array of ``shape`` (a view when possible).

    Bytes that do not fit the dtype and shape (a damaged or hostile file) are a
    :class:`LoadError` naming the tensor, never a numpy error or a huge allocation.
    """
    what = f"tensor {name!r}" if name else "a tensor"
    if not isinstance(dtype, DataType) or dtype in (DataType.UNDEFINED, DataType.STRING):
        raise LoadError(f"{what} has element type {_dtype_name(dtype)}, which has no raw form")
    if any(d < 0 for d in shape):
        raise LoadError(f"{what} has a negative dimension in its shape {list(shape)}")
    try:
        np_dtype = dtype.to_numpy()
    except TypeError:
        raise LoadError(
            f"{what} has element type {dtype.name.lower()}, which hcc cannot read"
        ) from None
    count = 1
    for d in shape:
        count *= d
    expected = (count * dtype.bitwidth + 7) // 8
    actual = raw.nbytes if isinstance(raw, memoryview) else len(raw)
    if actual != expected:
        raise LoadError(
            f"{what} holds {actual} bytes of data, but {dtype.name.lower()}"
            f"{list(shape)} takes {expected}"
        )
    if _is_subbyte(dtype):
        bits = dtype.bitwidth
        per_byte = 8 // bits
        packed = np.frombuffer(raw, np.uint8)
        codes = np.zeros((packed.size, per_byte), np.uint8)
        for k in range(per_byte):
            codes[:, k] = (packed >> (k * bits)) & ((1 << bits) - 1)
        codes = codes.reshape(-1)[:count]
        if dtype in (DataType.INT4, DataType.INT2):
            sign = 1 << (bits - 1)
            codes = ((codes.astype(np.int16) ^ sign) - sign).astype(np.int8)
            return codes.astype(np_dtype).reshape(shape)
        return (
            codes.view(np_dtype).reshape(shape)
            if np_dtype.itemsize == 1
            else codes.astype(np_dtype).reshape(shape)
        )
    arr = np.frombuffer(raw, dtype=np_dtype.newbyteorder("<"), count=count)
    return arr.reshape(shape)
