"""Progress of a build: a live line in a terminal, plain lines elsewhere (CI logs).

An instrument for the pass manager plus a context manager for the export step. Both write to
stderr so they never mix with a command's real output.
"""

from __future__ import annotations

import contextlib
import contextvars
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


class _Open:
    """The step being reported: its stream, and whether its line waits for its end."""

    def __init__(self, stream: TextIO, live: bool) -> None:
        self.stream = stream
        self.live = live
        self.open = False


_current: contextvars.ContextVar[_Open | None] = contextvars.ContextVar(
    "hcc_progress_step", default=None
)


def _end_open_line() -> None:
    """Before a stage or a bar prints inside a step, end the step's ``label ...`` line."""
    current = _current.get()
    if current is not None and current.live and current.open:
        current.stream.write("\n")
        current.open = False


@contextlib.contextmanager
def step(label: str, stream: TextIO | None = None, *, enabled: bool = True):
    """Report a long step (``exporting bert ...``) with its duration when it ends."""
    stream = stream if stream is not None else sys.stderr
    if not enabled:
        yield
        return
    _end_open_line()
    state = _Open(stream, bool(getattr(stream, "isatty", lambda: False)()))
    started = time.perf_counter()
    if state.live:
        stream.write(f"{label} ...")
        stream.flush()
        state.open = True
    token = _current.set(state)
    try:
        yield
    except BaseException:
        if state.live:  # the error message starts on a line of its own, not after a bar
            stream.write("\n")
            stream.flush()
        raise
    finally:
        _current.reset(token)
    seconds = time.perf_counter() - started
    if state.open:
        stream.write(f"\r{label} {seconds:.2f} s\x1b[K\n")
    else:
        stream.write(f"{label} {seconds:.2f} s\n")
    stream.flush()


@contextlib.contextmanager
def stage(label: str):
    """A stage of the step being reported (``torch.onnx.export`` inside ``exporting bert``),
    shown indented under it; nothing when no step is reported (``-q``, or a library call)."""
    current = _current.get()
    if current is None:
        yield
        return
    with step(f"  {label}", current.stream):
        yield


def meter(label: str, *, unit: str = "") -> Meter | None:
    """A :class:`Meter` on the stream of the step being reported, or None when none is."""
    current = _current.get()
    if current is None:
        return None
    return Meter(f"  {label}", unit=unit, stream=current.stream)


def _size(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TB"


class Meter:
    """Progress of a step with a known amount of work: ``meter(done, total)``.

    On a terminal a bar redrawn in place (at most ten times a second); elsewhere (a CI log) one
    plain line per quarter of the work, so a log shows a long step moving without filling up.
    ``unit="bytes"`` shows sizes; otherwise counts, and ``item`` names what was just done
    (``  pieces [######------------------]  25% 3/12 GPT2Block.2``). Disabled, it does
    nothing.
    """

    WIDTH = 24
    INTERVAL = 0.1  # seconds between redraws of a bar

    def __init__(
        self,
        label: str,
        *,
        unit: str = "",
        stream: TextIO | None = None,
        enabled: bool = True,
    ) -> None:
        self.label = label
        self.unit = unit
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self._drawn = 0.0
        self._quarter = -1
        self._open = False
        self._finished = False

    def __call__(self, done: int, total: int, item: str = "") -> None:
        if not self.enabled or self._finished:
            return
        done, total = max(done, 0), max(total, 0)
        self._finished = done >= total
        share = done / total if total else 1.0
        amount = f"{_size(done)} / {_size(total)}" if self.unit == "bytes" else f"{done}/{total}"
        detail = f" {item}" if item else ""
        if self.live:
            now = time.perf_counter()
            if done < total and now - self._drawn < self.INTERVAL:
                return
            self._drawn = now
            _end_open_line()
            filled = round(self.WIDTH * min(share, 1.0))
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            self.stream.write(f"\r{self.label} [{bar}] {share:4.0%} {amount}{detail}\x1b[K")
            self._open = True
            if done >= total:
                self.stream.write("\n")
                self._open = False
        else:
            quarter = int(min(share, 1.0) * 4)
            if self.unit == "bytes" and quarter == self._quarter:
                return  # plain lines: one per quarter of the bytes
            self._quarter = quarter
            _end_open_line()
            self.stream.write(f"{self.label}: {amount} ({share:.0%}){detail}\n")
        self.stream.flush()

    def close(self) -> None:
        """End a bar that did not reach its total (an error stopped the work)."""
        if self.enabled and self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False
