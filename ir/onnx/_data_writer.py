"""Streaming tensors into a model's external-data file while the exporter builds the proto.

:class:`DataWriter` is the exporter's writer for :func:`hcc.ir.onnx.save`: tensors at or above
the size threshold go to the data file (imported ones back at their original offsets when the
padding is small, so a re-saved model keeps its external_data entries), copied from their
source file without passing through Python where the system allows; smaller ones stay in the
proto. :data:`EMBED_ALL` keeps every tensor in the proto.
"""

from __future__ import annotations

import os

from .._dtypes import DataType
from .._tensors import ExternalTensor, Tensor
from ..errors import SaveError
from ..files import FileGroup, write_all
from ._proto_tensor import (
    ProtoTensor,
    copy_header,
    patch_header,
    set_external_entries,
    write_header,
)

# An imported tensor is put back at its original offset when that needs at most this much
# padding; re-saving a model then reproduces its external_data entries exactly. (onnx accepts
# alignment gaps up to 64 KiB.)
_MAX_PAD = 64 * 1024
_COPY_CHUNK = 16 * 1024 * 1024


def check_location(location: str) -> str:
    if not isinstance(location, str) or not location:
        raise SaveError(f"external_data must be a file name, not {location!r}")
    if os.path.isabs(location) or ":" in location[:3]:
        raise SaveError(f"external_data {location!r} must be relative to the model's folder")
    if ".." in location.replace("\\", "/").split("/"):
        raise SaveError(f"external_data {location!r} must stay inside the model's folder")
    return location


def valid_filename(name: str) -> bool:
    return bool(name) and name not in (".", "..") and not any(c in name for c in '/\\:*?"<>|\0')


class DataWriter:
    """Streams tensor bytes into temporary data files of ``group``, renamed into place when
    the group commits."""

    def __init__(
        self, group: FileGroup, folder: str, location: str | None, threshold: int, align: int
    ) -> None:
        self.group = group
        self.folder = folder
        self.location = location  # None: one file per tensor
        self.threshold = threshold
        self.align = align
        self.files: dict[str, list] = {}  # location -> [fd, position]
        self._sources: dict[str, int] = {}
        self._copy_range = hasattr(os, "copy_file_range")
        self.forbidden: set[str] = set()  # real paths of files the model reads from
        # Real paths of files linked beside the model -> their location there: tensors read
        # from them keep their offsets and are not copied.
        self.in_place: dict[str, str] = {}
        self.progress = Progress(None)

    # The exporter asks this for every tensor.
    def wants(self, tensor: Tensor, initializer: bool) -> bool:
        if isinstance(tensor, ExternalTensor):
            return True  # was external: stays external
        if not initializer:
            return False  # attribute tensors stay inline, as with onnx.save
        dtype = tensor.dtype
        if not isinstance(dtype, DataType) or dtype in (DataType.STRING, DataType.UNDEFINED):
            return False
        return tensor.nbytes >= self.threshold

    def write(self, tensor: Tensor, dst, name: str | None) -> None:
        proto = getattr(tensor, "proto", None)
        if proto is not None:
            if isinstance(tensor, ProtoTensor):
                copy_header(proto, dst)
            else:
                dst.CopyFrom(proto)  # an imported ExternalTensor: no data inside, cheap
            patch_header(tensor, proto, dst, name)
        else:
            write_header(tensor, dst, name)
        if self.in_place and isinstance(tensor, ExternalTensor):
            linked = self.in_place.get(os.path.realpath(tensor.path))
            if linked is not None:
                set_external_entries(dst, linked, tensor.offset, tensor.length)
                return
        tensor_name = tensor.name if name is None else name
        location = self.location or self._per_tensor_location(tensor_name)
        entry = self.files.get(location)
        if entry is None:
            entry = self.files[location] = self._open(location)
        fd, position = entry
        offset = position
        original = tensor.offset if isinstance(tensor, ExternalTensor) else None
        if (
            original is not None
            and 0 <= original - position <= _MAX_PAD
            and (self.align <= 1 or original % self.align == 0)
        ):
            offset = original
        elif self.align > 1 and position % self.align:
            offset = position + self.align - position % self.align
        if offset > position:
            write_all(fd, b"\0" * (offset - position), position)
        length = self._write_data(tensor, fd, offset)
        entry[1] = offset + length
        set_external_entries(dst, location, offset, length)
        self.progress.add(length)

    def _per_tensor_location(self, name: str) -> str:
        location = name if valid_filename(name) else f"tensor_{len(self.files)}.data"
        while location in self.files:
            location = "_" + location
        return location

    def _open(self, location: str) -> list:
        target = os.path.join(self.folder, location)
        if os.path.realpath(target) in self.forbidden:
            # Per-tensor files are named after tensors; one may be a file the model reads.
            raise SaveError(
                f"refusing to replace {location!r}: the model reads its tensors from that file"
            )
        os.makedirs(os.path.dirname(target), exist_ok=True)
        return [self.group.create(target), 0]

    def _write_data(self, tensor: Tensor, fd: int, offset: int) -> int:
        if isinstance(tensor, ExternalTensor) and type(tensor).raw_view is ExternalTensor.raw_view:
            # Copy file to file in the kernel: no tensor bytes pass through our memory.
            return self._copy_external(tensor, fd, offset)
        view = tensor.raw_view()
        try:
            write_all(fd, view, offset)
            return view.nbytes
        finally:
            view.release()

    def _copy_external(self, tensor: ExternalTensor, fd: int, offset: int) -> int:
        source = self._sources.get(tensor.path)
        if source is None:
            source = self._sources[tensor.path] = os.open(tensor.path, os.O_RDONLY)
        remaining, src_pos, dst_pos = tensor.length, tensor.offset, offset
        while remaining:
            copied = 0
            if self._copy_range:
                try:
                    copied = os.copy_file_range(source, fd, remaining, src_pos, dst_pos)
                except OSError:
                    self._copy_range = False  # e.g. across file systems on old kernels
            if not self._copy_range:
                chunk = os.pread(source, min(remaining, _COPY_CHUNK), src_pos)
                copied = len(chunk)
                if copied:
                    write_all(fd, chunk, dst_pos)
            if copied <= 0:
                raise SaveError(
                    f"external data of tensor {tensor.name!r} ends early in {tensor.location!r}"
                )
            remaining -= copied
            src_pos += copied
            dst_pos += copied
        return tensor.length

    def close(self) -> None:
        """Close the files read from (the group owns the files written)."""
        for source in self._sources.values():
            os.close(source)
        self._sources.clear()


class Progress:
    """Reports the bytes written to the data files so far, against the bytes to write.

    ``report(done, total)`` is the caller's (a progress bar); it is told once at the start and
    after every tensor. The total is the tensors that go to data files, each object once, so
    tensors stored once for several models may make the count end below it; :meth:`end`
    reports the total then.
    """

    def __init__(self, report, tensors=(), threshold: int = 0) -> None:
        self.report = report
        self.done = 0
        self.total = 0
        if report is None:
            return
        seen: set[int] = set()
        for tensor in tensors:
            if id(tensor) in seen:
                continue
            seen.add(id(tensor))
            if isinstance(tensor, ExternalTensor):
                self.total += tensor.length
            elif isinstance(tensor.dtype, DataType) and tensor.dtype != DataType.STRING:
                size = tensor.nbytes  # from the shape: nothing is read
                self.total += size if size >= threshold else 0
        report(0, self.total)

    def add(self, count: int) -> None:
        if self.report is not None:
            self.done += count
            self.report(min(self.done, self.total), self.total)

    def end(self) -> None:
        if self.report is not None:
            self.report(self.total, self.total)


class _EmbedAll:
    """The exporter's writer when saving without external data: every tensor goes inline
    (without a writer, external tensors would stay references to their old files)."""

    @staticmethod
    def wants(tensor: Tensor, initializer: bool) -> bool:
        return False


EMBED_ALL = _EmbedAll()
