"""ONNX import and export: the only part of hcc that touches ONNX protobuf.

``from_onnx``/``to_onnx`` convert between ``onnx.ModelProto`` and the IR losslessly:
``to_onnx(from_onnx(p)) == p``, field presence included. ``load``/``save`` add files: external
data is memory-mapped lazily on load and streamed into a fresh file on save.
"""

from __future__ import annotations

from ._files import data_files, load, save
from ._group import save_many, shared_data_name
from ._proto_tensor import ImportedExternalTensor, ProtoTensor
from .exporter import to_onnx
from .importer import Importer


def from_onnx(model_proto, *, base_dir=None):
    """The IR of ``model_proto``.

    Tensors keep referring to ``model_proto`` (nothing is copied or decoded), so do not modify
    the proto afterwards. With ``base_dir`` (the folder of the model file) tensors stored as
    external data become ExternalTensors; without it they stay unreadable references that
    export unchanged.
    """
    return Importer(None if base_dir is None else str(base_dir)).model(model_proto)


__all__ = [
    "ImportedExternalTensor",
    "ProtoTensor",
    "data_files",
    "from_onnx",
    "load",
    "save",
    "save_many",
    "shared_data_name",
    "to_onnx",
]
