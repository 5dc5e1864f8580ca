"""``hcc build``: spec -> model source -> pipeline -> output files.

:func:`build` is what the command line calls and what Python users call as ``hcc.build``.
Outputs are written to temporary files and renamed, so a failed build leaves no half-written
file, and the same spec gives byte-identical files on every run.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

import hcc.ir as ir
from hcc.ir.files import write_text
from hcc.passes import (
    DumpAfter,
    PassManager,
    PassTiming,
    PrintAfterChange,
    Timings,
    VerifyEach,
    build_pipeline,
)

from .diagnostics import SpecError
from .frontend.load import load_with_module
from .progress import Progress, meter, step
from .spec.model import BuildSpec
from .spec.resolve import load_spec, load_spec_text


@dataclass
class BuildResult:
    spec: BuildSpec
    outputs: list[str] = field(default_factory=list)
    timings: list[PassTiming] = field(default_factory=list)
    model: ir.Model | None = None
    deviations: list = field(default_factory=list)  # per model output, when validated
    boundaries: list = field(default_factory=list)  # per tensor crossing a cut, when validated
    warnings: list[str] = field(default_factory=list)  # from the passes, "pass-name: message"
    torch: Any = None  # TorchValidation: deviations from the torch module, when validated
    changes: list = field(default_factory=list)  # PassChange per pass run: node counts around it


def read_spec(path_or_text: str, defines: dict[str, str] | None = None) -> BuildSpec:
    """A resolved spec from a file path, or from spec text (anything with a newline or brace)."""
    if "\n" in path_or_text or "{" in path_or_text:
        return load_spec_text(path_or_text, defines)
    return load_spec(path_or_text, defines)


def build(
    path_or_text: str,
    defines: dict[str, str] | None = None,
    *,
    output_dir: str | None = None,
    verify_each: bool = False,
    dump_after: str | None = None,
    print_ir_after_change: bool = False,
    dry_run: bool = False,
    progress: bool = False,
    stream: TextIO | None = None,
    allow_factory: bool = False,
) -> BuildResult:
    """Build a spec; returns the written paths, per-pass timings and the final IR.

    ``dry_run`` resolves and checks everything (including building the pipeline) and returns
    the paths it would write, without exporting anything. A spec whose model comes from a
    ``factory`` runs that Python code, so it is built only with ``allow_factory=True``.
    """
    spec = read_spec(path_or_text, defines)
    if output_dir is not None:
        spec.output.directory = output_dir
    passes = build_pipeline(spec.pipeline)
    result = BuildResult(spec, planned_outputs(spec))
    _refuse_inputs(spec)
    if dry_run:
        return result  # nothing is imported or run: no opt-in needed to look
    if spec.source.kind == "factory" and not allow_factory:
        raise SpecError.one(
            f"the model comes from factory {spec.source.reference!r}, which imports and runs "
            "Python code; build it only if you trust this spec: hcc build --allow-factory "
            "(hcc.build(..., allow_factory=True) from Python)",
            spec.source_location,
        )
    if spec.recipe is not None:
        return _build_llm(spec, result, progress)
    with step(
        f"loading {spec.model_name} ({spec.source.kind} {spec.source.reference})", enabled=progress
    ):
        model, loaded = load_with_module(spec.source, spec.export)
    timings = Timings()
    instruments: list[Any] = []
    if verify_each:
        instruments.append(VerifyEach())
    if dump_after:
        instruments.append(DumpAfter(dump_after, stream or sys.stdout))
    if print_ir_after_change:
        instruments.append(PrintAfterChange(stream or sys.stdout))
    if progress and passes:
        instruments.append(Progress(len(passes)))
    # Node counts around every pass, for the reports (a count per pass costs next to nothing).
    from .inspect.report import ChangeLog

    changes = ChangeLog()
    instruments.append(changes)  # before Timings: its counting is not timed
    instruments.append(timings)  # last: closest to the pass, so verification is not timed
    ran = PassManager(passes, instruments).run(model)
    model = ran.model
    result.model = model
    result.warnings = list(ran.warnings)
    result.timings = list(timings.records)
    result.changes = list(changes.records)
    with step(f"writing {spec.output.directory}", enabled=progress):
        result.outputs = write_outputs(model, spec, progress=meter("weights", unit="bytes"))
    failed = None
    if spec.output.validate:
        try:
            result.deviations, result.boundaries, result.torch = _validate(
                model, spec, progress, loaded.module if loaded else None
            )
        except ValidationFailed as failure:
            # The reports are written all the same: they show where the deviations are.
            result.deviations, result.boundaries, result.torch = failure.found
            failed = failure
    if "report" in spec.output.reports:
        # Written last, so it can list the validation and every other file.
        result.outputs.append(_write_build_report(result))
    _write_html_report(result)
    if failed is not None:
        raise ir.HccError(failed.message, location=failed.location)
    return result


class ValidationFailed(ir.HccError):
    """A deviation over the tolerance, with everything validation found (for the reports)."""

    def __init__(self, message: str, location: str, found: tuple) -> None:
        super().__init__(message, location=location)
        self.found = found


def _write_html_report(result: BuildResult) -> None:
    """``reports = [html]``: the build record, then the page made from the folder and it."""
    out = result.spec.output
    if "html" not in out.reports:
        return
    from .report import PAGE, record_of, report_folder, write_page
    from .report.record import dump, record_path

    record = record_of(result, result.changes)
    path = record_path(out.directory, out.name)
    write_text(path, dump(record))
    result.outputs.append(path)
    page = os.path.join(out.directory, PAGE)
    result.outputs.append(write_page(page, report_folder(out.directory, record)))


def _write_build_report(result: BuildResult) -> str:
    from .inspect.report import build_report

    out = result.spec.output
    path = os.path.join(out.directory, _REPORT_FILES["report"].format(name=out.name))
    files = [*result.outputs, path]
    write_text(
        path,
        build_report(
            result.spec,
            result.model,
            timings=result.timings,
            changes=result.changes,
            outputs=files,
            deviations=result.deviations,
            torch=result.torch,
        ),
    )
    return path


def _build_llm(spec: BuildSpec, result: BuildResult, progress: bool) -> BuildResult:
    """The kv-cache recipe: the module is exported in its prefill and decode forms and cut
    into embedding, block_i, block_cache_i and lm_head (see hcc.llm.recipe)."""
    from .frontend.load import load_module, local_folder
    from .llm.recipe import LLMOptions, build_pieces

    source = spec.source
    if source.kind == "onnx":
        raise ir.HccError("the kv-cache recipe needs a PyTorch source, not an ONNX file")
    if source.task == "base":
        source.task = "causal-lm"
    # weights = link/copy/auto: the model on the meta device, its weights read in place.
    in_place = spec.export.weights is not None
    with step(f"loading {spec.model_name} ({source.kind} {source.reference})", enabled=progress):
        loaded = load_module(source, in_place=in_place)
    options = LLMOptions(**spec.recipe)
    with step(f"exporting and cutting {spec.model_name}", enabled=progress):
        result.outputs = build_pieces(
            loaded.module,
            spec.output.directory,
            options,
            name=spec.output.name,
            checkpoint=local_folder(source) if in_place else None,
            weights=spec.export.weights or "copy",
        )
    _write_html_report(result)
    return result


def _validate(model: ir.Model, spec: BuildSpec, progress: bool, module) -> tuple[list, list, Any]:
    """Pieces against the whole model (after a split), and, with a torch module, the whole
    model and every piece boundary against the module. Both are computed before either fails,
    so the error names every kind of deviation found."""
    from hcc.passes.pieces import PIECES_KEY

    from .deviation import failures
    from .pieces import MANIFEST
    from .validate import validate_boundaries, validate_pieces

    split = bool(model.meta.get(PIECES_KEY))
    if not split and module is None:
        raise ir.HccError(
            "output validate = true needs a split in the pipeline or a PyTorch "
            "source to compare with"
        )
    out = spec.output
    whole = os.path.join(out.directory, f"{out.name}.onnx")
    manifest = os.path.join(out.directory, MANIFEST) if split else None
    deviations: list = []
    boundaries: list = []
    problems: list[str] = []
    if split:
        with step("validating the pieces", enabled=progress):
            deviations = validate_pieces(
                manifest, whole, seed=spec.source.seed, on_piece=meter("pieces")
            )
        if "html" in out.reports:
            # Shown per boundary on the page to locate a deviation; the outputs decide.
            with step("validating the cuts", enabled=progress):
                boundaries = validate_boundaries(
                    manifest, whole, seed=spec.source.seed, on_piece=meter("pieces")
                )
        problems += failures(deviations, out.tolerance)
    reference = None
    if module is not None:
        from .torch_reference import validate_against_torch

        with step("validating against torch", enabled=progress):
            reference = validate_against_torch(module, whole, manifest, seed=spec.source.seed)
        problems += [
            f"{p} (torch tolerance {out.torch_tolerance:g})"
            for p in reference.failures(out.torch_tolerance)
        ]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ValidationFailed(
            f"validation failed: {problems[0]}{more}",
            out.directory,
            (deviations, boundaries, reference),
        )
    return deviations, boundaries, reference


def _refuse_inputs(spec: BuildSpec) -> None:
    """Before any work: no file the build may write is the spec, one of its includes, or the
    source model (or a file it reads)."""
    from .outputs import graphml_files, model_files, refuse_inputs

    out = spec.output
    written = []
    for path in planned_outputs(spec):
        if path.endswith(".onnx"):
            written += model_files(path)
        elif path.endswith(".graphml"):
            written += graphml_files(path)
        else:
            written.append(path)
    weights = os.path.join(out.directory, f"{out.name}.weights.data")  # the pieces' data
    written += [weights, f"{weights}.alt"]
    source = spec.source.reference
    readers = [source] if spec.source.kind in ("onnx", "directory") else []
    refuse_inputs(written, spec.files, readers=readers)


def optimize_file(source, target, passes, instruments=()):
    """``hcc opt``: load the model at ``source``, run ``passes`` under ``instruments`` and
    save the result at ``target``; returns the pass manager's result."""
    from hcc.passes import PassManager

    result = PassManager(passes, list(instruments)).run(ir.load(source))
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    ir.save(result.model, target)
    return result


def planned_outputs(spec: BuildSpec) -> list[str]:
    out = spec.output
    paths = [os.path.join(out.directory, f"{out.name}.onnx")]
    if any(p.name in ("split", "extract") for p in spec.pipeline):
        paths.append(os.path.join(out.directory, "manifest.json"))
    for report in out.reports:
        paths.append(os.path.join(out.directory, _REPORT_FILES[report].format(name=out.name)))
        if report == "graphml":
            paths.append(os.path.join(out.directory, f"{out.name}.onnxdata"))
        if report == "html":
            paths.insert(-1, os.path.join(out.directory, f"{out.name}.build.json"))
    return paths


_REPORT_FILES = {
    "hierarchy": "{name}.hierarchy.json",
    "ir": "{name}.ir.txt",
    "dag": "{name}.dag.json",
    "op-metadata": "{name}.op-metadata.json",
    "graphml": "{name}.graphml",  # and its weights, {name}.onnxdata
    "report": "{name}.report.md",  # written by build() after validation
    "html": "report.html",  # and the build record {name}.build.json, written last as well
}


def write_outputs(model: ir.Model, spec: BuildSpec, progress=None) -> list[str]:
    """The model (and, after a split, its pieces and manifest) plus the asked-for reports;
    ``progress(done, total)`` is told the weight bytes written."""
    from hcc.passes.pieces import PIECES_KEY

    out = spec.output
    os.makedirs(out.directory, exist_ok=True)
    if model.meta.get(PIECES_KEY):
        from .pieces import write_pieces

        written = write_pieces(
            model,
            out.directory,
            name=out.name,
            size_threshold=out.external_data_threshold,
            progress=progress,
        )
    else:
        model_path = os.path.join(out.directory, f"{out.name}.onnx")
        ir.save(
            model,
            model_path,
            external_data=f"{out.name}.onnx.data",
            size_threshold=out.external_data_threshold,
            progress=progress,
            weights="copy" if out.weights == "load" else out.weights,
        )
        written = [model_path]
    for report in out.reports:
        path = os.path.join(out.directory, _REPORT_FILES[report].format(name=out.name))
        if report in ("report", "html"):
            continue  # needs the whole build: see build()
        if report == "graphml":
            from .inspect.graphml import write_graphml

            written.extend(write_graphml(model, path))
            continue
        write_text(path, _report_text(report, model))
        written.append(path)
    return written


def _report_text(report: str, model: ir.Model) -> str:
    if report == "hierarchy":
        from .inspect._common import hierarchy_file_text

        return hierarchy_file_text(model)
    if report in ("dag", "op-metadata"):
        from .inspect._common import dump_json
        from .inspect.dag import dag_data, op_metadata

        return dump_json(dag_data(model) if report == "dag" else op_metadata(model))
    from hcc.ir.printer import format_model

    return format_model(model)
