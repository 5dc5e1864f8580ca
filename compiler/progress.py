"""Progress of a build: a live line in a terminal, plain lines elsewhere (CI logs).

An instrument for the pass manager plus a context manager for the export step. Both write to
stderr so they never mix with a command's real output.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import TextIO

from hcc.passes import Instrument


class Progress(Instrument):
    """Reports each pass as it starts and ends: ``[3/7] split ... 1.24 s``."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self._index = 0
        self._started = 0.0

    def before_pass(self, pass_, model) -> None:
        self._index += 1
        self._started = time.perf_counter()
        if self.live:
            self.stream.write(f"\r[{self._index}/{self.total}] {pass_.info().name} ...\x1b[K")
            self.stream.flush()

    def after_pass(self, pass_, result) -> None:
        seconds = time.perf_counter() - self._started
        line = f"[{self._index}/{self.total}] {pass_.info().name} {seconds:.2f} s"
        if self.live:
            self.stream.write(f"\r{line}\x1b[K\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


@contextlib.contextmanager
def step(label: str, stream: TextIO | None = None, *, enabled: bool = True):
    """Report a long step (``exporting bert ...``) with its duration when it ends."""
    stream = stream if stream is not None else sys.stderr
    if not enabled:
        yield
        return
    live = bool(getattr(stream, "isatty", lambda: False)())
    started = time.perf_counter()
    if live:
        stream.write(f"{label} ...")
        stream.flush()
    yield
    seconds = time.perf_counter() - started
    stream.write(f"\r{label} {seconds:.2f} s\x1b[K\n" if live else f"{label} {seconds:.2f} s\n")
    stream.flush()
