"""Reading and writing model files.

Loading parses only the model proto; external data stays on disk (ExternalTensor maps it when
read). Saving builds the proto while streaming large tensors into a fresh temporary data file,
then renames the temporary files into place (:mod:`hcc.ir.files`), so a reader never sees a
partial file and an existing data file is never appended to. onnx's external-data helpers are
not used: they append to existing files and hold every tensor in memory.

A saved model owns its data file, named after it (``out.onnx`` -> ``out.onnx.data``). When the
model being replaced reads that very file, the new data goes to the alternate name
(``out.onnx.data.alt``, and back again on the next save): the data is renamed into place first,
then the model, then the old data is removed, so no interruption leaves a model that reads
another save's data.
"""

from __future__ import annotations

import os

from onnx import ModelProto

from .._tensors import ExternalTensor
from ..errors import LoadError, SaveError
from ..files import FileGroup, remove_quietly, same_file
from ..reading import read_bytes
from ._data_writer import EMBED_ALL, DataWriter, Progress, check_location
from ._linked_data import link_sources
from ._proto_tensor import (
    ProtoTensor,
)
from .exporter import Exporter, iter_tensors
from .importer import Importer

PROTOBUF_LIMIT = 2**31 - 1
SOURCE_KEY = "source_path"


def _one_line(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return " ".join(text.split())


# -- loading ------------------------------------------------------------------------------------


def load(path, *, load_external_data: bool = True):
    """Read the model at ``path``. With ``load_external_data`` (the default) tensors stored in
    external files become ExternalTensors (checked now, read lazily); without it they stay
    unreadable references that export unchanged."""
    path = os.fspath(path)
    data = read_bytes(path, what="ONNX model file")
    if not data:
        raise LoadError("the file is empty", location=path)
    proto = ModelProto()
    try:
        proto.ParseFromString(data)
    except Exception as error:  # DecodeError, and anything else the parser may raise
        detail = _one_line(error).rsplit("': ", 1)[-1]  # drop protobuf's "Error parsing..."
        raise LoadError(
            f"not a valid ONNX model: corrupt, truncated or not an ONNX file ({detail})",
            location=path,
        ) from None
    del data
    if not proto.HasField("ir_version") or not proto.HasField("graph"):
        raise LoadError("not an ONNX model (no ir_version or no graph)", location=path)
    base_dir = os.path.dirname(os.path.abspath(path))
    try:
        model = Importer(base_dir if load_external_data else None).model(proto)
    except LoadError as error:
        raise LoadError(error.message, location=path) from None
    except OSError as error:
        raise LoadError(f"cannot read external data: {_one_line(error)}", location=path) from None
    model.proto_extras[SOURCE_KEY] = os.path.realpath(path)
    return model


# -- saving -------------------------------------------------------------------------------------


def external_locations(proto: ModelProto) -> set[str]:
    """The external-data file names (as written in the model) of every tensor of ``proto``:
    initializers, attributes, subgraphs and functions."""
    found: set[str] = set()

    def tensor(t) -> None:
        if t.data_location == EXTERNAL_LOCATION:
            for entry in t.external_data:
                if entry.key == "location":
                    found.add(entry.value)

    def graph(g) -> None:
        for t in g.initializer:
            tensor(t)
        for sparse in g.sparse_initializer:
            tensor(sparse.values)
            tensor(sparse.indices)
        nodes(g.node)

    def nodes(node_list) -> None:
        for node in node_list:
            for attr in node.attribute:
                if attr.HasField("t"):
                    tensor(attr.t)
                for t in attr.tensors:
                    tensor(t)
                if attr.HasField("g"):
                    graph(attr.g)
                for g in attr.graphs:
                    graph(g)

    graph(proto.graph)
    for function in proto.functions:
        nodes(function.node)
    return found


WEIGHTS = ("copy", "link", "auto")
EXTERNAL_LOCATION = 1  # TensorProto.EXTERNAL


def data_files(path) -> list[str]:
    """The external-data files the ONNX model at ``path`` reads, as paths beside it; empty
    when it reads none or is not a readable model file."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    return [os.path.join(folder, location) for location in sorted(_locations_read_by(path))]


def _locations_read_by(path: str) -> set[str]:
    """The data file names the model now at ``path`` reads; empty when there is none or it is
    not a readable model (it is then simply replaced)."""
    if not os.path.isfile(path):  # also keeps FIFOs and devices from being read
        return set()
    proto = ModelProto()
    try:
        with open(path, "rb") as f:
            proto.ParseFromString(f.read())
    except Exception:  # not a model (or unreadable): nothing of it to keep consistent
        return set()
    return {os.path.normpath(location) for location in external_locations(proto)}


ALTERNATE_SUFFIX = ".alt"


def fresh_location(paths, location: str) -> tuple[str, list[str]]:
    """The data file name to write for models saved to ``paths`` (one path or several in one
    folder) asking for ``location``, and the old data files to remove once they are in place.

    When a model now at one of ``paths`` reads ``location``, replacing that file first would
    leave the old model reading new bytes (or the new model reading old ones) if the save were
    interrupted between the renames; the data goes to the alternate name instead."""
    paths = [os.fspath(paths)] if isinstance(paths, (str, os.PathLike)) else list(paths)
    folder = os.path.dirname(os.path.abspath(paths[0]))
    pair = [location, location + ALTERNATE_SUFFIX]
    if location.endswith(ALTERNATE_SUFFIX):
        pair = [location, location[: -len(ALTERNATE_SUFFIX)]]
    read = set().union(*(_locations_read_by(path) for path in paths))
    chosen = pair[1] if os.path.normpath(pair[0]) in read else pair[0]
    stale = [
        os.path.join(folder, name)
        for name in pair
        if name != chosen and os.path.normpath(name) in read
    ]
    return chosen, stale


def save(
    model,
    path,
    *,
    external_data: str | bool | None = None,
    size_threshold: int = 1024,
    all_tensors_to_one_file: bool = True,
    align: int = 0,
    weights: str = "copy",
    progress=None,
) -> None:
    """Write ``model`` to ``path`` atomically.

    ``external_data``: a file name (relative to the model's folder) that receives every
    initializer of at least ``size_threshold`` bytes and every tensor that was external already;
    ``None`` (the default) names it after the output (``out.onnx.data``) when the model has
    external data, and embeds all data when it has none; ``False`` embeds all data. When the
    model being replaced reads that file, the new data is written under the alternate name
    ``<name>.alt`` (see the module's description). ``align`` > 1 aligns each tensor's offset
    in the data file. The output may not be a file the model still reads from.

    ``weights`` says what happens to external tensors read from other files: ``copy`` streams
    their bytes into the data file; ``link`` hard-links each file they are read from into the
    model's folder and points the tensors at their bytes there (nothing is copied; an error
    where the file system cannot link); ``auto`` links where possible and copies otherwise.

    ``progress(done, total)``, when given, is called with the bytes of external data written
    so far (a progress bar for large models).
    """
    if weights not in WEIGHTS:
        raise SaveError(f"weights must be one of {', '.join(WEIGHTS)}, not {weights!r}")
    try:
        _save(
            model,
            path,
            external_data,
            size_threshold,
            all_tensors_to_one_file,
            align,
            weights,
            progress,
        )
    except SaveError as error:
        if error.location is None:
            raise SaveError(error.message, location=os.fspath(path)) from None
        raise


def _save(
    model,
    path,
    external_data,
    size_threshold,
    all_tensors_to_one_file,
    align,
    weights="copy",
    progress=None,
) -> None:
    path = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(path)
    if os.path.isdir(path):
        raise SaveError("is a directory; give a file name for the model", location=path)
    if not os.path.isdir(folder):
        raise SaveError("the folder does not exist", location=path)

    tensors = list(iter_tensors(model))
    reading = {}
    for tensor in tensors:
        if isinstance(tensor, ExternalTensor):
            reading.setdefault(os.path.realpath(tensor.path), tensor.location)
        elif isinstance(tensor, ProtoTensor) and tensor.is_external:
            raise SaveError(
                f"tensor {tensor.name!r} refers to external data that was not loaded; load the "
                "model with load_external_data=True to save it",
                location=path,
            )
    source = model.proto_extras.get(SOURCE_KEY)
    if source is not None and same_file(path, source):
        raise SaveError(
            "refusing to overwrite the file the model was loaded from (its tensors may still be "
            "read from it); save to another path",
            location=path,
        )
    for data_path in reading:
        if same_file(path, data_path):
            raise SaveError(
                "refusing to overwrite an external data file the model reads from",
                location=path,
            )

    if external_data is None:
        external_data = f"{os.path.basename(path)}.data" if reading else False
    location = None
    # Embedding all data: the data file the replaced model read beside it is no one's now.
    stale = fresh_location(path, f"{os.path.basename(path)}.data")[1]
    if external_data is not False:
        location = check_location(external_data)
        if all_tensors_to_one_file:
            location, stale = fresh_location(path, location)
        target = os.path.join(folder, location)
        if same_file(target, path):
            raise SaveError(f"external_data {location!r} is the model file itself", location=path)
        for data_path, original in reading.items():
            if same_file(target, data_path):
                raise SaveError(
                    f"refusing to replace {original!r}: the model reads its tensors from that "
                    "file (it is memory-mapped); save into another folder or pass another "
                    "external_data name",
                    location=path,
                )

    with FileGroup() as group:
        writer = None
        if location is not None:
            writer = DataWriter(
                group,
                folder,
                location if all_tensors_to_one_file else None,
                size_threshold,
                align,
            )
            writer.forbidden = set(reading)
            if weights != "copy":
                writer.in_place = link_sources(group, folder, reading, location, path, weights)
            writer.progress = Progress(progress, tensors, size_threshold)
        try:
            proto = Exporter(writer if writer is not None else EMBED_ALL).model(model)
            size = proto.ByteSize()
            if size > PROTOBUF_LIMIT:
                hint = (
                    "lower size_threshold"
                    if writer is not None
                    else "save with external_data='<name>.data'"
                )
                raise SaveError(
                    f"the model proto would be {size} bytes, over protobuf's 2 GB limit; {hint}",
                    location=path,
                )
            blob = proto.SerializeToString()
            del proto
            if writer is not None:
                writer.progress.end()
            # Added last, so renamed last: the data files it reads are in place before it.
            group.add_bytes(path, blob)
            del blob
            for old in stale:
                if not any(same_file(old, p) for p in reading):
                    group.remove_after(old)
            group.commit()
        except BaseException as error:
            if path not in group.committed and all_tensors_to_one_file:
                # Data renamed under a fresh name that no model reads: take it back.
                for written in group.committed:
                    remove_quietly(written)
            if isinstance(error, OSError):
                raise SaveError(
                    f"cannot write the model: {_one_line(error)}", location=path
                ) from error
            raise
        finally:
            if writer is not None:
                writer.close()
