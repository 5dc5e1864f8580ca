"""Text that goes into the page: every name a model holds passes through :func:`escape`.

Module and tensor names come from the model file and may hold anything: ``<script>``, quotes,
control characters, unpaired surrogates. They are shown as written, never interpreted.
"""

from __future__ import annotations

import html
import unicodedata

from hcc.inspect._common import human_bytes

__all__ = ["escape", "human_bytes", "human_count", "shape_text"]


def escape(value: object) -> str:
    """``value`` as HTML text or attribute content: markup escaped, and characters a page
    cannot carry (controls, unpaired surrogates) shown as ``\\xNN`` / ``\\uNNNN``."""
    text = str(value)
    if not text.isprintable():
        text = "".join(_visible(c) for c in text)
    return html.escape(text, quote=True)


def _visible(char: str) -> str:
    if char == " " or char.isprintable():
        return char
    category = unicodedata.category(char)
    if category in ("Cc", "Cs", "Co", "Cn") or char in "\u2028\u2029":
        code = ord(char)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return char  # format characters (joiners and the like) are part of names


def human_count(count: int) -> str:
    """``124.4M``: parameter counts at a glance."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= size:
            return f"{count / size:.1f}{unit}"
    return str(count)


def shape_text(value: dict) -> str:
    """``float[batch, seq, 768]`` from a manifest's ``{"dtype", "shape"}``."""
    shape = value.get("shape")
    dims = "?" if shape is None else ", ".join(str(d) for d in shape)
    return f"{value.get('dtype', '?')}[{dims}]"
