"""hcc's passes and the machinery to run them.

Importing this package registers the built-in passes. From Python::

    import hcc.ir, hcc.passes
    model = hcc.ir.load("model.onnx")
    model = hcc.passes.run(model, "remove-dead-code,topological-sort", verify_each=True)
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from typing import Any

from hcc.ir import Model

from ._errors import PipelineError, SourceLocation
from ._infra import (
    DumpAfter,
    Instrument,
    Pass,
    PassInfo,
    PassManager,
    PassResult,
    PassTiming,
    PrintAfterChange,
    Timings,
    VerifyEach,
)
from ._options import REQUIRED, Option, validate_options
from ._registry import PassRegistry, get_pass, register_pass, registered_passes
from .pipeline import PassSpec, build_pipeline, format_pipeline, parse_pipeline
from .remove_dead_code import RemoveDeadCodePass
from .strip_tags import StripTagsPass
from .topological_sort import TopologicalSortPass


def _import_pass_modules() -> None:
    """Import every pass file (one pass per public module) so its @register_pass runs.

    A new pass needs no line here: dropping ``passes/<name>.py`` in is enough.
    """
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not module.name.startswith("_") and module.name != "pipeline":
            importlib.import_module(f"{__name__}.{module.name}")


_import_pass_modules()


def run(
    model: Any,
    pipeline: str | Iterable[PassSpec | Pass],
    *,
    verify_each: bool = False,
    instruments: Iterable[Any] = (),
    registry: PassRegistry | None = None,
) -> Any:
    """Run ``pipeline`` over ``model`` and return the result as the same kind of object.

    ``model`` is an :class:`hcc.ir.Model` (changed in place and returned) or an
    ``onnx.ModelProto`` (converted to the IR and back; the proto given is left alone).
    ``pipeline`` is pipeline text, :class:`PassSpec` objects or pass instances. The pipeline is
    built before the model is touched, so a misspelt pass fails fast.
    """
    passes = build_pipeline(pipeline, registry=registry)
    # Recognise a ModelProto by name: only hcc.ir.onnx may import onnx's protobuf classes.
    is_proto = type(model).__name__ == "ModelProto"
    if is_proto:
        from hcc.ir import from_onnx

        ir_model = from_onnx(model)
    elif isinstance(model, Model):
        ir_model = model
    else:
        kind = type(model).__name__
        raise TypeError(f"hcc.passes.run needs an hcc.ir.Model or onnx.ModelProto, not {kind}")
    chosen = ([VerifyEach()] if verify_each else []) + list(instruments)
    result = PassManager(passes, chosen).run(ir_model)
    if is_proto:
        from hcc.ir import to_onnx

        return to_onnx(result.model)
    return result.model


__all__ = [
    "REQUIRED",
    "DumpAfter",
    "Instrument",
    "Option",
    "Pass",
    "PassInfo",
    "PassManager",
    "PassRegistry",
    "PassResult",
    "PassSpec",
    "PassTiming",
    "PipelineError",
    "PrintAfterChange",
    "RemoveDeadCodePass",
    "SourceLocation",
    "StripTagsPass",
    "Timings",
    "TopologicalSortPass",
    "VerifyEach",
    "build_pipeline",
    "format_pipeline",
    "get_pass",
    "parse_pipeline",
    "register_pass",
    "registered_passes",
    "run",
    "validate_options",
]
