"""What the precision passes did, in lines for a build summary: how many Casts
``convert-precision`` inserted and in which scopes, how many weights ``quantize-weights``
quantized."""

from __future__ import annotations

from collections import Counter

from hcc.ir import Model

from .convert_precision import CASTS_KEY
from .quantize_weights import QUANTIZED_KEY


def summary_lines(model: Model, *, scopes_shown: int = 5) -> list[str]:
    lines = []
    casts = model.meta.get(CASTS_KEY)
    if casts is not None:
        where = Counter(tag or "(no scope)" for _, tag in casts)
        shown = ", ".join(f"{n} in {tag}" for tag, n in where.most_common(scopes_shown))
        more = f", {len(where) - scopes_shown} more scopes" if len(where) > scopes_shown else ""
        lines.append(
            f"convert-precision inserted {len(casts)} Casts" + (f": {shown}{more}" if casts else "")
        )
    quantized = model.meta.get(QUANTIZED_KEY)
    if quantized is not None:
        lines.append(f"quantize-weights quantized {len(quantized)} weights")
    return lines
