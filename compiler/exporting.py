"""Export a model source to one tagged ONNX file, with the extra files asked for beside it.

This is the work of ``hcc export`` once its arguments are read: refuse outputs that would
collide or replace an input, load and tag the model, write it and its extras (a report, the
module tree as JSON, GraphML). Extra files are named after the model: ``OUT.report.md``,
``OUT.hierarchy.json``, ``OUT.graphml``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import hcc.ir as ir

from .frontend.load import ExportOptions, ModelSource, load_model
from .frontend.versions import model_opset
from .outputs import graphml_files, model_files, refuse_inputs
from .progress import meter, step

# The extra files an export can write, in the order they are listed, by their name's suffix.
EXTRA_SUFFIXES = {"report": ".report.md", "hierarchy": ".hierarchy.json", "graphml": ".graphml"}


@dataclass
class ExportRequest:
    """One export: the source, where it goes, how it is exported and what else is written."""

    name: str  # the source as it was named: a path, hub id, model type or factory
    source: ModelSource
    output: str
    options: ExportOptions = field(default_factory=ExportOptions)
    extras: dict[str, str] = field(default_factory=dict)  # kind -> path (see extra_paths)
    tag_attributes: bool = False  # also write seed-002 style node attributes


@dataclass
class Exported:
    model: ir.Model
    files: list[str]  # the model first, then the extra files in the order they were written


def extra_paths(output: str, kinds) -> dict[str, str]:
    """The extra files of ``kinds`` (of :data:`EXTRA_SUFFIXES`) beside ``output``, named
    after it."""
    stem = output[: -len(".onnx")] if output.endswith(".onnx") else output
    return {kind: stem + suffix for kind, suffix in EXTRA_SUFFIXES.items() if kind in kinds}


def export(request: ExportRequest, *, progress: bool = False) -> Exported:
    """Check the outputs, load the model, write it and its extra files."""
    output = request.output
    written = model_files(output) + [
        p
        for kind, path in request.extras.items()
        for p in (graphml_files(path) if kind == "graphml" else [path])
    ]
    if len(set(map(os.path.abspath, written))) != len(written):
        raise ir.HccError(
            f"output {output!r} would collide with its own extra files; name it NAME.onnx"
        )
    if os.path.exists(request.name):
        refuse_inputs(written, [], readers=[request.name])
    else:
        refuse_inputs(written, [])  # a hub id or a model type: only the outputs' own checks
    with step(f"exporting {request.name}", enabled=progress):
        model = load_model(request.source, request.options)
    if request.tag_attributes:
        from hcc.passes import run

        model = run(model, "tag-attributes")
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with step(f"writing {output}", enabled=progress):
        ir.save(
            model,
            output,
            external_data=f"{os.path.basename(output)}.data",
            weights=request.options.weights or "copy",
            progress=meter("weights", unit="bytes"),
        )
        files = [output] + _write_extras(model, request)
    return Exported(model, files)


def _write_extras(model: ir.Model, request: ExportRequest) -> list[str]:
    from hcc.ir.files import write_text

    extras = request.extras
    written = []
    if "hierarchy" in extras:
        from .inspect._common import hierarchy_file_text

        write_text(extras["hierarchy"], hierarchy_file_text(model))
        written.append(extras["hierarchy"])
    if "graphml" in extras:
        from .inspect.graphml import write_graphml

        written.extend(write_graphml(model, extras["graphml"]))
    if "report" in extras:
        write_text(extras["report"], export_report(model, request))
        written.append(extras["report"])
    return written


def export_report(model: ir.Model, request: ExportRequest) -> str:
    """Markdown: what was exported and how, then the nodes of each module."""
    from .inspect.analyze import analyze, render

    source, options = request.source, request.options
    lines = [
        f"# Export report: {os.path.basename(request.output)}",
        "",
        f"- source: `{request.name}` (task {source.task}, seed {source.seed}"
        + (f", revision {source.revision}" if source.revision else "")
        + ")",
        f"- exporter: {options.exporter}; opset {model_opset(model)}"
        + (" (asked for)" if options.opset else "")
        + f"; IR version {model.ir_version}",
        f"- nodes: {len(model.graph)}",
        "",
        "## Modules",
        "",
        "```",
        render(analyze(model), "summary").rstrip("\n"),
        "```",
        "",
    ]
    return "\n".join(lines)
