"""Working with other ONNX tools and compilers without losing scopes.

* :func:`keep_tags` wraps any ``ModelProto -> ModelProto`` function (onnxsim, a graphsurgeon
  script, ``onnx.version_converter``, your own) and gives the result the tags of the input;
* :func:`as_onnx_ir_pass` presents an hcc pass as an ``onnx_ir.passes.PassBase``;
* :func:`to_graphsurgeon` / :func:`from_graphsurgeon` convert between hcc IR and an
  onnx-graphsurgeon Graph, keeping scopes.

All of them use the re-attachment of the ``simplify`` pass (:mod:`hcc.passes._reattach`):
record where every node came from before the foreign code runs, match the result's nodes back
by output value names, node names and structure afterwards. The third-party packages are
imported only when these functions are called.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TextIO

import hcc.ir as ir
from hcc.passes import Instrument, Pass, PassResult, get_pass
from hcc.passes._reattach import Origins, Reattached, reattach
from hcc.passes.simplify import REPORT_KEY, UNMATCHED_KEY

# Where to_graphsurgeon leaves the record of origins on the gs.Graph it returns.
ORIGINS_ATTR = "hcc_origins"


# -- keep_tags ----------------------------------------------------------------------------------


def keep_tags(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``fn(model_proto, *args, **kwargs) -> ModelProto`` so its result keeps the tags.

    Before the call the scope of every node of the input is recorded (by name, output names and
    wiring); after it, every node of the result gets the scope of the node it came from, or one
    derived from its neighbours. Nodes whose origin was not found still get a scope by the
    tagging rules and are named in the wrapper's ``last_report.unmatched``. The result proto is
    updated in place where possible (no copy of its weights). An input without tags gets none.
    """

    @functools.wraps(fn)
    def wrapper(model, *args, **kwargs):
        from hcc.ir.onnx import tools

        if type(model).__name__ != "ModelProto":
            raise TypeError(
                f"keep_tags wraps functions of an onnx.ModelProto, got {type(model).__name__}"
            )
        origins = Origins.record(ir.from_onnx(model))
        result = fn(model, *args, **kwargs)
        if type(result).__name__ != "ModelProto":
            raise TypeError(
                f"{getattr(fn, '__name__', fn)!r} returned "
                f"{type(result).__name__}, not an onnx.ModelProto"
            )
        tagged = ir.from_onnx(result)
        wrapper.last_report = reattach(tagged, origins)
        if tools.copy_node_metadata(tagged, result):
            return result
        return ir.to_onnx(tagged)

    wrapper.last_report = None
    return wrapper


# -- onnx-ir ------------------------------------------------------------------------------------


def as_onnx_ir_pass(pass_or_name: str | Pass | type[Pass], **options: Any):
    """An ``onnx_ir.passes.PassBase`` that runs an hcc pass.

    ``pass_or_name`` is a registered pass name (``"simplify"``), a pass class or a pass
    instance; ``options`` configure a name or class. The onnx-ir model is serialized to ONNX,
    run through the hcc pass and read back as a new onnx-ir model (the pass is functional:
    ``in_place`` and ``changes_input`` are False); external weights stay in their files.
    """
    hcc_pass = _make_pass(pass_or_name, options)
    return _adapter_class()(hcc_pass)


def _make_pass(pass_or_name, options: dict) -> Pass:
    if isinstance(pass_or_name, Pass):
        if options:
            raise TypeError("options are given to a pass name or class, not to a pass instance")
        return pass_or_name
    if isinstance(pass_or_name, str):
        return get_pass(pass_or_name).create(options)
    if isinstance(pass_or_name, type) and issubclass(pass_or_name, Pass):
        return pass_or_name(**options)
    raise TypeError(f"expected an hcc pass, pass class or pass name, not {pass_or_name!r}")


@functools.cache
def _adapter_class():
    # Built on first use so that importing hcc.interop does not need onnx-ir.
    import onnx_ir
    import onnx_ir.passes
    from onnx_ir.external_data import set_base_dir

    from hcc.ir.onnx import from_onnx as from_onnx_with_data

    class HccPass(onnx_ir.passes.PassBase):
        """An hcc pass run on an onnx-ir model (see :func:`as_onnx_ir_pass`)."""

        def __init__(self, hcc_pass: Pass) -> None:
            self.hcc_pass = hcc_pass

        @property
        def in_place(self) -> bool:
            return False

        @property
        def changes_input(self) -> bool:
            return False

        def call(self, model):
            base_dir = _external_base_dir(model, onnx_ir.ExternalTensor)
            proto = onnx_ir.serde.serialize_model(model)
            # With the folder known, hcc reads external weights by memory-mapping them.
            hcc_model = from_onnx_with_data(proto, base_dir=base_dir)
            result = self.hcc_pass.run(hcc_model)
            new = onnx_ir.serde.deserialize_model(ir.to_onnx(result.model))
            if base_dir is not None:
                set_base_dir(new.graph, base_dir)
            return onnx_ir.passes.PassResult(new, modified=result.changed)

        def __repr__(self) -> str:
            return f"HccPass({self.hcc_pass})"

    return HccPass


def _external_base_dir(model, external_type) -> str | None:
    """The folder the model's external tensors are read from (None if it has none)."""
    for graph in model.graphs():
        for value in graph.initializers.values():
            tensor = value.const_value
            if isinstance(tensor, external_type):
                # onnx-ir leaves base_dir empty for a model loaded by a bare file name.
                return os.path.abspath(os.fspath(tensor.base_dir) or os.curdir)
    return None


# -- onnx-graphsurgeon --------------------------------------------------------------------------


def to_graphsurgeon(model: ir.Model):
    """An ``onnx_graphsurgeon.Graph`` of ``model``, with the weights in memory.

    graphsurgeon keeps no node metadata, so the scopes travel beside the graph: the record of
    where every node came from is stored on the returned graph as ``graph.hcc_origins``, and
    :func:`from_graphsurgeon` matches nodes back by output tensor names, node names and wiring.
    That survives editing the graph in place (fold_constants, cleanup, toposort, new or removed
    nodes); ``Graph.copy()`` and export/import drop the attribute: then pass ``like=model``.
    """
    from hcc.ir.onnx import tools

    graph = tools.import_graphsurgeon(tools.proto_with_data(model))
    setattr(graph, ORIGINS_ATTR, Origins.record(model))
    return graph


def from_graphsurgeon(graph, *, like: ir.Model | None = None) -> ir.Model:
    """The hcc IR of an ``onnx_graphsurgeon.Graph``, with scopes re-attached.

    The origins come from ``graph.hcc_origins`` (set by :func:`to_graphsurgeon`) or from
    ``like``, the model the graph was made from. Without either the nodes keep no scopes.
    ``model.meta["hcc.unmatched_nodes"]`` names the nodes whose origin was not found.
    """
    from hcc.ir.onnx import tools

    origins = Origins.record(like) if like is not None else getattr(graph, ORIGINS_ATTR, None)
    model = ir.from_onnx(tools.export_graphsurgeon(graph))
    if origins is not None:
        report = reattach(model, origins)
        model.meta[UNMATCHED_KEY] = list(report.unmatched)
        model.meta[REPORT_KEY] = report
    return model


# -- reporting ----------------------------------------------------------------------------------


class ReportUnmatched(Instrument):
    """After each pass that re-attached scopes, write the nodes whose origin was not found
    (``model.meta["hcc.unmatched_nodes"]``) to ``stream`` (stderr by default)."""

    def __init__(self, stream: TextIO | None = None, *, limit: int = 20) -> None:
        self.stream = stream
        self.limit = limit

    def after_pass(self, pass_: Pass, result: PassResult) -> None:
        report = result.model.meta.get(REPORT_KEY)
        if not result.changed or not isinstance(report, Reattached) or not report.unmatched:
            return
        stream = self.stream if self.stream is not None else sys.stderr
        names = report.unmatched
        shown = ", ".join(names[: self.limit]) + (" ..." if len(names) > self.limit else "")
        stream.write(
            f"{pass_.info().name}: origin not found for {len(names)} of {report.total} nodes "
            f"(tagged by the tagging rules): {shown}\n"
        )


__all__ = [
    "ORIGINS_ATTR",
    "ReportUnmatched",
    "as_onnx_ir_pass",
    "from_graphsurgeon",
    "keep_tags",
    "to_graphsurgeon",
]
