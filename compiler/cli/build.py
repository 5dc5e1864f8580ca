"""Subcommands around specs and pieces: build, check, fmt, export, validate, combine.

Same conventions as :mod:`hcc.cli`: ``add_<name>`` declares arguments, ``run_<name>`` calls the
library and returns the exit code; user errors are ``HccError`` and become one ``hcc: error:`` line.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import hcc.ir as ir

from .args import batch_size, sequence_length

EXIT_OK = 0
EXIT_CHANGED = 1


def _defines(items: list[str]) -> dict[str, str]:
    defines = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ir.HccError(f"-D {item!r}: write -D name=value")
        defines[name] = value
    return defines


# -- hcc build ------------------------------------------------------------------------------


def add_build(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "build",
        help="build a spec file (.hx)",
        description="Export, run the pipeline and write the outputs that a spec file describes.",
    )
    parser.add_argument("spec", metavar="SPEC.hx")
    parser.add_argument(
        "-D",
        dest="defines",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a parameter of the spec (may be repeated)",
    )
    parser.add_argument("-o", "--output-dir", metavar="DIR", help="write outputs here instead")
    parser.add_argument("--verify-each", action="store_true", help="verify the IR after every pass")
    parser.add_argument("--timings", action="store_true", help="print each pass's time on stderr")
    parser.add_argument("--dump-after", metavar="PASS", help="print the IR after each run of PASS")
    parser.add_argument(
        "--print-ir-after-change",
        action="store_true",
        help="print the IR after each pass that changed it",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check the spec and list the outputs without building",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    parser.add_argument(
        "--allow-factory",
        action="store_true",
        help="let a spec's factory source import and run its Python code",
    )


def run_build(args: argparse.Namespace) -> int:
    from ..driver import build

    result = build(
        args.spec,
        _defines(args.defines),
        output_dir=args.output_dir,
        verify_each=args.verify_each,
        dump_after=args.dump_after,
        print_ir_after_change=args.print_ir_after_change,
        dry_run=args.dry_run,
        progress=not args.quiet and not args.dry_run,
        allow_factory=args.allow_factory,
    )
    verb = "would write" if args.dry_run else "wrote"
    for path in result.outputs:
        sys.stdout.write(f"{verb} {path}\n")
    for deviation in result.deviations:
        sys.stdout.write(f"max abs deviation of {deviation.name}: {deviation.max_abs:.3g}\n")
    for warning in result.warnings:
        sys.stderr.write(f"hcc: warning: {warning}\n")
    if result.model is not None:
        from hcc.passes.precision.summary import summary_lines

        for line in summary_lines(result.model):
            sys.stdout.write(line + "\n")
    if result.torch is not None:
        for line in result.torch.summary_lines():
            sys.stdout.write(line + "\n")
    if args.timings and result.timings:
        from hcc.passes import Timings

        table = Timings()
        table.records = list(result.timings)
        sys.stderr.write(table.format_table() + "\n")
    return EXIT_OK


# -- hcc check / fmt ------------------------------------------------------------------------


def add_check(subparsers: Any) -> None:
    parser = subparsers.add_parser("check", help="parse and resolve a spec without building")
    parser.add_argument("spec", metavar="SPEC.hx")
    parser.add_argument("-D", dest="defines", action="append", default=[], metavar="NAME=VALUE")


def run_check(args: argparse.Namespace) -> int:
    from ..spec.resolve import load_spec

    spec = load_spec(args.spec, _defines(args.defines))
    sys.stdout.write(
        f"{args.spec}: ok ({len(spec.pipeline)} passes, "
        f"{len(spec.files)} file{'s' if len(spec.files) != 1 else ''})\n"
    )
    return EXIT_OK


def add_fmt(subparsers: Any) -> None:
    parser = subparsers.add_parser("fmt", help="print a spec in its canonical layout")
    parser.add_argument("spec", metavar="SPEC.hx")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the file in place")
    mode.add_argument(
        "--check",
        action="store_true",
        help="exit with 1 if the file is not formatted (nothing written)",
    )


def run_fmt(args: argparse.Namespace) -> int:
    from ..spec.format import format_text
    from ..spec.parser import read_spec_file

    original = read_spec_file(args.spec)
    formatted = format_text(original, args.spec)
    if args.check:
        if formatted != original:
            sys.stderr.write(f"{args.spec}: not formatted\n")
            return EXIT_CHANGED
        return EXIT_OK
    if args.write:
        if formatted != original:
            from hcc.ir.files import write_text

            # Through a link to the spec, not over the link: the file is rewritten in place.
            write_text(os.path.realpath(args.spec), formatted)
        return EXIT_OK
    sys.stdout.write(formatted)
    return EXIT_OK


# -- hcc validate / combine (pieces) --------------------------------------------------------


def add_validate_pieces(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate-pieces", help="chain split pieces in onnxruntime and compare with the model"
    )
    parser.add_argument("manifest", metavar="MANIFEST", help="manifest.json or its folder")
    parser.add_argument("model", metavar="WHOLE.onnx", help="the unsplit model")
    parser.add_argument("--batch", type=batch_size, default=2)
    parser.add_argument("--seq", type=sequence_length, default=16)
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.0,
        help="fail (exit 1) when a deviation exceeds this (a NaN or an "
        "infinity on one side only fails with exit 2 whatever the tolerance)",
    )


def run_validate_pieces(args: argparse.Namespace) -> int:
    from ..deviation import check_tolerance
    from ..validate import validate_pieces

    tolerance = check_tolerance(args.tolerance, "--tolerance")
    deviations = validate_pieces(args.manifest, args.model, batch=args.batch, seq=args.seq)
    for deviation in deviations:
        if deviation.problem:
            sys.stdout.write(f"{deviation.name}: FAIL: {deviation.problem}\n")
        else:
            sys.stdout.write(f"{deviation.name}: max abs deviation {deviation.max_abs:.3g}\n")
    # A result that cannot be compared (NaN or infinity on one side, another shape or dtype)
    # is broken whatever the tolerance: an error, not a deviation.
    broken = [d for d in deviations if d.problem]
    if broken:
        more = f" (and {len(broken) - 1} more)" if len(broken) > 1 else ""
        raise ir.HccError(
            f"output {broken[0].name!r} of the pieces is broken: {broken[0].problem}{more}",
            location=args.manifest,
        )
    return EXIT_OK if all(d.within(tolerance) for d in deviations) else EXIT_CHANGED


def add_combine(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "combine", help="merge pieces (a manifest or ONNX files) into one model"
    )
    parser.add_argument("inputs", nargs="+", metavar="MANIFEST|PIECE.onnx")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.onnx")


def run_combine(args: argparse.Namespace) -> int:
    from ..pieces import combine_files

    combined = combine_files(args.inputs, args.output)
    sys.stdout.write(f"wrote {args.output} ({len(combined.graph)} nodes)\n")
    return EXIT_OK


COMMANDS = [
    (add_build, run_build),
    (add_check, run_check),
    (add_fmt, run_fmt),
    (add_validate_pieces, run_validate_pieces),
    (add_combine, run_combine),
]
