"""Error types a user can cause. The CLI prints them as one line and exits with code 2."""

from __future__ import annotations


class HccError(Exception):
    """Base of every error that is the user's input, not a bug in hcc."""

    def __init__(self, message: str, *, location: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location

    def __str__(self) -> str:
        if self.location:
            return f"{self.location}: {self.message}"
        return self.message


class LoadError(HccError):
    """A model file is missing, truncated, corrupt, or refers to data it may not read."""


class SaveError(HccError):
    """A model cannot be written where or how it was asked to be."""


class VerificationError(HccError):
    """The IR breaks one of its invariants (see hcc.ir.verifier)."""

    def __init__(self, problems: list[str], *, location: str | None = None) -> None:
        self.problems = list(problems)
        head = problems[0] if problems else "invalid IR"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(head + more, location=location)
