"""Where each tensor of a safetensors checkpoint lies on disk, read from the headers only.

A ``.safetensors`` file is an 8-byte little-endian header length, a JSON header giving each
tensor's dtype, shape and ``data_offsets`` (begin, end) relative to the end of the header, then
the raw row-major little-endian bytes. A tensor's bytes therefore start at
``8 + header length + begin`` in the file: exactly what ONNX external data describes, so a
graph can read the checkpoint's weights where they are. Sharded checkpoints list which file
holds which tensor in ``model.safetensors.index.json`` (``weight_map``).

Nothing here reads tensor bytes; a checkpoint of any size costs only its headers.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass

import hcc.ir as ir

from .sources import SourceError

# safetensors dtype names -> ONNX element types.
DTYPES = {
    "F64": ir.DataType.DOUBLE,
    "F32": ir.DataType.FLOAT,
    "F16": ir.DataType.FLOAT16,
    "BF16": ir.DataType.BFLOAT16,
    "F8_E4M3": ir.DataType.FLOAT8E4M3FN,
    "F8_E5M2": ir.DataType.FLOAT8E5M2,
    "I64": ir.DataType.INT64,
    "I32": ir.DataType.INT32,
    "I16": ir.DataType.INT16,
    "I8": ir.DataType.INT8,
    "U64": ir.DataType.UINT64,
    "U32": ir.DataType.UINT32,
    "U16": ir.DataType.UINT16,
    "U8": ir.DataType.UINT8,
    "BOOL": ir.DataType.BOOL,
}
INDEX_NAME = "model.safetensors.index.json"
# A header larger than this is not a checkpoint header (safetensors itself caps it at 100 MB).
_MAX_HEADER = 100 * 1024 * 1024


@dataclass(frozen=True)
class StoredTensor:
    """One tensor of a checkpoint: its file (a name inside the folder), element type, shape,
    and the byte range it occupies in that file."""

    name: str
    file: str
    dtype: ir.DataType
    shape: tuple[int, ...]
    offset: int
    length: int

    def external(self, folder: str, name: str | None = None) -> ir.ExternalTensor:
        """The tensor as external data read in place from ``folder``."""
        return ir.ExternalTensor(
            self.file,
            folder,
            self.dtype,
            self.shape,
            offset=self.offset,
            length=self.length,
            name=name or self.name,
        )


def read_header(path: str) -> dict[str, StoredTensor]:
    """The tensors of one ``.safetensors`` file, by name."""
    file = os.path.basename(path)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise SourceError(f"{path}: not a safetensors file (shorter than 8 bytes)")
            (length,) = struct.unpack("<Q", head)
            if length > min(_MAX_HEADER, size - 8):
                raise SourceError(
                    f"{path}: not a safetensors file (header of {length} bytes in a file of {size})"
                )
            header = json.loads(f.read(length))
    except OSError as error:
        raise SourceError(f"cannot read {path}: {error.strerror or error}") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise SourceError(f"{path}: the safetensors header is not JSON: {error}") from None
    if not isinstance(header, dict):
        raise SourceError(f"{path}: the safetensors header is not a JSON object")
    start = 8 + length
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        tensors[name] = _stored(path, file, name, entry, start, size)
    return tensors


def _stored(path: str, file: str, name: str, entry, start: int, size: int) -> StoredTensor:
    try:
        dtype_name, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
        shape = tuple(int(d) for d in shape)
        begin, end = int(begin), int(end)
    except (KeyError, TypeError, ValueError):
        raise SourceError(f"{path}: tensor {name!r} has a malformed header entry") from None
    if dtype_name not in DTYPES:
        raise SourceError(f"{path}: tensor {name!r} has dtype {dtype_name!r}, which ONNX lacks")
    dtype = DTYPES[dtype_name]
    count = 1
    for d in shape:
        if d < 0:
            raise SourceError(f"{path}: tensor {name!r} has a negative dimension {list(shape)}")
        count *= d
    expected = count * dtype.bitwidth // 8
    if begin < 0 or end - begin != expected or start + end > size:
        raise SourceError(
            f"{path}: tensor {name!r} ({dtype_name}{list(shape)}, {expected} bytes) has data "
            f"offsets {begin}..{end} in a file of {size} bytes"
        )
    return StoredTensor(name, file, dtype, shape, start + begin, expected)


def checkpoint_tensors(folder: str) -> dict[str, StoredTensor]:
    """Every tensor of the checkpoint in ``folder`` (one file, or shards listed by the index)."""
    index = os.path.join(folder, INDEX_NAME)
    if os.path.isfile(index):
        try:
            with open(index, encoding="utf-8") as f:
                weight_map = json.load(f)["weight_map"]
            files = sorted(set(weight_map.values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise SourceError(f"cannot read the shard index {index}: {error}") from None
    else:
        files = sorted(n for n in os.listdir(folder) if n.endswith(".safetensors"))
    if not files:
        raise SourceError(f"{folder} has no .safetensors files")
    tensors: dict[str, StoredTensor] = {}
    for file in files:
        if os.path.basename(file) != file or file in (".", ".."):
            raise SourceError(f"the shard index {index} names {file!r}, outside the folder")
        path = os.path.join(folder, file)
        if not os.path.isfile(path):
            raise SourceError(f"the checkpoint in {folder} lists {file!r}, which is missing")
        for name, stored in read_header(path).items():
            if name in tensors:
                raise SourceError(f"{folder}: tensor {name!r} is stored twice")
            tensors[name] = stored
    return tensors
