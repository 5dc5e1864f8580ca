"""``hcc report DIR``: the HTML build report of a build's folder.

Same conventions as :mod:`hcc.cli`: ``add_report`` declares the arguments, ``run_report`` works
and returns the exit code; user errors are ``HccError``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

EXIT_OK = 0


def add_report(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write the HTML build report of a build's folder",
        description="Write report.html for the build in DIR: the module tree with nodes, "
        "parameters, bytes and weight types per module; the pieces with their boundaries and "
        "sizes; and, when the build recorded them (reports = [html]), the validation "
        "deviations and the pass pipeline. One self-contained file that opens offline.",
    )
    parser.add_argument("directory", metavar="DIR", help="a folder hcc build wrote")
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="write the page here (default: DIR/report.html)"
    )


def run_report(args: argparse.Namespace) -> int:
    from ..report import PAGE, report_folder, write_page
    from ..report.record import check_directory

    directory = check_directory(args.directory)
    output = args.output or os.path.join(directory, PAGE)
    _refuse_inputs(output, directory)
    write_page(output, report_folder(directory))
    sys.stdout.write(f"wrote {output}\n")
    return EXIT_OK


def _refuse_inputs(output: str, directory: str) -> None:
    """The page may replace an older page, never a file the report reads."""
    from ..outputs import refuse_inputs

    names = os.listdir(directory)
    models = [os.path.join(directory, n) for n in names if n.endswith(".onnx")]
    records = [
        os.path.join(directory, n) for n in names if n.endswith(".json") or n.endswith(".data")
    ]
    refuse_inputs([output], records, readers=models)


COMMANDS = [(add_report, run_report)]
