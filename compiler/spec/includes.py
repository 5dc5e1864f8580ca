"""Includes: read a spec and the files it includes into one set of parameters and sections.

Includes are relative to the file that names them and may not leave the folder of the
top-level spec; a file included twice is read once, and an include cycle is an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ..diagnostics import Diagnostic, SpecError
from . import ast
from .messages import at, unknown
from .parser import parse_file
from .values import PARAM_TYPES


@dataclass
class Collected:
    """The items of a spec and its includes, merged: later files override earlier sections."""

    params: dict[str, ast.Param]
    sections: dict[str, Any]
    files: list[str]
    read: set[str] = field(default_factory=set)  # real paths of the files read


def collect(
    spec: ast.SpecFile, out: Collected, errors: list[Diagnostic], root_dir: str, stack: list[str]
) -> None:
    here = os.path.realpath(spec.path) if spec.path != "<spec>" else "<spec>"
    out.files.append(spec.path)
    out.read.add(here)
    seen_here: dict[str, Any] = {}
    for item in spec.items:
        if isinstance(item, ast.Include):
            _include(spec, item, out, errors, root_dir, stack + [here])
        elif isinstance(item, ast.Param):
            if item.name in out.params:
                first = out.params[item.name].loc
                errors.append(
                    Diagnostic(
                        f"parameter {item.name!r} is already declared at {at(first, item.loc)}",
                        item.loc,
                    )
                )
            else:
                out.params[item.name] = item
            if item.type not in PARAM_TYPES:
                errors.append(
                    Diagnostic(
                        unknown("parameter type", item.type, PARAM_TYPES, "types"), item.type_loc
                    )
                )
        else:
            kind = _section_kind(item)
            if kind in seen_here:
                errors.append(
                    Diagnostic(
                        f"duplicate {kind} section (first at {at(seen_here[kind].loc, item.loc)})",
                        item.loc,
                    )
                )
                continue
            seen_here[kind] = item
            out.sections[kind] = item  # an including file's section replaces the included one


def _include(spec, item: ast.Include, out, errors, root_dir, stack) -> None:
    if not item.path or any(ord(c) < 32 for c in item.path):
        # The OS would refuse such a name anyway (a NUL even raises ValueError).
        errors.append(Diagnostic(f"include path {item.path!r} is not a file name", item.loc))
        return
    if spec.path == "<spec>":
        target = os.path.normpath(os.path.join(root_dir, item.path))
    else:
        # Relative to the including file, and named as it is (a relative spec path gives
        # relative include paths in messages).
        target = os.path.normpath(os.path.join(os.path.dirname(spec.path), item.path))
    real = os.path.realpath(target)
    root = os.path.realpath(root_dir)
    if os.path.isabs(item.path) or os.path.commonpath([root, real]) != root:
        # A spec reads nothing outside its own folder (and the sources it names).
        errors.append(
            Diagnostic(
                f"include {item.path!r} is outside the spec's folder {root_dir};"
                " includes must stay inside it",
                item.loc,
            )
        )
        return
    if real in stack:
        chain = stack[stack.index(real) :] + [real]
        shown = " -> ".join(_relative(path, root) for path in chain)
        errors.append(Diagnostic(f"include cycle: {shown}", item.loc))
        return
    if real in out.read:
        return  # read already (two files include a common base): a file is read once
    if not os.path.isfile(real):
        errors.append(
            Diagnostic(
                f"included file {item.path!r} not found: no file {target}"
                " (includes are relative to the including file)",
                item.loc,
            )
        )
        return
    try:
        included = parse_file(target)
    except SpecError as error:
        errors.extend(error.diagnostics)
        return
    collect(included, out, errors, root_dir, stack)


def _relative(path: str, root: str) -> str:
    try:
        return os.path.relpath(os.path.realpath(path), root)
    except ValueError:  # another drive (Windows)
        return path


def _section_kind(item) -> str:
    return {
        ast.ModelSection: "model",
        ast.InputsSection: "inputs",
        ast.ExportSection: "export",
        ast.PipelineSection: "pipeline",
        ast.OutputSection: "output",
    }[type(item)]
