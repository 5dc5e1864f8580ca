"""Export a PyTorch module to hcc IR with a scope on every node.

The dynamo exporter already records, for each node, the stack of modules that executed it
(``pkg.torch.onnx.class_hierarchy`` / ``name_scopes``). We export with it, write the module tree
to the model (``hcc.hierarchy``), and let the tagging passes turn that record into scopes and
give the remaining helper nodes theirs. The TorchScript exporter is supported as an option; its
node names carry module paths, which the module tree maps back to classes.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import hcc.ir as ir
from hcc.ir import HIERARCHY_KEY
from hcc.ir.errors import HccError

from ..progress import stage
from .hierarchy import hierarchy_json

EXPORTERS = ("dynamo", "torchscript")
# Run after every export: scopes from the exporter's records, then helpers, then the rest.
DEFAULT_PIPELINE = "recover-scopes,tag-auxiliary,propagate-tags"
MIN_IR_VERSION = 10


class ExportError(HccError):
    """The module could not be exported as asked."""


def export(
    module,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    dynamic_shapes=None,
    opset: int | None = None,
    exporter: str = "dynamo",
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    pipeline: str | None = DEFAULT_PIPELINE,
) -> ir.Model:
    """Export ``module`` called as ``module(*args, **kwargs)`` to an IR model with scopes.

    Mirrors ``torch.onnx.export``. ``dynamic_shapes`` takes the dynamo form (``torch.export.Dim``
    objects per input); for the TorchScript exporter it is turned into ``dynamic_axes``.
    ``output_names`` renames the graph outputs in order. The weights stay in a private
    temporary folder that lives as long as the returned model.
    """
    import torch

    if exporter not in EXPORTERS:
        raise ExportError(f"unknown exporter {exporter!r}; choose one of {', '.join(EXPORTERS)}")
    if not isinstance(module, torch.nn.Module):
        raise ExportError(f"expected a torch.nn.Module, got {type(module).__name__}")
    args, kwargs = _distinct(tuple(args), dict(kwargs or {}))
    _check_signature(module, args, kwargs)
    module.eval()

    workdir = tempfile.TemporaryDirectory(prefix="hcc-export-")
    path = os.path.join(workdir.name, "model.onnx")
    traced_names: list[str] = []
    # Stages are shown under the command's step (nothing when it reports none); outside
    # _quiet, which silences torch's own printing.
    with stage(f"torch.onnx.export ({exporter})"), _quiet(), _no_cache_output(module, kwargs):
        if exporter == "dynamo":
            _export_dynamo(module, args, kwargs, path, dynamic_shapes, opset, input_names)
        else:
            traced_names = _export_torchscript(
                module, args, kwargs, path, dynamic_shapes, opset, input_names
            )
    with stage("reading the exported model"):
        model = ir.load(path)
    if exporter == "torchscript":
        from .torchscript import strip_prefix

        strip_prefix(model)
        # Node metadata_props (where the tags live) arrived with IR 10.
        model.ir_version = max(model.ir_version or 0, MIN_IR_VERSION)
        if not output_names and len(traced_names) == len(model.graph.outputs):
            try:
                rename_outputs(model, traced_names)
            except ExportError:
                pass  # names from the output structure are a courtesy; keep torch's on a clash
    # The folder holds the memory-mapped weights: keep it alive with the model.
    model.meta["_export_workdir"] = workdir
    model.metadata_props[HIERARCHY_KEY] = hierarchy_json(module)
    if output_names:
        rename_outputs(model, output_names)
    if pipeline:
        from hcc.passes import run

        with stage(f"tagging ({pipeline})"):
            model = run(model, pipeline)
    return model


def _export_dynamo(module, args, kwargs, path, dynamic_shapes, opset, input_names) -> None:
    import torch

    try:
        program = torch.onnx.export(
            module,
            args,
            kwargs=kwargs or None,
            dynamo=True,
            dynamic_shapes=dynamic_shapes,
            opset_version=opset,
            input_names=input_names,
            verbose=False,
        )
    except Exception as error:  # torch raises many types; the user needs the first line
        raise ExportError(f"torch.onnx.export (dynamo) failed: {_cause(error)}") from error
    program.save(path, external_data=True)


def _export_torchscript(
    module, args, kwargs, path, dynamic_shapes, opset, input_names
) -> list[str]:
    from .torchscript import export_torchscript
    from .torchscript import input_names as tensor_input_names

    names = list(input_names or tensor_input_names(module, args, kwargs))
    try:
        return export_torchscript(
            module,
            args,
            kwargs,
            path,
            names=names,
            opset=opset,
            dynamic_axes=_dynamic_axes(dynamic_shapes, names),
        )
    except Exception as error:
        raise ExportError(f"torch.onnx.export (torchscript) failed: {_cause(error)}") from error


def _dynamic_axes(dynamic_shapes, names: list[str]) -> dict[str, dict[int, str]]:
    """Dynamo-style dynamic shapes to TorchScript ``dynamic_axes`` (names of the Dims)."""
    if not dynamic_shapes:
        return {}
    items = (
        dynamic_shapes.items()
        if isinstance(dynamic_shapes, Mapping)
        else zip(names, dynamic_shapes)
    )
    axes: dict[str, dict[int, str]] = {}
    for name, spec in items:
        if not spec:
            continue
        axes[name] = {
            int(axis): getattr(dim, "__name__", None) or f"{name}_{axis}"
            for axis, dim in dict(spec).items()
        }
    return axes


def _distinct(args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """The example inputs with a copy in place of every tensor passed before as another input.

    torch's dynamo exporter takes one tensor passed as two inputs (``input_ids`` and
    ``decoder_input_ids`` both ``ids``) for one value: the graph keeps both inputs but reads
    only one, and the model is wrong for any other inputs. A copy of equal values traces the
    same code and keeps them apart."""
    import torch

    seen: set[int] = set()

    def distinct(value):
        if not isinstance(value, torch.Tensor):
            return value
        if id(value) in seen:
            return value.clone()
        seen.add(id(value))
        return value

    return tuple(distinct(a) for a in args), {k: distinct(v) for k, v in kwargs.items()}


def _check_signature(module, args: tuple, kwargs: dict) -> None:
    """Refuse inputs that the forward signature cannot take, naming what it accepts."""
    import inspect

    try:
        signature = inspect.signature(module.forward)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(*args, **kwargs)
    except TypeError as error:
        accepted = ", ".join(signature.parameters)
        raise ExportError(
            f"inputs do not match {type(module).__name__}.forward({accepted}): {error}"
        ) from None


def rename_outputs(model: ir.Model, names: Sequence[str]) -> None:
    """Give the graph outputs the names ``names`` (in order), keeping names unique."""
    outputs = model.graph.outputs
    if len(names) != len(outputs):
        raise ExportError(
            f"{len(names)} output names given for {len(outputs)} outputs: {list(names)}"
        )
    taken = {v.name for v in model.graph.values()} - {v.name for v in outputs}
    clash = [n for n in names if n in taken]
    if clash or len(set(names)) != len(names):
        raise ExportError(f"output names clash with existing values: {clash or list(names)}")
    for value, name in zip(outputs, names):
        value.name = name


def _cause(error: BaseException) -> str:
    """The first line of the innermost cause: torch wraps the real problem (a model's own
    ValueError, say) in errors whose first line only says which export step failed."""
    while error.__cause__ is not None:
        error = error.__cause__
    text = str(error).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


@contextlib.contextmanager
def _no_cache_output(module, kwargs: Mapping[str, Any]):
    """Export without the KV-cache object a transformers model returns when its config says
    ``use_cache: true`` (as most saved decoders do): it is no tensor and no exporter can write
    it. The config is restored afterwards; a call that passes ``use_cache`` itself (the KV-cache
    recipe's wrappers) decides alone."""
    config = getattr(module, "config", None)
    if "use_cache" in kwargs or not getattr(config, "use_cache", False):
        yield
        return
    config.use_cache = False
    try:
        yield
    finally:
        config.use_cache = True


@contextlib.contextmanager
def _quiet():
    """Silence the exporter's progress prints and warnings; hcc reports progress itself."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
