"""``hcc export``, and the arguments that name a model source (shared with ``hcc validate``).

The export itself is :mod:`hcc.exporting`; this module reads the arguments into an
:class:`~hcc.exporting.ExportRequest` and prints what was written.

Same conventions as :mod:`hcc.cli`: ``add_<name>`` declares arguments, ``run_<name>`` works and
returns the exit code; user errors are ``HccError`` and become one ``hcc: error:`` line.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

import hcc.ir as ir

from .args import batch_size, opset, seed, sequence_length, whole_number

MAX_SIZE = 1 << 20  # an example axis larger than this asks for memory no export needs
MAX_ELEMENTS = 1 << 26  # nor does an example tensor of more values (256 MiB of float32)
ir_version = whole_number(3, 99)

EXIT_OK = 0

SOURCE_HELP = (
    "a transformers model type (built from its config with random seeded weights), "
    "a hub id org/name (read from the local Hugging Face cache, never downloaded), "
    "a local model folder, a factory 'package.module:function', or an .onnx file"
)


def add_source_options(parser: argparse.ArgumentParser) -> None:
    """The options that, with a SOURCE, say how to build the module: overrides, task, seed,
    revision."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override (config sources)",
    )
    parser.add_argument("--task", default="base", help="model head, e.g. causal-lm")
    parser.add_argument("--revision", help="of a hub id: branch, tag or commit in the cache")
    parser.add_argument(
        "--seed",
        type=seed,
        default=0,
        help="seed of random weights (config sources) and example inputs",
    )


def source_from_args(reference: str, args: argparse.Namespace):
    """The :class:`ModelSource` that ``reference`` and the source options name."""
    from ..frontend.load import source_from_path

    source = source_from_path(reference)
    overrides = {}
    for item in args.overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ir.HccError(f"--set {item!r}: write --set key=value")
        try:
            overrides[key] = json.loads(text)
        except ValueError:
            overrides[key] = text
    source.overrides = overrides
    source.task = args.task
    source.seed = args.seed
    source.revision = args.revision
    return source


# -- hcc export -----------------------------------------------------------------------------


def add_export(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a model with a scope on every node",
        description=f"Export a model source to tagged ONNX. SOURCE is {SOURCE_HELP}. "
        "Extra files go beside OUT.onnx, named after it.",
    )
    parser.add_argument("source", metavar="SOURCE")
    parser.add_argument(
        "output_path", nargs="?", metavar="OUT.onnx", help="where to write (or -o OUT.onnx)"
    )
    parser.add_argument("-o", "--output", metavar="OUT.onnx")
    add_source_options(parser)
    parser.add_argument("--input-text", help="example text for the source's own tokenizer")
    parser.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="SHAPE",
        help="example size: NAME=2x16 for one input (may be repeated), or "
        "BATCHxSEQ (also 1,128) for the default inputs; an axis of size 1 is "
        "fixed",
    )
    parser.add_argument("--batch", type=batch_size, help="example batch of the default inputs")
    parser.add_argument(
        "--seq",
        type=sequence_length,
        help="example sequence length of the default inputs (with "
        "--input-text: pad or cut the text to this many tokens)",
    )
    parser.add_argument("--exporter", default="dynamo", choices=["dynamo", "torchscript"])
    parser.add_argument(
        "--opset",
        "--opset-version",
        dest="opset",
        type=opset,
        help="opset of the default domain; below the exporter's lowest (18 for "
        "dynamo) hcc exports at that and lowers with downgrade-ir",
    )
    parser.add_argument(
        "--ir-version",
        type=ir_version,
        help="lower the IR version to this (10 keeps node metadata)",
    )
    parser.add_argument(
        "--weights",
        choices=["link", "copy", "auto"],
        help="export a checkpoint without loading its weights and read them in "
        "place: hard-link its .safetensors beside the output (link), copy them "
        "(copy) or link where possible (auto); see docs/export.md",
    )
    parser.add_argument(
        "--tag-attributes",
        action="store_true",
        help="also write seed-002 style node attributes (non-standard ONNX)",
    )
    parser.add_argument(
        "--with-report",
        action="store_true",
        help="write OUT.report.md: source, versions and nodes per module",
    )
    parser.add_argument(
        "--with-graphml", action="store_true", help="write OUT.graphml and its weights OUT.onnxdata"
    )
    parser.add_argument(
        "--hierarchy-json", action="store_true", help="write OUT.hierarchy.json, the module tree"
    )
    talk = parser.add_mutually_exclusive_group()
    talk.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="report each step and its time on stderr, and list every file",
    )
    talk.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")


def _output_path(args: argparse.Namespace) -> str:
    if args.output and args.output_path:
        raise ir.HccError(f"two outputs given ({args.output_path} and -o {args.output}); give one")
    path = args.output or args.output_path
    if not path:
        raise ir.HccError("no output: hcc export SOURCE OUT.onnx (or -o OUT.onnx)")
    return path


def apply_input_shapes(source, items: list[str], batch: int | None, seq: int | None) -> None:
    """``--input-shape``, ``--batch`` and ``--seq`` onto ``source``."""
    shapes: dict[str, list[int]] = {}
    for item in items:
        name, sep, text = item.rpartition("=")
        sizes = _sizes(item, text)
        if not sep:
            if len(sizes) != 2:
                raise ir.HccError(
                    f"--input-shape {item!r}: without a name the shape is "
                    "BATCHxSEQ of the default inputs (e.g. 2x16); name one input "
                    "for other ranks: --input-shape pixel_values=2x3x224x224"
                )
            if batch is not None or seq is not None:
                raise ir.HccError(
                    f"--input-shape {item!r} and --batch/--seq say the same; give one"
                )
            batch, seq = sizes
            continue
        if not name.isidentifier():
            raise ir.HccError(f"--input-shape {item!r}: {name!r} is not an input name")
        if name in shapes:
            raise ir.HccError(f"--input-shape gives {name!r} twice")
        shapes[name] = sizes
    source.batch, source.seq, source.shapes = batch, seq, shapes


def _sizes(item: str, text: str) -> list[int]:
    parts = text.replace(",", "x").split("x")
    if not all(p.strip().isdigit() and p.strip().isascii() for p in parts):
        raise ir.HccError(
            f"--input-shape {item!r}: a shape is sizes joined by 'x' or ',', e.g. input_ids=2x16"
        )
    sizes = [int(p) for p in parts]
    if any(size < 1 or size > MAX_SIZE for size in sizes):
        raise ir.HccError(f"--input-shape {item!r}: sizes are from 1 to {MAX_SIZE}")
    if math.prod(sizes) > MAX_ELEMENTS:
        raise ir.HccError(
            f"--input-shape {item!r}: {math.prod(sizes)} values in one example "
            f"input; at most {MAX_ELEMENTS}"
        )
    return sizes


def run_export(args: argparse.Namespace) -> int:
    from ..exporting import ExportRequest, export, extra_paths
    from ..frontend.load import ExportOptions
    from ..frontend.versions import model_opset

    output = _output_path(args)
    source = source_from_args(args.source, args)
    source.input_text = args.input_text
    apply_input_shapes(source, args.input_shape, args.batch, args.seq)
    kinds = [
        kind
        for kind, asked in (
            ("report", args.with_report),
            ("hierarchy", args.hierarchy_json),
            ("graphml", args.with_graphml),
        )
        if asked
    ]
    request = ExportRequest(
        name=args.source,
        source=source,
        output=output,
        options=ExportOptions(
            exporter=args.exporter,
            opset=args.opset,
            ir_version=args.ir_version,
            weights=args.weights,
        ),
        extras=extra_paths(output, kinds),
        tag_attributes=args.tag_attributes,
    )
    exported = export(request, progress=args.verbose)
    model = exported.model
    if model.ir_version < 10:
        sys.stderr.write(
            f"hcc: warning: IR version {model.ir_version} has no node metadata: "
            f"{output} carries no scopes\n"
        )
    if not args.quiet:
        sys.stdout.write(
            f"wrote {output} ({len(model.graph)} nodes, opset "
            f"{model_opset(model)}, IR {model.ir_version})\n"
        )
        if args.verbose:
            sys.stdout.write("".join(f"wrote {path}\n" for path in exported.files[1:]))
    return EXIT_OK


COMMANDS = [
    (add_export, run_export),
]
