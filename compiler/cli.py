"""The ``hcc`` command line.

Each subcommand is a pair of functions: ``_add_<name>(subparsers)`` declares its arguments and
``_run_<name>(args) -> int`` does the work. Errors the user can cause (an ``HccError``, a file
that cannot be read or written) print ``hcc: error: <message>`` on stderr and exit with 2, with
no traceback; a traceback means a bug in hcc.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import hcc
import hcc.ir as ir
from hcc.ir.files import Interrupted, stop_on_signals

from .outputs import model_files, refuse_inputs
from hcc.passes import (
    DumpAfter,
    Pass,
    PassInfo,
    PassManager,
    PrintAfterChange,
    Timings,
    VerifyEach,
    build_pipeline,
    get_pass,
    registered_passes,
)
from hcc.passes._errors import did_you_mean
from hcc.passes._options import format_value

EXIT_OK = 0
EXIT_USER_ERROR = 2
EXIT_BROKEN_PIPE = 141  # as a shell reports a command killed by SIGPIPE


# ------------------------------------------------------------------------------------------------
# hcc passes [NAME]


def _add_passes(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "passes", help="list the passes and their options", description="List the registered passes."
    )
    parser.add_argument("name", nargs="?", help="describe this pass in full")


def _run_passes(args: argparse.Namespace) -> int:
    if args.name:
        sys.stdout.write(_describe_pass(get_pass(args.name), full=True))
        return EXIT_OK
    passes = registered_passes()
    width = max((len(name) for name in passes), default=0)
    for info in passes.values():
        sys.stdout.write(_describe_pass(info, full=False, width=width))
    return EXIT_OK


def _describe_pass(info: PassInfo, *, full: bool, width: int = 0) -> str:
    lines = [f"{info.name:<{width}}  {info.summary}"]
    if full and info.doc != info.summary:
        lines += ["", *(f"  {line}".rstrip() for line in info.doc.splitlines()), ""]
    for key, option in info.options.items():
        default = "required" if option.required else f"default {format_value(option.default)}"
        lines.append(f"    {key}: {option.type_name} ({default})")
        if option.doc:
            lines.append(f"        {option.doc}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------
# hcc opt IN -p PIPELINE -o OUT


def _add_opt(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "opt",
        help="run a pass pipeline over an ONNX file",
        description="Run a pass pipeline over an ONNX file and write the result. "
        "An empty pipeline reads and writes the model unchanged.",
    )
    parser.add_argument("input", metavar="IN.onnx")
    parser.add_argument(
        "-p", "--pipeline", default="", metavar="PIPELINE",
        help="passes to run, e.g. \"remove-dead-code,strip-tags(keys=['namespace'])\"",
    )
    parser.add_argument("-o", "--output", required=True, metavar="OUT.onnx")
    parser.add_argument("--verify-each", action="store_true", help="verify the IR after every pass")
    parser.add_argument("--timings", action="store_true", help="print each pass's time on stderr")
    parser.add_argument(
        "--dump-after", action="append", default=[], metavar="PASS",
        help="print the IR after each run of PASS (may be repeated)",
    )
    parser.add_argument(
        "--dump-dir", metavar="DIR", help="write --dump-after text to files in DIR, not stdout"
    )
    parser.add_argument(
        "--print-ir-after-change", action="store_true", help="print the IR after each pass that changed it"
    )


def _run_opt(args: argparse.Namespace) -> int:
    # Everything that can be checked without the model is checked first: a typo in the
    # pipeline should not cost the load of a large model.
    passes = build_pipeline(args.pipeline)
    if args.dump_dir and not args.dump_after:
        raise ir.HccError("--dump-dir needs --dump-after PASS: it says where those dumps go")
    _check_dump_names(args.dump_after, passes)
    source, target = Path(args.input), Path(args.output)
    refuse_inputs(model_files(str(target)), [], readers=[str(source)])

    instruments: list[Any] = []
    if args.verify_each:
        instruments.append(VerifyEach())
    for name in args.dump_after:
        instruments.append(DumpAfter(name, args.dump_dir if args.dump_dir else sys.stdout))
    if args.print_ir_after_change:
        instruments.append(PrintAfterChange(sys.stdout))
    timings = Timings()
    instruments.append(timings)  # last, so the time of verification and dumps is not counted

    model = ir.load(source)
    result = PassManager(passes, instruments).run(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    ir.save(result.model, target)
    if args.timings:
        sys.stderr.write(timings.format_table() + "\n")
    return EXIT_OK


def _check_dump_names(names: Sequence[str], passes: Sequence[Pass]) -> None:
    in_pipeline = [p.info().name for p in passes]
    for name in names:
        if name not in in_pipeline:
            known = in_pipeline or list(registered_passes())
            raise ir.HccError(
                f"--dump-after {name!r} names no pass of the pipeline{did_you_mean(name, known)}"
            )


# ------------------------------------------------------------------------------------------------
# hcc print IN


def _add_print(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "print", help="print a model as readable text", description="Print the IR of an ONNX file."
    )
    parser.add_argument("input", metavar="IN.onnx")


def _run_print(args: argparse.Namespace) -> int:
    from hcc.ir.printer import format_model

    text = format_model(ir.load(args.input))
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


# ------------------------------------------------------------------------------------------------
# Entry point

def _more_commands():
    from .cli_build import COMMANDS
    from .cli_inspect import COMMANDS as INSPECT_COMMANDS

    return COMMANDS + INSPECT_COMMANDS


_COMMANDS: list[tuple[Callable[[Any], None], Callable[[argparse.Namespace], int]]] = [
    (_add_passes, _run_passes),
    (_add_opt, _run_opt),
    (_add_print, _run_print),
    *_more_commands(),
]


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
        return _fail(f"user code called exit({exit_.code!r}) while hcc was running; "
                     "the command did not finish")
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
        return (f"input is not UTF-8 text: byte {error.object[error.start]:#04x} at offset "
                f"{error.start} ({error.reason})")
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
