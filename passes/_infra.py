"""Passes, the pass manager, and the instruments that watch a pipeline run.

A pass transforms a model and says whether it changed anything. Everything around a pass —
verifying, timing, dumping the IR — is an *instrument* the manager calls before and after each
pass, so no pass prints, times or verifies itself.
"""

from __future__ import annotations

import inspect
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, TextIO

from hcc.ir import HccError, Model, VerificationError
from hcc.ir.files import write_text

from ._errors import SourceLocation
from ._options import Option, format_value, validate_options

# ------------------------------------------------------------------------------------------------
# Passes


@dataclass(frozen=True, slots=True)
class PassResult:
    """What a pass hands back: the model (usually the same object, changed in place),
    whether anything in it changed, and warnings for the user (a pass never prints: the
    manager collects them and the caller shows them)."""

    model: Model
    changed: bool
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class PassInfo:
    """What a pipeline needs to know about a pass class: its name, summary and options."""

    name: str
    summary: str
    cls: type[Pass]
    options: Mapping[str, Option]

    @property
    def doc(self) -> str:
        """The class docstring (the summary if there is none), for ``hcc passes NAME``."""
        return inspect.cleandoc(self.cls.__doc__ or "") or self.summary

    def create(
        self,
        options: Mapping[str, Any] | None = None,
        location: SourceLocation | None = None,
        *,
        option_locations: Mapping[str, SourceLocation] | None = None,
    ) -> Pass:
        """An instance of the pass; option errors point at ``location`` / ``option_locations``."""
        values = validate_options(self, options or {}, location, option_locations=option_locations)
        return self.cls(**values)


class Pass:
    """Base of all passes. Subclasses set ``name`` (the registry does) and implement ``call``.

    Options are class attributes made with :class:`Option`; the constructor takes them as
    keywords, checks them, and the pass reads them back as ``self.<option>``. ``requires`` and
    ``ensures`` state what must hold before and after ``call``; ``run`` calls all three.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""

    def __init__(self, **options: Any) -> None:
        self._options = validate_options(type(self).info(), options)

    @classmethod
    def info(cls) -> PassInfo:
        declared: dict[str, Option] = {}
        # Walk base classes first so a subclass can redeclare (override) an inherited option.
        for klass in reversed(cls.__mro__):
            for attribute, value in vars(klass).items():
                if isinstance(value, Option):
                    declared[attribute] = value
        return PassInfo(cls.name or cls.__name__, cls.summary, cls, declared)

    @property
    def options(self) -> dict[str, Any]:
        """The option values of this instance, defaults included."""
        return dict(self._options)

    def run(self, model: Model) -> PassResult:
        self.requires(model)
        result = self.call(model)
        if not isinstance(result, PassResult):
            raise TypeError(f"{type(self).__name__}.call returned {result!r}, not a PassResult")
        self.ensures(result.model)
        return result

    def requires(self, model: Model) -> None:
        """Raise if ``model`` is not something this pass can work on."""

    def call(self, model: Model) -> PassResult:
        raise NotImplementedError(f"{type(self).__name__} does not implement call()")

    def ensures(self, model: Model) -> None:
        """Raise if the pass broke a promise it makes about its result."""

    def __str__(self) -> str:
        """The pass as pipeline text; options left at their default are not written."""
        declared = type(self).info().options
        changed = [
            f"{key}={format_value(value)}"
            for key, value in self._options.items()
            if declared[key].required or value != declared[key].default
        ]
        return f"{self.info().name}({','.join(changed)})" if changed else self.info().name

    def __repr__(self) -> str:
        options = ", ".join(f"{key}={value!r}" for key, value in self._options.items())
        return f"{type(self).__name__}({options})"


# ------------------------------------------------------------------------------------------------
# The manager


class PassManager:
    """Runs passes in order over one model, calling the instruments around each pass.

    ``before_*`` hooks run in the order the instruments are given and ``after_*`` hooks in
    reverse, so the last instrument sits closest to the pass (put ``Timings`` last to leave
    verification out of the measured time). An instrument may define any subset of the hooks
    of :class:`Instrument`.
    """

    def __init__(self, passes: Iterable[Pass], instruments: Iterable[Any] = ()) -> None:
        self.passes = list(passes)
        self.instruments = list(instruments)
        self.warnings: list[str] = []  # of the last run, each "pass-name: message"

    def run(self, model: Model) -> PassResult:
        self._notify("before_pipeline", model)
        changed = False
        self.warnings = []
        for pass_ in self.passes:
            self._notify("before_pass", pass_, model)
            try:
                result = pass_.run(model)
            except HccError as error:
                # A user-caused failure inside a pass: say which pass, unless it already did.
                if error.location is None:
                    error.location = f"pass {pass_.info().name!r}"
                raise
            self._notify("after_pass", pass_, result, reverse=True)
            model = result.model
            changed = changed or result.changed
            self.warnings.extend(f"{pass_.info().name}: {text}" for text in result.warnings)
        final = PassResult(model, changed, tuple(self.warnings))
        self._notify("after_pipeline", final, reverse=True)
        return final

    def _notify(self, hook: str, *args: Any, reverse: bool = False) -> None:
        instruments = reversed(self.instruments) if reverse else self.instruments
        for instrument in instruments:
            method = getattr(instrument, hook, None)
            if method is not None:
                method(*args)


class Instrument:
    """Hooks the pass manager calls; subclass and override the ones you need."""

    def before_pipeline(self, model: Model) -> None:
        pass

    def before_pass(self, pass_: Pass, model: Model) -> None:
        pass

    def after_pass(self, pass_: Pass, result: PassResult) -> None:
        pass

    def after_pipeline(self, result: PassResult) -> None:
        pass


# ------------------------------------------------------------------------------------------------
# Instruments


def _default_verify(model: Model, *, require_scopes: bool = False) -> None:
    from hcc.ir.verifier import verify

    verify(model, require_scopes=require_scopes)


def _default_format(model: Model) -> str:
    from hcc.ir.printer import format_model

    return format_model(model)


class VerifyEach(Instrument):
    """Verify the model before the first pass and after every pass.

    The input is checked too, so that a model that was broken on arrival is not blamed on the
    first pass. The error names the pass after which the IR stopped being valid.
    """

    def __init__(
        self,
        *,
        require_scopes: bool = False,
        verify: Callable[..., None] | None = None,
    ) -> None:
        self.require_scopes = require_scopes
        self._verify = verify or _default_verify

    def before_pipeline(self, model: Model) -> None:
        self._check(model, "in the input model, before any pass")

    def after_pass(self, pass_: Pass, result: PassResult) -> None:
        self._check(result.model, f"after pass {pass_.info().name!r}")

    def _check(self, model: Model, when: str) -> None:
        try:
            self._verify(model, require_scopes=self.require_scopes)
        except VerificationError as error:
            raise VerificationError(error.problems, location=when) from error


class PassTiming(NamedTuple):
    name: str
    seconds: float
    changed: bool


class Timings(Instrument):
    """Wall time of every pass run, in order: ``records`` is a list of :class:`PassTiming`."""

    def __init__(self) -> None:
        self.records: list[PassTiming] = []
        self._started: float | None = None

    def before_pass(self, pass_: Pass, model: Model) -> None:
        self._started = time.perf_counter()

    def after_pass(self, pass_: Pass, result: PassResult) -> None:
        assert self._started is not None, "after_pass without before_pass"
        elapsed = time.perf_counter() - self._started
        self.records.append(PassTiming(pass_.info().name, elapsed, result.changed))
        self._started = None

    @property
    def total(self) -> float:
        return sum(record.seconds for record in self.records)

    def format_table(self) -> str:
        """A table of the runs in milliseconds, one line per pass, then the total."""
        total = self.total
        lines = [f"{'ms':>10}  {'share':>6}  {'changed':<7}  pass"]
        for record in self.records:
            share = record.seconds / total * 100 if total > 0 else 0.0
            changed = "yes" if record.changed else "no"
            lines.append(
                f"{record.seconds * 1e3:10.2f}  {share:5.1f}%  {changed:<7}  {record.name}"
            )
        share = 100.0 if self.records else 0.0
        lines.append(f"{total * 1e3:10.2f}  {share:5.1f}%  {'':<7}  total")
        return "\n".join(lines)


class DumpAfter(Instrument):
    """Write the printer's text of the model after every run of the pass named ``pass_name``.

    ``target`` is a directory (one file per run, ``NN-name.txt`` with NN the pass's position
    in the pipeline, counted from 1) or a text stream (each dump preceded by a header line).
    """

    def __init__(
        self,
        pass_name: str,
        target: str | os.PathLike[str] | TextIO,
        *,
        format_model: Callable[[Model], str] | None = None,
    ) -> None:
        self.pass_name = pass_name
        self.target = target
        self._format = format_model or _default_format
        self._position = 0
        self.written: list[Path] = []

    def before_pipeline(self, model: Model) -> None:
        self._position = 0

    def before_pass(self, pass_: Pass, model: Model) -> None:
        self._position += 1

    def after_pass(self, pass_: Pass, result: PassResult) -> None:
        name = pass_.info().name
        if name != self.pass_name:
            return
        text = self._format(result.model)
        if hasattr(self.target, "write"):
            self.target.write(f"# IR after {name} (pass {self._position} of the pipeline)\n")
            self.target.write(text if text.endswith("\n") else text + "\n")
            return
        directory = Path(self.target)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self._position:02d}-{name}.txt"
        write_text(path, text)
        self.written.append(path)


class PrintAfterChange(Instrument):
    """Print the model after each pass that reports a change (``stream`` defaults to stdout)."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        format_model: Callable[[Model], str] | None = None,
    ) -> None:
        self.stream = stream
        self._format = format_model or _default_format

    def after_pass(self, pass_: Pass, result: PassResult) -> None:
        if not result.changed:
            return
        stream = self.stream if self.stream is not None else sys.stdout
        text = self._format(result.model)
        stream.write(f"# IR after {pass_.info().name} (changed)\n")
        stream.write(text if text.endswith("\n") else text + "\n")


__all__ = [
    "DumpAfter",
    "Instrument",
    "Pass",
    "PassInfo",
    "PassManager",
    "PassResult",
    "PassTiming",
    "PrintAfterChange",
    "Timings",
    "VerifyEach",
]
