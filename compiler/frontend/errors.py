"""The error every model source raises for a source that cannot be found, imported or built,
and the "did you mean" its messages offer."""

from __future__ import annotations

import difflib

from hcc.ir.errors import HccError


class SourceError(HccError):
    """A model source cannot be found, imported or built as named."""


def suggest(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
