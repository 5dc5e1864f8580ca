"""Blocks of the export section: ``names { ... }``, the kv-cache pieces' tensor names.

``preset = NAME`` chooses the names to start from, every other entry names a role
(``hidden = "input_states"``); see :mod:`hcc.llm.names`. Mistakes are reported at the key (an
unknown role, one given twice) or at the value (an empty or odd name, two roles of one piece
with the same name).
"""

from __future__ import annotations

from typing import Any

from hcc.llm.names import PRESETS, ROLES, NamesError, templates
from hcc.passes._errors import SourceLocation

from ..diagnostics import Diagnostic
from . import ast
from .messages import given_once, unknown
from .values import UNDEFINED, Values

BLOCKS = ("names",)


def names_settings(
    section: ast.ExportSection | None,
    options: dict[str, Any],
    values: Values,
    errors: list[Diagnostic],
) -> dict[str, Any]:
    """``{"names_preset": ..., "names": {role: name}}`` from the section's ``names`` block."""
    settings: dict[str, Any] = {"names_preset": "hcc", "names": {}}
    if section is None:
        return settings
    block = None
    seen: dict[str, SourceLocation] = {}
    for candidate in section.blocks:
        if candidate.name not in BLOCKS:
            errors.append(
                Diagnostic(unknown("export block", candidate.name, BLOCKS, "blocks"), candidate.loc)
            )
        elif given_once(
            candidate.name, candidate.loc, seen, errors, "names is given twice in export"
        ):
            block = candidate
    if block is None:
        return settings
    if options["recipe"] != "kv-cache":
        errors.append(
            Diagnostic("names are the kv-cache recipe's; set recipe = kv-cache", block.loc)
        )
        return settings
    keys: dict[str, ast.Assign] = {}
    written: dict[str, SourceLocation] = {}
    complete = True
    for entry in block.entries:
        if not given_once(
            entry.key, entry.loc, written, errors, f"names.{entry.key} is given twice"
        ):
            continue
        keys[entry.key] = entry
        value = values.get(entry.value)
        if value is UNDEFINED:
            complete = False
        elif entry.key == "preset":
            settings["names_preset"] = value
        else:
            settings["names"][entry.key] = value
    if complete:
        _check(settings, options, keys, block.loc, errors)
    return settings


def _check(
    settings: dict[str, Any],
    options: dict[str, Any],
    keys: dict[str, ast.Assign],
    block: SourceLocation,
    errors: list[Diagnostic],
) -> None:
    try:
        templates(
            settings["names_preset"], settings["names"], options["head"], options["decode_cache"]
        )
    except NamesError as error:
        entry = keys.get(error.key)
        if entry is None:
            loc = block
        else:
            loc = entry.loc if error.at == "key" else entry.value.loc
        message = error.message
        if error.key == "preset":
            message = unknown("names preset", settings["names_preset"], PRESETS, "presets")
        elif error.at == "key":
            message = unknown("names key", error.key, ["preset", *ROLES], "keys")
        errors.append(Diagnostic(message, loc))
