"""No output may be an input: every command checks its outputs before doing any work.

An output is refused when it is, or is a hard or symbolic link to, one of the command's inputs
or a file those inputs read (an ONNX model's external-data files, a GraphML sidecar, the files
of a model folder). Each output counts with the files written beside it: a model's data file
(both of its alternating names), a GraphML sidecar. Outputs must be regular files or not exist.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import hcc.ir as ir
from hcc.ir.files import check_destination, same_file
from hcc.ir.onnx import data_files


def model_files(path: str) -> list[str]:
    """A model output and the data files hcc may write beside it."""
    return [path, f"{path}.data", f"{path}.data.alt"]


def sidecar_path(graphml_path: str) -> str:
    """The weights file of a GraphML output: ``model.graphml`` -> ``model.onnxdata`` beside it."""
    root, ext = os.path.splitext(graphml_path)
    return (root if ext.lower() == ".graphml" else graphml_path) + ".onnxdata"


def graphml_files(path: str) -> list[str]:
    return [path, sidecar_path(path)]


def input_files(path: str) -> list[str]:
    """``path`` and the files reading it reads: an ONNX model's external data, a GraphML
    file's sidecar, the files directly inside a model folder."""
    path = os.fspath(path)
    if os.path.isdir(path):
        try:
            return [os.path.join(path, name) for name in os.listdir(path)]
        except OSError:
            return []
    if path.endswith(".graphml"):
        return graphml_files(path)
    return [path, *data_files(path)]


def refuse_inputs(
    outputs: Iterable[str], inputs: Iterable[str], *, readers: Iterable[str] = ()
) -> None:
    """Raise :class:`~hcc.ir.HccError` if an output would replace an input.

    ``outputs`` are every file the command may write; ``inputs`` are files read as they are;
    ``readers`` are input paths expanded with :func:`input_files` (models, GraphML, folders).
    """
    read = [os.fspath(p) for p in inputs]
    for reader in readers:
        read += input_files(reader)
    read = [p for p in read if os.path.lexists(p)]
    for output in dict.fromkeys(os.fspath(o) for o in outputs):
        for source in read:
            if same_file(output, source):
                same = (
                    "is"
                    if os.path.abspath(output) == os.path.abspath(source)
                    else ("is the same file as")
                )
                raise ir.HccError(
                    f"refusing to write {output!r}: it {same} {source!r}, which this command "
                    "reads; write the result elsewhere"
                )
        check_destination(output)
