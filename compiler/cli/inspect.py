"""Subcommands that look at what hcc built: analyze, validate, compare, json, graphml,
import-graphml.

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


# -- hcc validate ---------------------------------------------------------------------------


def add_validate(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check a model's validity and tags, or chain split pieces",
        description="hcc validate MODEL.onnx: the onnx checker, hcc's IR invariants, tag "
        "coverage and agreement of the tags with the stored module tree. "
        "hcc validate MANIFEST WHOLE.onnx: chain the pieces of a split in onnxruntime and "
        "compare with the whole model (as validate-pieces).",
    )
    parser.add_argument("target", metavar="MODEL.onnx|MANIFEST")
    parser.add_argument(
        "whole", nargs="?", metavar="WHOLE.onnx", help="with a manifest: the unsplit model"
    )
    parser.add_argument(
        "--check-consistency",
        action="store_true",
        help="also check namespaces, initializer scopes and module coverage",
    )
    parser.add_argument(
        "--repair", action="store_true", help="re-run the tagging passes and write the result to -o"
    )
    parser.add_argument("-o", "--output", metavar="OUT.onnx", help="where --repair writes")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.add_argument("--batch", type=batch_size, default=2, help="pieces: generated batch size")
    parser.add_argument(
        "--seq", type=sequence_length, default=16, help="pieces: generated sequence length"
    )
    parser.add_argument(
        "--tolerance", type=float, default=0.0, help="pieces: largest max-abs deviation accepted"
    )
    from .export import add_source_options

    parser.add_argument(
        "--against",
        metavar="SOURCE",
        help="also run this PyTorch source (model type, hub id, folder or "
        "factory, as for hcc export) on the same inputs and compare the model "
        "and every piece's boundary tensors with it",
    )
    add_source_options(parser)
    parser.add_argument(
        "--torch-tolerance",
        type=float,
        default=1e-4,
        help="with --against: largest max-abs deviation from torch accepted",
    )


def _is_manifest(path: str) -> bool:
    return os.path.isdir(path) or path.endswith(".json")


def run_validate(args: argparse.Namespace) -> int:
    from ..deviation import check_tolerance

    check_tolerance(args.tolerance, "--tolerance")  # refused even where it is not used
    check_tolerance(args.torch_tolerance, "--torch-tolerance")
    if args.against is None and (args.overrides or args.revision or args.task != "base"):
        raise ir.HccError(
            "--set, --task and --revision describe the --against source; give --against SOURCE"
        )
    if _is_manifest(args.target):
        if args.whole is None:
            raise ir.HccError(
                "a manifest is validated against the whole model: hcc validate MANIFEST WHOLE.onnx"
            )
        if args.repair or args.check_consistency or args.output:
            raise ir.HccError(
                "--repair, --check-consistency and -o apply to one model, "
                "not to a manifest of pieces"
            )
        from .build import run_validate_pieces

        code = run_validate_pieces(
            argparse.Namespace(
                manifest=args.target,
                model=args.whole,
                batch=args.batch,
                seq=args.seq,
                tolerance=args.tolerance,
            )
        )
        if args.against is None:
            return code
        args.json = False  # the pieces' lines above are text too
        return max(code, _torch_code(args, _against_torch(args, args.whole, args.target)))
    if args.whole is not None:
        raise ir.HccError(
            f"a second model ({args.whole}) is only taken with a manifest; to "
            "compare two models use hcc compare"
        )
    from ..inspect._common import dump_json
    from ..inspect.consistency import validate_file

    if args.repair:
        return _repair(args)
    if args.output:
        raise ir.HccError("-o is where --repair writes; add --repair")
    report = validate_file(args.target, consistency=args.check_consistency)
    found = report.as_dict()
    if args.against is not None and args.json:
        # One JSON document: the torch comparison joins the findings.
        torch = _against_torch(args, args.target, None)
        found["torch"] = torch.as_dict()
        sys.stdout.write(dump_json(found))
        return max(EXIT_OK if report.ok else EXIT_PROBLEMS, _torch_code(args, torch))
    sys.stdout.write(dump_json(found) if args.json else report.format())
    code = EXIT_OK if report.ok else EXIT_PROBLEMS
    if args.against is None:
        return code
    return max(code, _torch_code(args, _against_torch(args, args.target, None)))


def _against_torch(args: argparse.Namespace, whole: str, manifest: str | None):
    """Compare ``whole`` (and the pieces of ``manifest``) with the --against torch module; a
    result that cannot be compared (NaN on one side, another shape) is an error."""
    from ..frontend.load import load_module
    from ..torch_reference import validate_against_torch
    from .export import source_from_args

    source = source_from_args(args.against, args)
    if source.kind == "onnx":
        raise ir.HccError(
            f"--against {args.against!r} is an ONNX file; it takes a PyTorch "
            "source (use hcc compare for two ONNX models)"
        )
    module = load_module(source).module
    result = validate_against_torch(module, whole, manifest, batch=args.batch, seq=args.seq)
    if not args.json:
        sys.stdout.write("".join(line + "\n" for line in result.summary_lines()))
    broken = [d for d in result.compared if d.problem]
    if broken:
        more = f" (and {len(broken) - 1} more)" if len(broken) > 1 else ""
        raise ir.HccError(
            f"{broken[0].name!r} is broken against torch: {broken[0].problem}{more}",
            location=manifest or whole,
        )
    return result


def _torch_code(args: argparse.Namespace, result) -> int:
    return EXIT_OK if not result.failures(args.torch_tolerance) else EXIT_PROBLEMS


def _repair(args: argparse.Namespace) -> int:
    from ..inspect._common import dump_json
    from ..inspect.consistency import repair_file
    from ..outputs import model_files, refuse_inputs

    if not args.output:
        raise ir.HccError("--repair writes a new file and never the input: give -o OUT.onnx")
    refuse_inputs(model_files(args.output), [], readers=[args.target])
    changes, report = repair_file(args.target, args.output, consistency=args.check_consistency)
    if args.json:
        sys.stdout.write(
            dump_json({"repaired": args.output, "changes": changes, **report.as_dict()})
        )
    else:
        sys.stdout.write(f"wrote {args.output}\n" + "".join(f"  {c}\n" for c in changes))
        sys.stdout.write(report.format())
    return EXIT_OK if report.ok else EXIT_PROBLEMS


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
