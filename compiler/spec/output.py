"""The output section: the folder, the file name and what is written and checked there."""

from __future__ import annotations

import os

from ..diagnostics import Diagnostic
from . import ast
from .messages import describe, has_control_character
from .model import OutputSettings
from .options import OUTPUT_OPTIONS
from .values import UNDEFINED, Values, section_options


def output_settings(
    section: ast.OutputSection | None, model_name: str, values: Values, errors: list[Diagnostic]
) -> OutputSettings:
    if section is None:
        return OutputSettings(os.path.join("build", model_name), model_name)
    directory = values.get(section.path)
    if directory is UNDEFINED:
        directory = os.path.join("build", model_name)
    elif not isinstance(directory, str) or not directory:
        errors.append(
            Diagnostic(
                f'the output folder must be a non-empty string, e.g. output "build/{model_name}",'
                f" not {describe(directory) if directory != '' else 'an empty one'}",
                section.path.loc,
            )
        )
        directory = os.path.join("build", model_name)
    elif has_control_character(directory):
        errors.append(
            Diagnostic(
                f"the output folder {directory!r} holds a control character; no file name should",
                section.path.loc,
            )
        )
        directory = os.path.join("build", model_name)
    options = section_options(section.options, OUTPUT_OPTIONS, "output", values, errors)
    name = options["name"] or model_name
    if (
        "/" in name
        or "\\" in name
        or name in (".", "..")
        or name.startswith(".")
        or has_control_character(name)
    ):
        loc = next((a.value.loc for a in section.options if a.key == "name"), section.loc)
        errors.append(
            Diagnostic(
                f"output name {name!r} must be a plain file name (no folders, not starting"
                " with '.')",
                loc,
            )
        )
    return OutputSettings(
        directory,
        name,
        options["external_data_threshold"],
        list(options["reports"]),
        options["validate"],
        options["tolerance"],
        options["torch_tolerance"],
        options["weights"],
    )
