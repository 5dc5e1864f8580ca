"""The pipeline section: pass calls checked against the registry, and the kv-cache recipe's
settings (a recipe runs its own passes)."""

from __future__ import annotations

from typing import Any

from hcc.passes._errors import PipelineError, SourceLocation
from hcc.passes._registry import get_pass
from hcc.passes.pipeline import PassSpec

from ..diagnostics import Diagnostic
from ..llm.options import quantize_conflict
from . import ast
from .messages import given_once
from .values import UNDEFINED, Values


def pipeline_passes(
    section: ast.PipelineSection | None, values: Values, errors: list[Diagnostic]
) -> list[PassSpec]:
    if section is None:
        return []
    specs = []
    for call in section.passes:
        options: dict[str, Any] = {}
        locations: dict[str, SourceLocation] = {}
        keys: dict[str, SourceLocation] = {}
        complete = True
        for arg in call.args:
            twice = f"option {arg.key!r} of pass {call.name!r} is given twice"
            if not given_once(arg.key, arg.loc, keys, errors, twice):
                continue
            value = values.get(arg.value)
            if value is UNDEFINED:
                complete = False
                continue
            options[arg.key] = value
            locations[arg.key] = arg.value.loc
        spec = PassSpec(call.name, options, call.loc, locations)
        try:
            info = get_pass(call.name, call.loc)
            if complete:  # else a required option may look missing: reported already
                info.create(options, call.loc, option_locations=locations)
        except PipelineError as error:
            errors.append(Diagnostic(error.message, error.source_location or call.loc))
            continue
        specs.append(spec)
    return specs


def recipe_settings(
    options: dict[str, Any],
    section: ast.PipelineSection | None,
    pipeline: list[PassSpec],
    errors: list[Diagnostic],
) -> dict[str, Any] | None:
    """The kv-cache recipe's settings, or None when the export is a plain one. The recipe runs
    its own passes; its pipeline section may hold one ``quantize-weights``, applied to every
    piece."""
    if options["recipe"] == "none":
        return None
    quantize = None
    for spec in pipeline:
        if spec.name != "quantize-weights" or quantize is not None:
            errors.append(
                Diagnostic(
                    "the kv-cache recipe runs its own passes; its pipeline section may hold one "
                    "quantize-weights only",
                    spec.location or (section.loc if section else None),
                )
            )
            continue
        quantize = dict(spec.options)
        conflict = quantize_conflict(quantize, options["opset"] or 15)
        if conflict:
            where = spec.option_locations.get("target") or spec.location
            errors.append(Diagnostic(conflict, where or (section.loc if section else None)))
    return {
        "max_len": options["max_len"],
        "static": options["shapes"] == "static",
        "head": options["head"],
        "top_k": options["top_k"],
        "dtype": options["dtype"],
        "opset": options["opset"] or 15,
        "quantize": quantize,
        "cache_layout": options["cache_layout"],
        "decode_cache": options["decode_cache"],
        "attention_mask": options["attention_mask"],
    }
