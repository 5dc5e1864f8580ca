"""Errors in a pipeline's text or configuration, located in their source with a caret.

The textual pipeline (``-p``) and, later, the spec language report the same problems (unknown
pass, unknown option, wrong type, syntax): they share :class:`SourceLocation` and
:class:`PipelineError` so a message reads the same wherever the pipeline was written.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from hcc.ir import HccError


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """A span of source text: ``source`` names where it came from (a file, ``pipeline``).

    ``line`` and ``column`` count from 1. ``line_text`` is the whole source line, kept so the
    error can show it with a caret under the span.
    """

    source: str
    line: int
    column: int
    length: int = 1
    line_text: str | None = None

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.column}"

    def snippet(self) -> str:
        """The source line and a caret line under the span (empty without ``line_text``)."""
        if self.line_text is None:
            return ""
        text = self.line_text.rstrip("\n")
        # Tabs would shift the caret; show them as the single column they were counted as.
        # Other control characters (a NUL, an escape) are shown as '?': never sent to a terminal.
        text = "".join(" " if c == "\t" else "?" if c < " " or c == "\x7f" else c for c in text)
        marker = "^" + "~" * (max(self.length, 1) - 1)
        return f"  {text}\n  {' ' * (self.column - 1)}{marker}"


class PipelineError(HccError):
    """A pipeline that cannot be built: bad syntax, unknown pass or option, bad option value."""

    def __init__(self, message: str, *, location: SourceLocation | None = None) -> None:
        super().__init__(message, location=str(location) if location is not None else None)
        self.source_location = location

    def __str__(self) -> str:
        head = super().__str__()
        snippet = self.source_location.snippet() if self.source_location is not None else ""
        return f"{head}\n{snippet}" if snippet else head


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest candidate, or ``""`` when none is close."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {matches[0]!r}?" if matches else ""
