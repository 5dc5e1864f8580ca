"""Argument types shared by the subcommands: whole numbers checked against their range at
parse time, so ``--batch -3`` or ``--batch 10**11`` is a usage error, not a failure deep in
numpy."""

from __future__ import annotations

import argparse
from collections.abc import Callable

# Generated inputs are at most this large on each axis; larger asks for memory no check needs.
MAX_BATCH = 4096
MAX_SEQ = 1 << 20
MAX_SEED = 2**32 - 1  # what numpy and torch seeds take on every platform


def whole_number(minimum: int, maximum: int) -> Callable[[str], int]:
    """An argparse ``type`` for an integer in ``[minimum, maximum]``."""

    def parse(text: str) -> int:
        digits = text.strip().lstrip("+-")
        if not digits.isdigit() or not digits.isascii() or len(digits) > 20:
            raise argparse.ArgumentTypeError(
                f"{text[:30]!r} is not a whole number from {minimum} to {maximum}"
            )
        value = int(text)
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be from {minimum} to {maximum}, not {value}")
        return value

    parse.__name__ = "whole number"  # argparse names the type in its messages
    return parse


batch_size = whole_number(1, MAX_BATCH)
sequence_length = whole_number(1, MAX_SEQ)
seed = whole_number(0, MAX_SEED)
opset = whole_number(1, 99)
