"""The ``hcc`` command line: the parser, the dispatch and the one place errors become exits.

Each command group is a module (:mod:`.passes`, :mod:`.build`, :mod:`.inspect`) of subcommands,
each a pair of functions: ``add_<name>(subparsers)`` declares its arguments and
``run_<name>(args) -> int`` calls the library that does the work. Errors the user can cause (an
``HccError``, a file that cannot be read or written) print ``hcc: error: <message>`` on stderr
and exit with 2, with no traceback; a traceback means a bug in hcc.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import hcc
import hcc.ir as ir
from hcc.ir.files import Interrupted, stop_on_signals

from . import build, export, inspect, passes, report

EXIT_OK = 0
EXIT_USER_ERROR = 2
EXIT_BROKEN_PIPE = 141  # as a shell reports a command killed by SIGPIPE


# Each command group is a module with a COMMANDS list of (add_<name>, run_<name>) pairs.
_COMMANDS: list[tuple[Callable[[Any], None], Callable[[argparse.Namespace], int]]] = [
    *passes.COMMANDS,
    *build.COMMANDS,
    *export.COMMANDS,
    *inspect.COMMANDS,
    *report.COMMANDS,
]


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors in hcc's own form: ``hcc: error: opt: <message>``."""

    def error(self, message: str):  # type: ignore[override]
        self.print_usage(sys.stderr)
        command = self.prog.split(" ", 1)[1] + ": " if " " in self.prog else ""
        self.exit(EXIT_USER_ERROR, f"hcc: error: {command}{message}\n")


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hcc", description="ONNX graph surgery that keeps every node's nn.Module scope."
    )
    parser.add_argument("--version", action="version", version=f"hcc {hcc.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add, run in _COMMANDS:
        before = set(subparsers.choices)
        add(subparsers)
        for name in set(subparsers.choices) - before:
            subparsers.choices[name].set_defaults(handler=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hcc`` with ``argv`` (default: the process's arguments); returns the exit code."""
    parser = make_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # usage errors (code 2), --help and --version (code 0)
        return int(exit_.code or 0)
    try:
        # SIGINT and SIGTERM unwind like an error: every file being written is left as it was
        # (its temporary removed) or complete.
        with stop_on_signals():
            return args.handler(args)
    except Interrupted as interrupt:
        sys.stderr.write(f"hcc: {interrupt}\n")
        return interrupt.exit_code
    except BrokenPipeError:
        # The reader went away (`hcc passes | head -1`): nothing more is wanted, say nothing.
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        sys.stderr.write("hcc: interrupted\n")
        return 130
    except SystemExit as exit_:
        # hcc's own code never exits from inside a command: this came from user code (a
        # factory, a model's forward), and must not pass for a success.
        return _fail(
            f"user code called exit({exit_.code!r}) while hcc was running; "
            "the command did not finish"
        )
    except Exception as error:  # noqa: BLE001 - sorted into user errors and bugs below
        message = user_error_message(error)
        if message is None:
            raise  # a bug in hcc: keep the traceback
        return _fail(message)


def user_error_message(error: BaseException) -> str | None:
    """The one-line message for an error only the user's input can cause, or None (a bug).

    Commands raise :class:`~hcc.ir.HccError` for what they check themselves; the other classes
    here are what Python raises on input no check can fully foresee (a path with a NUL byte
    read from a file, text that is not UTF-8, nesting deeper than Python's recursion limit).
    """
    if isinstance(error, ir.HccError):
        return str(error)
    if isinstance(error, OSError):
        # A path the user gave that cannot be read or written; hcc's own files are not at stake.
        where = f": {error.filename}" if error.filename else ""
        return f"{error.strerror or error}{where}"
    if isinstance(error, UnicodeDecodeError):
        return (
            f"input is not UTF-8 text: byte {error.object[error.start]:#04x} at offset "
            f"{error.start} ({error.reason})"
        )
    if isinstance(error, RecursionError):
        return "input nested too deeply for hcc to read (Python's recursion limit)"
    if isinstance(error, MemoryError):
        detail = f": {error}" if str(error) else ""
        return f"out of memory{detail}; the input asks for more than this machine has"
    if isinstance(error, ValueError):
        text = str(error)
        if "null byte" in text or "null character" in text:
            return "a path or name contains a NUL byte"
        if "integer string conversion" in text:
            return "a number has more digits than hcc reads (at most 4300)"
    return None


def _silence_stdout() -> None:
    # Python flushes stdout again at exit and would complain about the closed pipe then.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # stdout is not a real file (tests capture it): nothing will be flushed to it


def _fail(message: str) -> int:
    sys.stderr.write(f"hcc: error: {message}\n")
    return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
