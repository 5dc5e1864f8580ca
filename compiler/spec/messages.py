"""Pieces of the resolver's messages: where, what was unknown, what a value was."""

from __future__ import annotations

from typing import Any

from hcc.passes._errors import SourceLocation

from ..diagnostics import Diagnostic, did_you_mean
from . import ast
from .format import format_value


def at(first: SourceLocation, here: SourceLocation) -> str:
    """Where ``first`` is, said briefly: ``3:14`` in the same file, else ``base.hx:3:14``."""
    if first.source == here.source:
        return f"{first.line}:{first.column}"
    return str(first)


def given_once(key: str, loc: SourceLocation, seen: dict, errors: list, twice: str) -> bool:
    """Whether ``key`` (at ``loc``) is given for the first time among ``seen``, which records it;
    if not, ``twice`` is reported with where it was given first."""
    if key in seen:
        errors.append(Diagnostic(f"{twice} (first at {at(seen[key], loc)})", loc))
        return False
    seen[key] = loc
    return True


def unknown(what: str, name: str, known, listing: str) -> str:
    """``unknown dtype 'int46'; did you mean 'int64'? (dtypes: ...)``."""
    known = list(known)
    return f"unknown {what} {name!r}{did_you_mean(name, known)} ({listing}: {', '.join(known)})"


def describe(value: Any) -> str:
    """``the int 3``, ``a list``: a resolved value in a message."""
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"the bool {'true' if value else 'false'}"
    if isinstance(value, (int, float)):
        return f"the {type(value).__name__} {value!r}"
    return f"the str {value!r}"


def show(value: ast.Value) -> str:
    """A value as written in the spec, for messages."""
    return format_value(value)


def has_control_character(text: str) -> bool:
    # A NUL would even make the OS calls raise; a newline or escape in a path is a mistake.
    return any(ord(c) < 32 or ord(c) == 127 for c in text)
