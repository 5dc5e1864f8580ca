"""Calls into third-party ONNX tools, in one place.

onnxsim, onnxslim, onnx-graphsurgeon and onnx's version converter all take and return
``onnx.ModelProto``. Only :mod:`hcc.ir.onnx` may touch protobuf classes, so passes and interop
code call these thin wrappers instead of the tools: each takes a ModelProto (or a file path where
the tool reads files faster) and returns a ModelProto. The tools are imported when first used,
so a missing optional tool fails only the call that needs it.

Every wrapper turns the tool's exceptions into :class:`ToolError` (an HccError: the CLI shows it
as one line) and silences what the tool prints, because hcc reports through its instruments.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings

from onnx import ModelProto

from ..errors import HccError
from ._files import save as _save
from ._legacy_tags import FIRST_IR_WITH_NODE_METADATA, _walk_graph
from ._proto_tensor import ProtoTensor
from .exporter import Exporter


class ToolError(HccError):
    """A third-party tool is missing or failed on the model."""


# -- handing a model to a tool ------------------------------------------------------------------


class _EmbedEverything:
    """An exporter writer that places every tensor's bytes inside the proto.

    In-memory tools cannot follow external-data references relative to a folder they do not
    know, so they get the data itself.
    """

    def wants(self, tensor, initializer: bool) -> bool:
        if isinstance(tensor, ProtoTensor) and tensor.is_external:
            raise ToolError(
                f"tensor {tensor.name!r} refers to external data that was not loaded; load the "
                "model from its file (hcc.ir.load) so the tool can read its weights"
            )
        return False  # "not for the data file": the exporter embeds it


def proto_with_data(model) -> ModelProto:
    """``model`` as a ModelProto with all tensor data inline (external files read now)."""
    return Exporter(_EmbedEverything()).model(model)


def stage_for_tool(model, folder: str, name: str = "model.onnx") -> str:
    """Save ``model`` into ``folder`` for a tool that reads files; return the model's path.

    The weights are streamed into a fresh data file beside it. (Linking the original data file
    instead would save the copy, but onnx refuses hard-linked or symbolic-linked external data
    as a possible attack, so a tool falling back to ``onnx.load`` would fail.)
    """
    path = os.path.join(folder, name)
    _save(model, path, external_data=name + ".data")
    return path


@contextlib.contextmanager
def _quiet():
    # Tools print progress and warnings; a pass must not print.
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        yield


def _import(module: str, package: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as error:
        raise ToolError(f"{package} is not installed ({error}); pip install {package}") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def copy_node_metadata(model, proto: ModelProto) -> bool:
    """Write the metadata of the nodes of ``model`` onto the nodes of ``proto`` in place.

    ``model`` must be the IR of ``proto`` (``hcc.ir.from_onnx(proto)``, scopes changed since),
    so its nodes line up with the proto's one to one. Writing into the proto a tool returned
    avoids copying its weights into a second proto. Returns False, writing nothing, when the
    nodes do not line up or the proto's IR version keeps node metadata elsewhere (below IR 10):
    then use ``to_onnx``.
    """
    if proto.ir_version < FIRST_IR_WITH_NODE_METADATA:
        return False
    ir_nodes = list(model.graph.all_nodes())
    for function in model.functions.values():
        ir_nodes.extend(function.graph.all_nodes())
    proto_nodes: list = []
    _walk_graph(proto.graph, proto_nodes)
    for function in proto.functions:
        proto_nodes.extend(function.node)
    if len(ir_nodes) != len(proto_nodes) or any(
        a.op_type != b.op_type for a, b in zip(ir_nodes, proto_nodes)
    ):
        return False
    for node, dst in zip(ir_nodes, proto_nodes):
        current = {entry.key: entry.value for entry in dst.metadata_props}
        if current != node.metadata_props:
            del dst.metadata_props[:]
            for key, value in node.metadata_props.items():
                dst.metadata_props.add(key=key, value=value)
    for key, value in model.metadata_props.items():
        if not any(entry.key == key for entry in proto.metadata_props):
            proto.metadata_props.add(key=key, value=value)
    return True


# -- onnxsim / onnxslim ---------------------------------------------------------------------------


def run_onnxsim(model: ModelProto | str | os.PathLike, **options) -> ModelProto:
    """``onnxsim.simplify`` on a ModelProto or a model file; the simplified ModelProto.

    A file path is the faster route for large models: onnxsim's native code reads the file and
    its external data itself instead of receiving a serialized copy. The result has its tensor
    data inline. ``options`` go to ``onnxsim.simplify`` unchanged.
    """
    onnxsim = _import("onnxsim", "onnxsim")
    source = os.fspath(model) if isinstance(model, (str, os.PathLike)) else model
    try:
        with _quiet():
            result, ok = onnxsim.simplify(source, **options)
    except Exception as error:  # onnxsim raises RuntimeError, ValueError, onnx errors ...
        raise ToolError(f"onnxsim failed: {_first_line(error)}") from error
    if not ok:
        raise ToolError("onnxsim's check found the simplified model differs from the input")
    return result


def run_onnxslim(model: ModelProto, **options) -> ModelProto:
    """``onnxslim.slim`` on a ModelProto (tensor data inline); the slimmed ModelProto."""
    onnxslim = _import("onnxslim", "onnxslim")
    try:
        with _quiet():
            result = onnxslim.slim(model, **options)
    except Exception as error:
        raise ToolError(f"onnxslim failed: {_first_line(error)}") from error
    if result is None:
        raise ToolError("onnxslim returned no model")
    return result


# -- onnx-graphsurgeon --------------------------------------------------------------------------


def import_graphsurgeon(proto: ModelProto):
    """``onnx_graphsurgeon.import_onnx``: the gs.Graph of ``proto``."""
    gs = _import("onnx_graphsurgeon", "onnx-graphsurgeon")
    try:
        with _quiet():
            return gs.import_onnx(proto)
    except Exception as error:
        raise ToolError(
            f"onnx-graphsurgeon cannot import the model: {_first_line(error)}"
        ) from error


def export_graphsurgeon(graph) -> ModelProto:
    """``onnx_graphsurgeon.export_onnx``: the ModelProto of a gs.Graph."""
    gs = _import("onnx_graphsurgeon", "onnx-graphsurgeon")
    try:
        with _quiet():
            return gs.export_onnx(graph)
    except Exception as error:
        raise ToolError(
            f"onnx-graphsurgeon cannot export the graph: {_first_line(error)}"
        ) from error


def graphsurgeon_cleanup(proto: ModelProto, *, fold: bool = True) -> ModelProto:
    """Import into onnx-graphsurgeon, fold constants (with ``fold``), remove unused nodes and
    tensors, sort topologically and export again."""
    graph = import_graphsurgeon(proto)
    try:
        with _quiet():
            if fold:
                graph.fold_constants()
            graph.cleanup().toposort()
    except Exception as error:
        raise ToolError(f"onnx-graphsurgeon clean-up failed: {_first_line(error)}") from error
    return export_graphsurgeon(graph)


__all__ = [
    "ToolError",
    "copy_node_metadata",
    "export_graphsurgeon",
    "graphsurgeon_cleanup",
    "import_graphsurgeon",
    "proto_with_data",
    "run_onnxsim",
    "run_onnxslim",
    "stage_for_tool",
]
