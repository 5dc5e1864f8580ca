"""``hcc export``, and the arguments that name a model source (shared with ``hcc validate``).

Same conventions as :mod:`hcc.cli`: ``add_<name>`` declares arguments, ``run_<name>`` works and
returns the exit code; user errors are ``HccError`` and become one ``hcc: error:`` line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import hcc.ir as ir

from .args import opset, seed

EXIT_OK = 0

SOURCE_HELP = ("a transformers model type (built from its config with random seeded weights), "
               "a hub id org/name (read from the local Hugging Face cache, never downloaded), "
               "a local model folder, a factory 'package.module:function', or an .onnx file")


def add_source_options(parser: argparse.ArgumentParser) -> None:
    """The options that, with a SOURCE, say how to build the module: overrides, task, seed,
    revision."""
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="config override (config sources)")
    parser.add_argument("--task", default="base", help="model head, e.g. causal-lm")
    parser.add_argument("--revision", help="of a hub id: branch, tag or commit in the cache")
    parser.add_argument("--seed", type=seed, default=0,
                        help="seed of random weights (config sources) and example inputs")


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
        "export", help="export a model with a scope on every node",
        description=f"Export a model source to tagged ONNX. SOURCE is {SOURCE_HELP}.")
    parser.add_argument("source", metavar="SOURCE")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.onnx")
    add_source_options(parser)
    parser.add_argument("--input-text", help="example text for the source's own tokenizer")
    parser.add_argument("--exporter", default="dynamo", choices=["dynamo", "torchscript"])
    parser.add_argument("--opset", type=opset)
    parser.add_argument("--tag-attributes", action="store_true",
                        help="also write seed-002 style node attributes (non-standard ONNX)")


def run_export(args: argparse.Namespace) -> int:
    from ..frontend.load import ExportOptions, load_model
    from ..outputs import model_files, refuse_inputs

    source = source_from_args(args.source, args)
    source.input_text = args.input_text
    if os.path.exists(args.source):
        refuse_inputs(model_files(args.output), [], readers=[args.source])
    else:
        refuse_inputs(model_files(args.output), [])  # a hub id: only the output's own checks
    model = load_model(source, ExportOptions(exporter=args.exporter, opset=args.opset))
    if args.tag_attributes:
        from hcc.passes import run

        model = run(model, "tag-attributes")
    folder = os.path.dirname(os.path.abspath(args.output))
    os.makedirs(folder, exist_ok=True)
    name = os.path.basename(args.output)
    ir.save(model, args.output, external_data=f"{name}.data")
    sys.stdout.write(f"wrote {args.output} ({len(model.graph)} nodes)\n")
    return EXIT_OK


COMMANDS = [
    (add_export, run_export),
]
