"""Subcommands that look at what hcc built: analyze, validate, compare, json, graphml,
import-graphml. ``hcc validate`` has a module of its own (:mod:`.validate`).

Same conventions as :mod:`hcc.cli`: ``add_<name>`` declares arguments, ``run_<name>`` works and
returns the exit code (0 ok, 1 the check found problems); user errors are ``HccError``. Commands
that print a document write it to ``-o FILE`` instead when given.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import hcc.ir as ir

from .args import batch_size, seed, sequence_length
from .validate import add_validate, run_validate

EXIT_OK = 0
EXIT_PROBLEMS = 1


def _refuse(output: str | None, *models: str) -> None:
    """Before any work: ``-o FILE`` may not replace one of the models read."""
    if output:
        from ..outputs import refuse_inputs

        refuse_inputs([output], [], readers=models)


def _emit(text: str, output: str | None) -> None:
    if output:
        from ..inspect._common import write_text

        write_text(output, text)
        sys.stdout.write(f"wrote {output}\n")
    else:
        sys.stdout.write(text)


# -- hcc analyze ----------------------------------------------------------------------------


def add_analyze(subparsers: Any) -> None:
    from ..inspect.analyze import FORMATS

    parser = subparsers.add_parser(
        "analyze",
        help="per-module node counts, op histograms, weights and tag coverage",
        description="Show the module tree of a tagged model: nodes, ops and weight bytes per "
        "scope, and how many nodes and modules are covered by tags.",
    )
    parser.add_argument("model", metavar="MODEL.onnx")
    parser.add_argument(
        "after",
        nargs="?",
        metavar="AFTER.onnx",
        help="a second model (MODEL after a precision pass, say): weight bytes "
        "and element types per module, side by side",
    )
    parser.add_argument(
        "--format",
        default="summary",
        choices=(*FORMATS, "html"),
        help="html: a self-contained page with the module tree (as hcc report draws it)",
    )
    parser.add_argument(
        "--filter-tag",
        metavar="GLOB",
        help="only scopes whose tag matches GLOB; a plain tag keeps its subtree",
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write the analysis here")


def run_analyze(args: argparse.Namespace) -> int:
    from ..inspect._common import load_model
    from ..inspect.analyze import analyze, render, render_change

    models = [args.model] + ([args.after] if args.after else [])
    _refuse(args.output, *models)
    if args.format == "html":
        return _analyze_html(args)
    analyses = [analyze(load_model(path)) for path in models]
    if args.after:
        text = render_change(
            *analyses, args.format, pattern=args.filter_tag, sources=(args.model, args.after)
        )
    else:
        text = render(analyses[0], args.format, pattern=args.filter_tag, source=args.model)
    _emit(text, args.output)
    return EXIT_OK


def _analyze_html(args: argparse.Namespace) -> int:
    from ..inspect._common import load_model
    from ..report import report_model

    if args.after or args.filter_tag:
        option = "a second model" if args.after else "--filter-tag"
        raise ir.HccError(f"--format html shows one whole model; it does not take {option}")
    _emit(report_model(load_model(args.model), os.path.basename(args.model)), args.output)
    return EXIT_OK


# -- hcc compare ----------------------------------------------------------------------------


def add_compare(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="differences per module scope, output deviations, and --bisect",
        description="Compare two models: per-scope nodes, ops and weights; onnxruntime outputs "
        "on generated inputs; with --bisect, the first module scope whose outputs diverge.",
    )
    parser.add_argument("a", metavar="A.onnx")
    parser.add_argument("b", metavar="B.onnx")
    parser.add_argument(
        "--bisect", action="store_true", help="name the first module scope whose outputs diverge"
    )
    parser.add_argument(
        "--no-run", action="store_true", help="structure only: do not run the models"
    )
    parser.add_argument("--atol", type=float, default=1e-5, help="bisect: absolute tolerance")
    parser.add_argument(
        "--rtol",
        type=float,
        default=1e-4,
        help="bisect: tolerance relative to the first model's values",
    )
    parser.add_argument("--batch", type=batch_size, default=2)
    parser.add_argument("--seq", type=sequence_length, default=16)
    parser.add_argument("--seed", type=seed, default=0, help="seed of the generated inputs")
    parser.add_argument("--format", default="text", choices=["text", "json"])
    parser.add_argument("-o", "--output", metavar="FILE", help="write the comparison here")


def run_compare(args: argparse.Namespace) -> int:
    from ..deviation import check_tolerance
    from ..inspect.compare import compare, render

    if args.no_run and args.bisect:
        raise ir.HccError("--bisect runs the models; it cannot be combined with --no-run")
    check_tolerance(args.atol, "--atol")
    check_tolerance(args.rtol, "--rtol")
    _refuse(args.output, args.a, args.b)
    result = compare(
        args.a,
        args.b,
        run=not args.no_run,
        bisect=args.bisect,
        atol=args.atol,
        rtol=args.rtol,
        batch=args.batch,
        seq=args.seq,
        seed=args.seed,
    )
    _emit(render(result, args.format), args.output)
    # Outputs that cannot be compared (a NaN on one side, other shapes or dtypes) are shown in
    # the comparison and make the command fail: a script must not read them as "close".
    _fail_on(result.problems)
    return EXIT_OK


def _fail_on(problems: list[str]) -> None:
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ir.HccError(problems[0] + more)


# -- hcc json -------------------------------------------------------------------------------


JSON_KINDS = ("hierarchy", "dag", "op-metadata")


def add_json(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "json",
        help="the module tree, per-module DAGs or per-op metadata as JSON",
        description="hierarchy: the module tree; dag: {tag: {nodes, edges}} for every module "
        "scope (its ops and its submodules' ops); op-metadata: {name: {op_type, inputs, "
        "outputs, tags}} for every node and initializer.",
    )
    parser.add_argument("kind", choices=JSON_KINDS)
    parser.add_argument("model", metavar="MODEL.onnx")
    parser.add_argument(
        "--own-only",
        action="store_true",
        help="dag: only the ops tagged with exactly the module's scope",
    )
    parser.add_argument(
        "--key",
        choices=["tag", "module"],
        default="tag",
        help="dag: key the DAGs by tag (seed 003) or by module path",
    )
    parser.add_argument("-o", "--output", metavar="FILE.json")


def run_json(args: argparse.Namespace) -> int:
    from ..inspect._common import dump_json, load_model
    from ..inspect.dag import dag_data, hierarchy_data, op_metadata

    _refuse(args.output, args.model)
    model = load_model(args.model)
    if args.kind == "hierarchy":
        data = hierarchy_data(model)
    elif args.kind == "dag":
        data = dag_data(model, own_only=args.own_only, key=args.key)
    else:
        data = op_metadata(model)
    _emit(dump_json(data), args.output)
    return EXIT_OK


# -- hcc graphml / import-graphml -----------------------------------------------------------


def add_graphml(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "graphml",
        help="write GraphML for yEd (one group per module) and its .onnxdata",
        description="Write the model as GraphML with one collapsible group per module scope; "
        "the weights go to OUT.onnxdata beside it. hcc import-graphml turns both back into "
        "ONNX.",
    )
    parser.add_argument("model", metavar="MODEL.onnx")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.graphml")


def run_graphml(args: argparse.Namespace) -> int:
    from ..inspect._common import load_model
    from ..inspect.graphml import write_graphml

    if not args.output.endswith(".graphml"):
        raise ir.HccError(f"the output {args.output!r} should end in .graphml")
    from ..outputs import graphml_files, refuse_inputs

    refuse_inputs(graphml_files(args.output), [], readers=[args.model])
    paths = write_graphml(load_model(args.model), args.output)
    sys.stdout.write("".join(f"wrote {p}\n" for p in paths))
    return EXIT_OK


def add_import_graphml(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "import-graphml", help="rebuild the ONNX model from hcc's GraphML and its .onnxdata"
    )
    parser.add_argument("graphml", metavar="FILE.graphml")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.onnx")


def run_import_graphml(args: argparse.Namespace) -> int:
    from ..inspect.graphml_import import import_graphml
    from ..outputs import model_files, refuse_inputs

    refuse_inputs(model_files(args.output), [], readers=[args.graphml])
    model = import_graphml(args.graphml, args.output)
    sys.stdout.write(f"wrote {args.output} ({len(model.graph)} nodes)\n")
    return EXIT_OK


COMMANDS = [
    (add_analyze, run_analyze),
    (add_validate, run_validate),
    (add_compare, run_compare),
    (add_json, run_json),
    (add_graphml, run_graphml),
    (add_import_graphml, run_import_graphml),
]
