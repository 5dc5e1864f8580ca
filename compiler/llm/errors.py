"""The one error type of the KV-cache recipe, for everything a user can get wrong."""

from __future__ import annotations

from hcc.ir import HccError


class LLMError(HccError):
    """The model or the options do not fit the KV-cache recipe."""
