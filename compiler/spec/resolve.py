"""Resolve a parsed spec: includes, parameters, section options and passes, all checked.

Every problem found is collected and reported together as one :class:`SpecError`, each with
its file:line:col. Names are checked against what exists (sections' options, the pass
registry, the pass options), with a "did you mean" for near misses.

Paths: includes and model sources are relative to the file that names them; includes may not
leave the folder of the top-level spec. The output folder is relative to the working directory
(``hcc build -o`` overrides it).

This module puts the pieces together; each part of a spec is checked in a module of its own:
``includes`` (reading), ``values`` (parameters and option entries), ``source`` (model and
inputs), ``pipeline`` (passes and the kv-cache recipe), ``export_blocks`` (the recipe's
``names``) and ``output``; ``options`` holds the
sections' option tables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from hcc.frontend.load import ExportOptions
from hcc.passes._errors import SourceLocation

from ..diagnostics import Diagnostic, SpecError
from . import ast
from .export_blocks import names_settings
from .includes import Collected, collect
from .model import BuildSpec
from .options import (  # the tables are read from here by the docs' tests
    EXPORT_OPTIONS,
    INPUTS_OPTIONS,
    MODEL_OPTIONS,
    OUTPUT_OPTIONS,
    REPORTS,
    SECTIONS,
)
from .output import output_settings
from .parser import parse_file, parse_text
from .pipeline import pipeline_passes, recipe_settings
from .source import declared_inputs, model_source
from .values import PARAM_TYPES, Values, param_values, section_options

__all__ = [
    "EXPORT_OPTIONS",
    "INPUTS_OPTIONS",
    "MODEL_OPTIONS",
    "OUTPUT_OPTIONS",
    "PARAM_TYPES",
    "REPORTS",
    "SECTIONS",
    "load_spec",
    "load_spec_text",
    "resolve",
]


def load_spec(path: str, defines: Mapping[str, str] | None = None) -> BuildSpec:
    """Read, include, resolve and check the spec at ``path``."""
    spec = parse_file(path)
    return resolve(spec, defines, root_dir=os.path.dirname(os.path.abspath(path)))


def load_spec_text(
    text: str, defines: Mapping[str, str] | None = None, source: str = "<spec>"
) -> BuildSpec:
    return resolve(parse_text(text, source), defines, root_dir=os.getcwd())


def resolve(spec: ast.SpecFile, defines: Mapping[str, str] | None, *, root_dir: str) -> BuildSpec:
    errors: list[Diagnostic] = []
    collected = Collected({}, {}, [])
    collect(spec, collected, errors, root_dir, stack=[])
    values = param_values(collected.params, defines or {}, errors)
    resolver = Values(values, collected.params, errors)
    build = _build(spec, collected, resolver, errors)
    if errors:
        raise SpecError(errors)
    assert build is not None
    return build


def _build(
    spec: ast.SpecFile, collected: Collected, values: Values, errors: list[Diagnostic]
) -> BuildSpec | None:
    sections = collected.sections
    model: ast.ModelSection | None = sections.get("model")
    if model is None:
        errors.append(
            Diagnostic(
                'missing model section: a spec names its model, e.g. model bert from config "bert"',
                _file_start(spec),
            )
        )
        # Go on: the other sections' mistakes are worth reporting in the same run.
        declared_inputs(sections.get("inputs"), values, errors)
        source = None
    else:
        source = model_source(model, sections.get("inputs"), values, errors)
    export_options = section_options(
        sections["export"].options if "export" in sections else [],
        EXPORT_OPTIONS,
        "export",
        values,
        errors,
    )
    names = names_settings(sections.get("export"), export_options, values, errors)
    pipeline = pipeline_passes(sections.get("pipeline"), values, errors)
    output = output_settings(
        sections.get("output"), model.name if model else "model", values, errors
    )
    torch_source = source is not None and source.kind != "onnx"
    if (
        output.validate
        and export_options["recipe"] == "none"
        and not torch_source
        and not any(p.name in ("split", "extract") for p in pipeline)
    ):
        # Refused here, not after the model is written: validation compares split pieces, or
        # the model with the torch module it came from.
        section = sections["output"]
        loc = next((a.value.loc for a in section.options if a.key == "validate"), section.loc)
        errors.append(
            Diagnostic(
                "validate = true chains the pieces of a split; the pipeline "
                "has no split, and an onnx source has no torch module to "
                "compare with",
                loc,
            )
        )
    if output.weights != "load" and source is not None:
        _check_in_place(source, export_options, sections["output"], errors)
    if source is None or model is None:
        return None
    recipe = recipe_settings(export_options, sections.get("pipeline"), pipeline, errors)
    if recipe is not None:
        recipe.update(names)
    return BuildSpec(
        path=spec.path,
        model_name=model.name,
        source=source,
        export=ExportOptions(
            exporter=export_options["exporter"],
            opset=export_options["opset"] or None,
            pipeline=None if export_options["tagging"] else "",
            ir_version=export_options["ir_version"] or None,
            weights=None if output.weights == "load" else output.weights,
        ),
        tagging=export_options["tagging"],
        recipe=recipe,
        pipeline=pipeline,
        output=output,
        params=dict(values.params),
        files=list(collected.files),
        source_location=model.kind_loc,
    )


def _check_in_place(source, export_options, section, errors: list[Diagnostic]) -> None:
    """Weights read in place need a checkpoint and the dynamo exporter."""
    loc = next((a.value.loc for a in section.options if a.key == "weights"), section.loc)
    problem = None
    if source.kind not in ("directory", "pretrained"):
        problem = f"a checkpoint (a model folder or a cached hub id), not a {source.kind} source"
    elif export_options["exporter"] != "dynamo":
        problem = "the dynamo exporter"
    if problem:
        errors.append(Diagnostic(f"weights read in place need {problem}", loc))


def _file_start(spec: ast.SpecFile) -> SourceLocation:
    first = spec.text.split("\n")[0].rstrip("\r")
    return SourceLocation(spec.path, 1, 1, 1, first)
