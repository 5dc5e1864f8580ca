"""The precision pass family: lower the numeric precision of a model by a policy over scopes.

- :mod:`.convert_precision`: ``convert-precision``, float32 to float16 / bfloat16;
- :mod:`.retype`: the conversion's work (plans from schemas, Casts at policy boundaries);
- :mod:`.policy`: which nodes stay float32 (``keep`` globs, the default ``keep_ops``).
"""

from __future__ import annotations

from .convert_precision import CASTS_KEY, ConvertPrecisionPass, PrecisionError
from .policy import DEFAULT_KEEP_OPS, Policy

__all__ = ["CASTS_KEY", "DEFAULT_KEEP_OPS", "ConvertPrecisionPass", "Policy", "PrecisionError"]
