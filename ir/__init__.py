"""hcc's intermediate representation: a scope-carrying, lossless model of an ONNX file.

``hcc.ir`` never imports torch. Only :mod:`hcc.ir.onnx` touches ONNX protobuf.
"""

from ._attributes import Attr, AttrType, SparseTensor
from ._dtypes import DataType
from ._graph import Graph, node_reads, owner_in
from ._model import Function, Model
from ._nodes import Node, Value
from ._scope import (
    HIERARCHY_KEY,
    MODULE_KEY,
    NAMESPACE_KEY,
    TAG_KEY,
    Scope,
    common_scope,
    namespace_of,
)
from ._tensors import ArrayTensor, ExternalTensor, Tensor
from ._types import (
    MapType,
    OpaqueType,
    OptionalType,
    SequenceType,
    SparseTensorType,
    TensorType,
    Type,
)
from .errors import HccError, LoadError, SaveError, VerificationError
from .printer import format_graph, format_model, print_ir
from .verifier import verify


def load(path, *, load_external_data: bool = True) -> Model:
    """Read an ONNX file; external data stays on disk, memory-mapped on demand."""
    from .onnx import load as _load

    return _load(path, load_external_data=load_external_data)


def save(model: Model, path, **options) -> None:
    """Write ``model`` to ``path`` (atomically); see :func:`hcc.ir.onnx.save` for options."""
    from .onnx import save as _save

    _save(model, path, **options)


def save_many(items, folder, **options) -> list:
    """Write ``(model, file name)`` pairs into ``folder`` sharing one external-data file; see
    :func:`hcc.ir.onnx.save_many`."""
    from .onnx import save_many as _save_many

    return _save_many(items, folder, **options)


def from_onnx(proto) -> Model:
    """Build the IR of an ``onnx.ModelProto``."""
    from .onnx import from_onnx as _from_onnx

    return _from_onnx(proto)


def to_onnx(model: Model):
    """Build an ``onnx.ModelProto`` from the IR."""
    from .onnx import to_onnx as _to_onnx

    return _to_onnx(model)


__all__ = [
    "ArrayTensor",
    "Attr",
    "AttrType",
    "DataType",
    "ExternalTensor",
    "Function",
    "Graph",
    "HIERARCHY_KEY",
    "HccError",
    "LoadError",
    "MODULE_KEY",
    "MapType",
    "NAMESPACE_KEY",
    "Model",
    "Node",
    "OpaqueType",
    "OptionalType",
    "SaveError",
    "Scope",
    "SequenceType",
    "SparseTensor",
    "SparseTensorType",
    "TAG_KEY",
    "Tensor",
    "save_many",
    "TensorType",
    "Type",
    "Value",
    "VerificationError",
    "common_scope",
    "namespace_of",
    "node_reads",
    "owner_in",
    "from_onnx",
    "load",
    "save",
    "to_onnx",
    "format_graph",
    "format_model",
    "print_ir",
    "verify",
]
