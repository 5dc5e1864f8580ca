"""Errors in what a user wrote, reported as ``file:line:col: message`` with the line and a caret.

One error type, :class:`SpecError`, carries every problem found in a spec at once; the CLI
prints it and exits with code 2, never with a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hcc.ir import HccError
from hcc.passes._errors import PipelineError, SourceLocation, did_you_mean

__all__ = ["Diagnostic", "SourceLocation", "SpecError", "did_you_mean", "location_in"]


@dataclass(frozen=True)
class Diagnostic:
    message: str
    location: SourceLocation | None = None

    def __str__(self) -> str:
        head = f"{self.location}: {self.message}" if self.location else self.message
        snippet = self.location.snippet() if self.location is not None else ""
        return f"{head}\n{snippet}" if snippet else head


class SpecError(HccError):
    """One or more problems in a spec file, each with its location."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = sorted(
            diagnostics,
            key=lambda d: (
                (d.location.source, d.location.line, d.location.column)
                if d.location
                else ("", 0, 0)
            ),
        )
        first = self.diagnostics[0] if self.diagnostics else Diagnostic("invalid spec")
        super().__init__(first.message, location=str(first.location) if first.location else None)

    @classmethod
    def one(cls, message: str, location: SourceLocation | None = None) -> SpecError:
        return cls([Diagnostic(message, location)])

    @classmethod
    def from_pipeline_error(cls, error: PipelineError) -> SpecError:
        return cls([Diagnostic(error.message, error.source_location)])

    def __str__(self) -> str:
        text = "\n".join(str(d) for d in self.diagnostics)
        if len(self.diagnostics) > 1:
            text += f"\n{len(self.diagnostics)} errors"
        return text


def location_in(source: str, text: str, line: int, column: int, length: int = 1) -> SourceLocation:
    """A location in ``text`` (named ``source``) with the line's text attached for the caret."""
    # Split at '\n' only, as the parser counts lines ('\r', '\x0c', ... are not line ends).
    lines = text.split("\n")
    line_text = lines[line - 1].rstrip("\r") if 0 < line <= len(lines) else ""
    return SourceLocation(source, line, column, max(length, 1), line_text)
