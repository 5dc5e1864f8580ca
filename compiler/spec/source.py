"""The model and inputs sections: what to load, and the example inputs it is traced with."""

from __future__ import annotations

import os
from typing import Any

from hcc.frontend.hub import is_hub_id
from hcc.frontend.inputs import DTYPES, InputSpec
from hcc.frontend.load import KINDS, ModelSource
from hcc.passes._errors import SourceLocation

from ..diagnostics import Diagnostic
from . import ast
from .messages import describe, given_once, has_control_character, show, unknown
from .options import INPUTS_OPTIONS, MODEL_OPTIONS
from .values import UNDEFINED, Values, section_options


def model_source(
    model: ast.ModelSection,
    inputs: ast.InputsSection | None,
    values: Values,
    errors: list[Diagnostic],
) -> ModelSource | None:
    # Check everything before giving up, so one run reports all the problems.
    options = section_options(model.options, MODEL_OPTIONS, "model", values, errors)
    valid = True
    if model.kind not in KINDS:
        errors.append(
            Diagnostic(unknown("model source kind", model.kind, KINDS, "kinds"), model.kind_loc)
        )
        valid = False
    reference = values.get(model.reference)
    if reference is UNDEFINED:
        valid = False
    elif not isinstance(reference, str) or not reference:
        what = {
            "config": "a config name",
            "directory": "a folder",
            "factory": "module:function",
            "onnx": "a .onnx file",
            "pretrained": "a hub id like org/name",
        }.get(model.kind, "a name")
        errors.append(
            Diagnostic(
                f"the model source must be a non-empty string ({what}),"
                f" not {describe(reference) if reference != '' else 'an empty one'}",
                model.reference.loc,
            )
        )
        valid = False
    if valid and model.kind == "pretrained" and not is_hub_id(reference):
        errors.append(
            Diagnostic(
                f"{reference!r} is not a hub id; write it as org/name (a local folder is "
                "'from directory')",
                model.reference.loc,
            )
        )
        valid = False
    if options["revision"] and model.kind in KINDS and model.kind != "pretrained":
        loc = next(a.loc for a in model.options if a.key == "revision")
        errors.append(
            Diagnostic(
                f"a revision names a version of a hub id ('from pretrained'), not of a {model.kind} "
                "source",
                loc,
            )
        )
    written = next((a for a in model.options if a.key == "distinct_weights"), None)
    if written is not None and model.kind in KINDS and model.kind != "config":
        errors.append(
            Diagnostic(
                "distinct_weights applies to a model built from a config, whose weights are "
                f"fresh; a {model.kind} source brings its own",
                written.loc,
            )
        )
    if valid and model.kind in ("directory", "onnx") and has_control_character(reference):
        errors.append(
            Diagnostic(
                f"the model path {reference!r} holds a control character", model.reference.loc
            )
        )
        valid = False
    if valid and model.kind in ("directory", "onnx") and model.loc.source != "<spec>":
        reference = os.path.join(os.path.dirname(os.path.abspath(model.loc.source)), reference)
    overrides: dict[str, Any] = {}
    seen: dict[str, SourceLocation] = {}
    for assign in model.config or []:
        if model.kind in KINDS and model.kind != "config":
            errors.append(
                Diagnostic(
                    "a config block overrides a config source's settings;"
                    f" {'an' if model.kind[0] in 'aeiou' else 'a'} {model.kind} source has none",
                    assign.loc,
                )
            )
            break
        if not given_once(
            assign.key, assign.loc, seen, errors, f"{assign.key!r} is set twice in config"
        ):
            continue
        value = values.get(assign.value)
        if value is not UNDEFINED:
            overrides[assign.key] = value
    declared, text = declared_inputs(inputs, values, errors)
    if not valid:
        return None
    return ModelSource(
        model.kind,
        reference,
        overrides,
        task=options["task"],
        seed=options["seed"],
        distinct_weights=options["distinct_weights"],
        inputs=declared,
        input_text=text,
        revision=options["revision"] or None,
    )


def declared_inputs(
    section: ast.InputsSection | None, values: Values, errors: list[Diagnostic]
) -> tuple[list[InputSpec] | None, str | None]:
    if section is None:
        return None, None
    options = section_options(section.options, INPUTS_OPTIONS, "inputs", values, errors)
    text = options["text"] or None
    declared: list[InputSpec] = []
    names: set[str] = set()
    for decl in section.inputs:
        if decl.name in names:
            errors.append(Diagnostic(f"input {decl.name!r} is declared twice", decl.loc))
        names.add(decl.name)
        if decl.dtype not in DTYPES:
            errors.append(
                Diagnostic(unknown("dtype", decl.dtype, DTYPES, "dtypes"), decl.dtype_loc)
            )
        dims: list[int | str] = []
        dims_known = True
        for dim in decl.dims:
            value = values.get(dim)
            if value is UNDEFINED:
                dims_known = False
                continue
            if isinstance(value, bool) or not (
                (isinstance(value, int) and value >= 0)
                or (isinstance(value, str) and isinstance(dim, ast.Literal) and dim.word)
            ):
                errors.append(
                    Diagnostic(
                        f"bad dimension {show(dim)}: a dimension is a size (an integer >= 0)"
                        " or a name like batch",
                        dim.loc,
                    )
                )
                dims_known = False
                continue
            dims.append(value)
        sizes = None
        if decl.sizes is not None:
            sizes = values.get(decl.sizes)
            if sizes is UNDEFINED:
                sizes = None
            elif not (
                isinstance(sizes, list)
                and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes)
            ):
                errors.append(
                    Diagnostic(
                        "example sizes are a list of positive integers, one per dimension,"
                        f" e.g. [2, 16], not {show(decl.sizes)}",
                        decl.sizes.loc,
                    )
                )
                sizes = None
            elif len(sizes) != len(decl.dims):
                plural = "s" if len(sizes) != 1 else ""
                errors.append(
                    Diagnostic(
                        f"input {decl.name!r} has {len(decl.dims)} dimensions but {len(sizes)}"
                        f" example size{plural}",
                        decl.sizes.loc,
                    )
                )
                sizes = None
            elif not dims_known:
                sizes = None
            else:
                for dim, size in zip(dims, sizes):
                    if isinstance(dim, int) and dim != size:
                        errors.append(
                            Diagnostic(
                                f"example size {size} differs from the static dimension {dim}",
                                decl.sizes.loc,
                            )
                        )
        declared.append(InputSpec(decl.name, decl.dtype, dims, sizes))
    if text and declared:
        text_loc = next(a.loc for a in section.options if a.key == "text")
        errors.append(Diagnostic("give example text or declared inputs, not both", text_loc))
    return (declared or None), text
