"""Saving several models that share one external-data file (the pieces of a split).

A tensor object used by several of the models (a weight two pieces read, or the whole model
and its pieces) is written once; every model points at the same bytes. All files appear
together at the end (temporary files renamed), or none does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from .._tensors import Tensor
from ..errors import SaveError
from ..files import FileGroup, remove_quietly, same_file
from ._data_writer import EMBED_ALL, DataWriter, Progress, check_location, valid_filename
from ._files import PROTOBUF_LIMIT, SOURCE_KEY, WEIGHTS, fresh_location
from ._linked_data import link_sources
from ._proto_tensor import (
    ProtoTensor,
    copy_header,
    patch_header,
    set_external_entries,
    write_header,
)
from .exporter import Exporter, iter_tensors


@dataclass(frozen=True)
class DataFiles:
    """The external-data files a group of saved models reads, by name in their folder:
    ``written`` by the save, and ``linked`` (checkpoint files read in place)."""

    written: list[str]
    linked: list[str]


class _SharedWriter(DataWriter):
    """A data writer that stores each tensor object once, however many models refer to it."""

    def __init__(self, *args, content: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._written: dict[object, tuple[str, int, int]] = {}
        self._alive: list[Tensor] = []  # keeps ids unique while the writer lives
        # With ``content``, equal bytes are stored once even when they are different tensor
        # objects (the same weight exported twice, e.g. by the prefill and decode graphs).
        self._content = content

    def _linked(self, tensor: Tensor) -> bool:
        from .._tensors import ExternalTensor

        return isinstance(tensor, ExternalTensor) and os.path.realpath(tensor.path) in self.in_place

    def _key(self, tensor: Tensor) -> object:
        if not self._content:
            return id(tensor)
        import hashlib

        digest = hashlib.sha256()
        view = tensor.raw_view()
        try:
            for start in range(0, view.nbytes, 1 << 24):
                digest.update(view[start : start + (1 << 24)])
        finally:
            view.release()
        return (int(tensor.dtype), tuple(tensor.shape), digest.hexdigest())

    def write(self, tensor: Tensor, dst, name: str | None) -> None:
        if self._linked(tensor):
            # Read in place from a linked file: nothing is written, nothing to hash.
            super().write(tensor, dst, name)
            return
        key = self._key(tensor)
        done = self._written.get(key)
        if done is None:
            super().write(tensor, dst, name)
            entries = {e.key: e.value for e in dst.external_data}
            self._written[key] = (
                entries["location"],
                int(entries.get("offset", 0)),
                int(entries["length"]),
            )
            self._alive.append(tensor)
            return
        proto = getattr(tensor, "proto", None)
        if proto is not None:
            if isinstance(tensor, ProtoTensor):
                copy_header(proto, dst)
            else:
                dst.CopyFrom(proto)
            patch_header(tensor, proto, dst, name)
        else:
            write_header(tensor, dst, name)
        set_external_entries(dst, *done)


def save_many(
    items: Sequence[tuple],
    folder,
    *,
    external_data: str | None = "weights.data",
    size_threshold: int = 1024,
    dedupe: str = "identity",
    texts: Mapping[str, str | Callable[[DataFiles], str]] | None = None,
    progress=None,
    weights: str = "copy",
) -> list[str]:
    """Write ``(model, file name)`` pairs into ``folder``; returns the paths written.

    With ``external_data`` every model keeps its large tensors in that one shared file;
    with ``None`` each model gets its own ``<file>.data``. When a model being replaced reads
    such a data file, the new data goes to its alternate name (see :func:`shared_data_name`).
    ``dedupe`` is ``identity`` (a tensor object shared by several models is stored once) or
    ``content`` (equal bytes are stored once). ``texts`` maps more file names to their text
    (a manifest): they are written in the same group, renamed after the models. A text may
    be a function of the :class:`DataFiles` the models ended up reading, for a manifest that
    names them (with linked weights the shared file may not be written at all).
    ``progress(done, total)`` is told the bytes of external data written so far.
    ``weights``: what happens to external tensors read from files outside ``folder``, as in
    :func:`hcc.ir.onnx.save` (``copy``, ``link`` or ``auto``; linking needs ``external_data``).
    """
    if dedupe not in ("identity", "content"):
        raise SaveError(f"dedupe must be 'identity' or 'content', not {dedupe!r}")
    if weights not in WEIGHTS:
        raise SaveError(f"weights must be one of {', '.join(WEIGHTS)}, not {weights!r}")
    if weights != "copy" and external_data is None:
        raise SaveError("linking weights needs one shared external-data file", location=folder)
    folder = os.path.abspath(os.fspath(folder))
    if not os.path.isdir(folder):
        raise SaveError("the folder does not exist", location=folder)
    texts = dict(texts or {})
    names = [name for _, name in items]
    for name in [*names, *texts]:
        if not valid_filename(name):
            raise SaveError(f"{name!r} is not a plain file name", location=folder)
    if len(set(names) | set(texts)) != len(names) + len(texts):
        raise SaveError("two files would be written to the same path", location=folder)
    reading = _files_read(model for model, _ in items)
    paths = [os.path.join(folder, n) for n in names]
    stale: list[str] = []
    if external_data is not None:
        external_data, stale = fresh_location(paths, check_location(external_data))
        data_names = {name: external_data for name in names}
    else:
        data_names = {}
        for name, path in zip(names, paths):
            data_names[name], old = fresh_location(path, f"{name}.data")
            stale += old
    targets = [
        *paths,
        *(os.path.join(folder, n) for n in texts),
        *(os.path.join(folder, n) for n in set(data_names.values())),
    ]
    for target in targets:
        for source in reading:
            if same_file(target, source):
                raise SaveError(
                    f"refusing to replace {os.path.basename(target)!r}: a model "
                    "reads its tensors from it; write into another folder",
                    location=folder,
                )

    content = dedupe == "content"
    with FileGroup() as group:
        shared = (
            _SharedWriter(group, folder, external_data, size_threshold, 0, content=content)
            if external_data is not None
            else None
        )
        if shared is not None:
            shared.forbidden = set(reading)
            if weights != "copy":
                external = _external_files(model for model, _ in items)
                shared.in_place = link_sources(
                    group, folder, external, external_data, paths, weights, taken=set(texts)
                )
        writers = [shared] if shared is not None else []
        counter = Progress(
            progress, (t for model, _ in items for t in iter_tensors(model)), size_threshold
        )
        if shared is not None:
            shared.progress = counter
        blobs = []
        try:
            for model, name in items:
                writer = shared
                if writer is None:
                    writer = _SharedWriter(
                        group, folder, data_names[name], size_threshold, 0, content=content
                    )
                    writer.progress = counter
                    writers.append(writer)
                proto = Exporter(writer).model(model)
                if proto.ByteSize() > PROTOBUF_LIMIT:
                    raise SaveError(
                        f"{name}: the model proto is over protobuf's 2 GB limit; "
                        "lower the external-data size threshold",
                        location=folder,
                    )
                blobs.append((os.path.join(folder, name), proto.SerializeToString()))
                del proto
            counter.end()
            # The models go after the data files they read, the texts describing them last.
            for path, blob in blobs:
                group.add_bytes(path, blob)
            del blobs
            data = DataFiles(
                written=sorted({location for writer in writers for location in writer.files}),
                linked=sorted(set(shared.in_place.values())) if shared is not None else [],
            )
            for name, text in texts.items():
                group.add_text(os.path.join(folder, name), text(data) if callable(text) else text)
            for old in stale:
                if not any(same_file(old, source) for source in reading):
                    group.remove_after(old)
            group.commit()
        except BaseException:
            if not any(path in group.committed for path in paths):
                # Data renamed under fresh names that no model reads yet: take it back.
                for written in group.committed:
                    remove_quietly(written)
            raise
        finally:
            for writer in writers:
                writer.close()
    written = [*paths, *(os.path.join(folder, name) for name in texts)]
    for writer in writers:
        written += [os.path.join(folder, location) for location in writer.files]
    return written


def shared_data_name(folder, names: Sequence[str], location: str) -> str:
    """The data file name :func:`save_many` will use for models ``names`` in ``folder``
    asking for ``location``: ``location``, or its alternate when a model being replaced reads
    it (so a manifest written with the models can name it)."""
    folder = os.path.abspath(os.fspath(folder))
    return fresh_location([os.path.join(folder, n) for n in names], location)[0]


def _files_read(models) -> set[str]:
    paths = set()
    for model in models:
        source = model.proto_extras.get(SOURCE_KEY)
        if source:
            paths.add(source)
        paths |= set(_external_files([model]))
    return paths


def _external_files(models) -> dict[str, str]:
    """The real paths of the files the models' external tensors are read from, each with the
    location a tensor names it by."""
    from .._tensors import ExternalTensor

    paths: dict[str, str] = {}
    for model in models:
        for tensor in iter_tensors(model):
            if isinstance(tensor, ExternalTensor):
                paths.setdefault(os.path.realpath(tensor.path), tensor.location)
    return paths


__all__ = ["save_many", "shared_data_name", "EMBED_ALL"]
