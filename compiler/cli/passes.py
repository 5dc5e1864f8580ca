"""Subcommands around passes: passes (list and describe them), opt (run a pipeline over a
file), print (show a model's IR).

Same conventions as :mod:`hcc.cli`: ``add_<name>`` declares arguments, ``run_<name>`` calls the
library and returns the exit code; user errors are ``HccError``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hcc.ir as ir
from hcc.passes import (
    DumpAfter,
    Pass,
    PassInfo,
    PrintAfterChange,
    Timings,
    VerifyEach,
    build_pipeline,
    get_pass,
    registered_passes,
)
from hcc.passes._errors import did_you_mean
from hcc.passes._options import format_value

from ..outputs import model_files, refuse_inputs

EXIT_OK = 0


# ------------------------------------------------------------------------------------------------
# hcc passes [NAME]


def add_passes(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "passes",
        help="list the passes and their options",
        description="List the registered passes.",
    )
    parser.add_argument("name", nargs="?", help="describe this pass in full")


def run_passes(args: argparse.Namespace) -> int:
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


def add_opt(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "opt",
        help="run a pass pipeline over an ONNX file",
        description="Run a pass pipeline over an ONNX file and write the result. "
        "An empty pipeline reads and writes the model unchanged.",
    )
    parser.add_argument("input", metavar="IN.onnx")
    parser.add_argument(
        "-p",
        "--pipeline",
        default="",
        metavar="PIPELINE",
        help="passes to run, e.g. \"remove-dead-code,strip-tags(keys=['namespace'])\"",
    )
    parser.add_argument("-o", "--output", required=True, metavar="OUT.onnx")
    parser.add_argument("--verify-each", action="store_true", help="verify the IR after every pass")
    parser.add_argument("--timings", action="store_true", help="print each pass's time on stderr")
    parser.add_argument(
        "--dump-after",
        action="append",
        default=[],
        metavar="PASS",
        help="print the IR after each run of PASS (may be repeated)",
    )
    parser.add_argument(
        "--dump-dir", metavar="DIR", help="write --dump-after text to files in DIR, not stdout"
    )
    parser.add_argument(
        "--print-ir-after-change",
        action="store_true",
        help="print the IR after each pass that changed it",
    )


def run_opt(args: argparse.Namespace) -> int:
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

    from ..driver import optimize_file

    result = optimize_file(source, target, passes, instruments)
    for warning in result.warnings:
        sys.stderr.write(f"hcc: warning: {warning}\n")
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


def add_print(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "print", help="print a model as readable text", description="Print the IR of an ONNX file."
    )
    parser.add_argument("input", metavar="IN.onnx")


def run_print(args: argparse.Namespace) -> int:
    from hcc.ir.printer import format_model

    text = format_model(ir.load(args.input))
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


COMMANDS = [
    (add_passes, run_passes),
    (add_opt, run_opt),
    (add_print, run_print),
]
