"""``hcc validate``: one model's validity and tags (or a repair of them), or the pieces of a
split chained against the whole model; with ``--against``, also against the PyTorch source.

Same conventions as :mod:`hcc.cli`: ``add_validate`` declares the arguments, ``run_validate``
calls the checks and returns the exit code (0 ok, 1 the check found problems).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import hcc.ir as ir

from .args import batch_size, sequence_length

EXIT_OK = 0
EXIT_PROBLEMS = 1


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
