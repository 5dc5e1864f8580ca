"""Resolve a parsed spec: includes, parameters, section options and passes, all checked.

Every problem found is collected and reported together as one :class:`SpecError`, each with
its file:line:col. Names are checked against what exists (sections' options, the pass
registry, the pass options), with a "did you mean" for near misses.

Paths: includes and model sources are relative to the file that names them; includes may not
leave the folder of the top-level spec. The output folder is relative to the working directory
(``hcc build -o`` overrides it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hcc.frontend.load import KINDS, ExportOptions, ModelSource
from hcc.frontend.sources import TASKS, InputSpec, _DTYPES
from hcc.passes._errors import PipelineError, SourceLocation
from hcc.passes._options import Option, OptionValueError
from hcc.passes._registry import get_pass
from hcc.passes.pipeline import PassSpec

from ..diagnostics import Diagnostic, SpecError, did_you_mean
from . import ast
from .model import BuildSpec, OutputSettings
from .parser import parse_file, parse_text

PARAM_TYPES = {"int": int, "float": float, "str": str, "bool": bool}
REPORTS = ("hierarchy", "ir")
SECTIONS = ("model", "inputs", "export", "pipeline", "output")

# Options each section accepts, typed and documented (docs/spec-language.md lists them).
MODEL_OPTIONS = {
    "task": Option(str, "base", "which head to build (transformers Auto class)", choices=list(TASKS)),
    "seed": Option(int, 0, "seed of the random weights and example inputs", min=0),
    "distinct_weights": Option(bool, True, "perturb fresh weights so no two tensors are equal"),
}
INPUTS_OPTIONS = {
    "text": Option(str, "", "example text, run through the source's own tokenizer"),
}
EXPORT_OPTIONS = {
    "exporter": Option(str, "dynamo", "torch exporter", choices=["dynamo", "torchscript"]),
    "opset": Option(int, 0, "opset of the export (0: the exporter's default)", min=0, max=28),
    "tagging": Option(bool, True, "run recover-scopes, tag-auxiliary, propagate-tags first"),
}
OUTPUT_OPTIONS = {
    "name": Option(str, "", "file name of the model, without .onnx (default: the model's name)"),
    "external_data_threshold": Option(
        int, 1024, "tensors of at least this many bytes go to the .data file", min=0),
    "reports": Option(list[str], [], "extra files to write", choices=list(REPORTS)),
}


@dataclass
class _Collected:
    """The items of a spec and its includes, merged: later files override earlier sections."""

    params: dict[str, ast.Param]
    sections: dict[str, Any]
    files: list[str]


def load_spec(path: str, defines: Mapping[str, str] | None = None) -> BuildSpec:
    """Read, include, resolve and check the spec at ``path``."""
    spec = parse_file(path)
    return resolve(spec, defines, root_dir=os.path.dirname(os.path.abspath(path)))


def load_spec_text(text: str, defines: Mapping[str, str] | None = None,
                   source: str = "<spec>") -> BuildSpec:
    return resolve(parse_text(text, source), defines, root_dir=os.getcwd())


def resolve(spec: ast.SpecFile, defines: Mapping[str, str] | None, *, root_dir: str) -> BuildSpec:
    errors: list[Diagnostic] = []
    collected = _Collected({}, {}, [])
    _collect(spec, collected, errors, root_dir, stack=[])
    values = _param_values(collected.params, defines or {}, errors)
    resolver = _Values(values, errors)
    build = _build(spec, collected, resolver, errors)
    if errors:
        raise SpecError(errors)
    assert build is not None
    return build


# -- includes -------------------------------------------------------------------------------


def _collect(spec: ast.SpecFile, out: _Collected, errors: list[Diagnostic], root_dir: str,
             stack: list[str]) -> None:
    here = os.path.realpath(spec.path) if spec.path != "<spec>" else "<spec>"
    out.files.append(spec.path)
    seen_here: dict[str, Any] = {}
    for item in spec.items:
        if isinstance(item, ast.Include):
            _include(spec, item, out, errors, root_dir, stack + [here])
        elif isinstance(item, ast.Param):
            if item.name in out.params:
                first = out.params[item.name].loc
                errors.append(Diagnostic(
                    f"parameter {item.name!r} is already declared at {first}", item.loc))
            else:
                out.params[item.name] = item
            if item.type not in PARAM_TYPES:
                errors.append(Diagnostic(
                    f"unknown parameter type {item.type!r}{did_you_mean(item.type, PARAM_TYPES)};"
                    f" types: {', '.join(PARAM_TYPES)}", item.type_loc))
        else:
            kind = _section_kind(item)
            if kind in seen_here:
                errors.append(Diagnostic(
                    f"duplicate {kind} section (first at {seen_here[kind].loc})", item.loc))
                continue
            seen_here[kind] = item
            out.sections[kind] = item  # an including file's section replaces the included one


def _include(spec, item: ast.Include, out, errors, root_dir, stack) -> None:
    if spec.path == "<spec>":
        target = os.path.normpath(os.path.join(root_dir, item.path))
    else:
        target = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(spec.path)),
                                               item.path))
    real = os.path.realpath(target)
    root = os.path.realpath(root_dir)
    if os.path.isabs(item.path) or os.path.commonpath([root, real]) != root:
        errors.append(Diagnostic(
            f"include {item.path!r} leaves the spec's folder {root_dir}", item.loc))
        return
    if real in stack:
        errors.append(Diagnostic(f"include cycle: {item.path!r} is already being read", item.loc))
        return
    if not os.path.isfile(real):
        errors.append(Diagnostic(f"included file not found: {item.path!r}", item.loc))
        return
    try:
        included = parse_file(target)
    except SpecError as error:
        errors.extend(error.diagnostics)
        return
    _collect(included, out, errors, root_dir, stack)


def _section_kind(item) -> str:
    return {
        ast.ModelSection: "model", ast.InputsSection: "inputs", ast.ExportSection: "export",
        ast.PipelineSection: "pipeline", ast.OutputSection: "output",
    }[type(item)]


# -- parameters -----------------------------------------------------------------------------


def _param_values(params: dict[str, ast.Param], defines: Mapping[str, str],
                  errors: list[Diagnostic]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, text in defines.items():
        if name not in params:
            errors.append(Diagnostic(
                f"-D {name}: the spec has no parameter {name!r}{did_you_mean(name, params)}"))
    for name, param in params.items():
        kind = PARAM_TYPES.get(param.type)
        if kind is None:
            continue
        if name in defines:
            try:
                values[name] = _from_text(defines[name], kind)
            except ValueError:
                errors.append(Diagnostic(
                    f"-D {name}={defines[name]}: expected {param.type}"))
        elif param.default is not None:
            default = param.default
            if isinstance(default, ast.Literal) and _fits(default.value, kind):
                values[name] = kind(default.value) if kind is float else default.value
            else:
                errors.append(Diagnostic(
                    f"default of parameter {name!r} must be a {param.type} literal",
                    default.loc))
        else:
            errors.append(Diagnostic(
                f"parameter {name!r} has no default; give it with -D {name}=...", param.loc))
    return values


def _from_text(text: str, kind: type) -> Any:
    if kind is bool:
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise ValueError(text)
    return kind(text)


def _fits(value: Any, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, str)


_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Values:
    """Turns AST values into Python values, substituting parameters."""

    def __init__(self, params: dict[str, Any], errors: list[Diagnostic]) -> None:
        self.params = params
        self.errors = errors

    def get(self, value: ast.Value) -> Any:
        if isinstance(value, ast.Ref):
            if value.name not in self.params:
                self.errors.append(Diagnostic(
                    f"undefined parameter ${value.name}{did_you_mean(value.name, self.params)}",
                    value.loc))
                return None
            return self.params[value.name]
        if isinstance(value, ast.ListValue):
            return [self.get(item) for item in value.items]
        if isinstance(value.value, str) and not value.word:
            return self._interpolate(value)
        return value.value

    def _interpolate(self, literal: ast.Literal) -> str:
        def substitute(match: re.Match) -> str:
            name = match.group(1)
            if name not in self.params:
                self.errors.append(Diagnostic(
                    f"undefined parameter ${{{name}}}{did_you_mean(name, self.params)}",
                    literal.loc))
                return match.group(0)
            return str(self.params[name])

        return _INTERPOLATION.sub(substitute, literal.value)


# -- sections -------------------------------------------------------------------------------


def _options(assigns: list[ast.Assign], schema: dict[str, Option], section: str,
             values: _Values, errors: list[Diagnostic]) -> dict[str, Any]:
    """Check ``key = value`` entries against a section's options; defaults filled in."""
    result = {name: option.default for name, option in schema.items()}
    seen: dict[str, SourceLocation] = {}
    for assign in assigns:
        if assign.key in seen:
            errors.append(Diagnostic(
                f"{assign.key!r} is set twice in {section} (first at {seen[assign.key]})",
                assign.loc))
            continue
        seen[assign.key] = assign.loc
        option = schema.get(assign.key)
        if option is None:
            valid = ", ".join(schema) or "none"
            errors.append(Diagnostic(
                f"unknown option {assign.key!r} in {section}{did_you_mean(assign.key, schema)};"
                f" options: {valid}", assign.loc))
            continue
        value = values.get(assign.value)
        if value is None:
            continue
        try:
            result[assign.key] = option.convert(value)
        except OptionValueError as error:
            errors.append(Diagnostic(f"{section} option {assign.key!r} {error}",
                                     assign.value.loc))
    return result


def _build(spec: ast.SpecFile, collected: _Collected, values: _Values,
           errors: list[Diagnostic]) -> BuildSpec | None:
    sections = collected.sections
    model: ast.ModelSection | None = sections.get("model")
    if model is None:
        errors.append(Diagnostic(
            "missing model section (e.g. model bert from config \"bert\")",
            _file_start(spec)))
        return None
    source = _model_source(model, sections.get("inputs"), values, errors)
    export_options = _options(
        sections["export"].options if "export" in sections else [], EXPORT_OPTIONS, "export",
        values, errors)
    pipeline = _pipeline(sections.get("pipeline"), values, errors)
    output = _output(sections.get("output"), model.name, values, errors)
    if source is None:
        return None
    return BuildSpec(
        path=spec.path,
        model_name=model.name,
        source=source,
        export=ExportOptions(exporter=export_options["exporter"],
                             opset=export_options["opset"] or None,
                             pipeline=None if export_options["tagging"] else ""),
        tagging=export_options["tagging"],
        pipeline=pipeline,
        output=output,
        params=dict(values.params),
        files=list(collected.files),
    )


def _file_start(spec: ast.SpecFile) -> SourceLocation:
    first = spec.text.splitlines()[0] if spec.text else ""
    return SourceLocation(spec.path, 1, 1, 1, first)


def _model_source(model: ast.ModelSection, inputs: ast.InputsSection | None, values: _Values,
                  errors: list[Diagnostic]) -> ModelSource | None:
    # Check everything before giving up, so one run reports all the problems.
    options = _options(model.options, MODEL_OPTIONS, "model", values, errors)
    valid = True
    if model.kind not in KINDS:
        errors.append(Diagnostic(
            f"unknown model source {model.kind!r}{did_you_mean(model.kind, KINDS)};"
            f" sources: {', '.join(KINDS)}", model.kind_loc))
        valid = False
    reference = values.get(model.reference)
    if not isinstance(reference, str) or not reference:
        errors.append(Diagnostic(f"the {model.kind} source is named by a string",
                                 model.reference.loc))
        valid = False
    if valid and model.kind in ("directory", "onnx") and model.loc.source != "<spec>":
        reference = os.path.join(os.path.dirname(os.path.abspath(model.loc.source)), reference)
    overrides: dict[str, Any] = {}
    for assign in model.config or []:
        if model.kind in KINDS and model.kind != "config":
            errors.append(Diagnostic(
                f"config overrides apply to config sources, not {model.kind}", assign.loc))
            break
        if assign.key in overrides:
            errors.append(Diagnostic(f"config option {assign.key!r} is set twice", assign.loc))
        overrides[assign.key] = values.get(assign.value)
    declared, text = _inputs(inputs, values, errors)
    if not valid:
        return None
    return ModelSource(model.kind, reference, overrides, task=options["task"],
                       seed=options["seed"], inputs=declared, input_text=text)


def _inputs(section: ast.InputsSection | None, values: _Values,
            errors: list[Diagnostic]) -> tuple[list[InputSpec] | None, str | None]:
    if section is None:
        return None, None
    options = _options(section.options, INPUTS_OPTIONS, "inputs", values, errors)
    text = options["text"] or None
    declared: list[InputSpec] = []
    names: set[str] = set()
    for decl in section.inputs:
        if decl.name in names:
            errors.append(Diagnostic(f"input {decl.name!r} is declared twice", decl.loc))
        names.add(decl.name)
        if decl.dtype not in _DTYPES:
            errors.append(Diagnostic(
                f"unknown dtype {decl.dtype!r}{did_you_mean(decl.dtype, _DTYPES)};"
                f" dtypes: {', '.join(_DTYPES)}", decl.dtype_loc))
        dims: list[int | str] = []
        for dim in decl.dims:
            value = values.get(dim)
            if isinstance(value, bool) or not (
                (isinstance(value, int) and value >= 0) or
                (isinstance(value, str) and isinstance(dim, ast.Literal) and dim.word)
            ):
                errors.append(Diagnostic(
                    f"bad dimension {_show(dim)}: a dimension is an integer >= 0 or a name",
                    dim.loc))
                continue
            dims.append(value)
        sizes = None
        if decl.sizes is not None:
            sizes = values.get(decl.sizes)
            if not (isinstance(sizes, list) and all(
                    isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes)):
                errors.append(Diagnostic(
                    "example sizes are a list of positive integers, e.g. [2, 16]",
                    decl.sizes.loc))
                sizes = None
            elif len(sizes) != len(decl.dims):
                errors.append(Diagnostic(
                    f"{len(sizes)} example sizes for {len(decl.dims)} dimensions",
                    decl.sizes.loc))
                sizes = None
            else:
                for dim, size in zip(dims, sizes):
                    if isinstance(dim, int) and dim != size:
                        errors.append(Diagnostic(
                            f"example size {size} differs from the static dimension {dim}",
                            decl.sizes.loc))
        declared.append(InputSpec(decl.name, decl.dtype, dims, sizes))
    if text and declared:
        errors.append(Diagnostic("give example text or declared inputs, not both", section.loc))
    return (declared or None), text


def _show(value: ast.Value) -> str:
    if isinstance(value, ast.Literal):
        return repr(value.value) if not value.word else value.value
    if isinstance(value, ast.Ref):
        return f"${value.name}"
    return "[...]"


def _pipeline(section: ast.PipelineSection | None, values: _Values,
              errors: list[Diagnostic]) -> list[PassSpec]:
    if section is None:
        return []
    specs = []
    for call in section.passes:
        options: dict[str, Any] = {}
        locations: dict[str, SourceLocation] = {}
        for arg in call.args:
            if arg.key in options:
                errors.append(Diagnostic(f"option {arg.key!r} is given twice", arg.loc))
                continue
            value = values.get(arg.value)
            if value is None:
                continue
            options[arg.key] = value
            locations[arg.key] = arg.value.loc
        spec = PassSpec(call.name, options, call.loc, locations)
        try:
            info = get_pass(call.name, call.loc)
            info.create(options, call.loc, option_locations=locations)
        except PipelineError as error:
            errors.append(Diagnostic(error.message, error.source_location or call.loc))
            continue
        specs.append(spec)
    return specs


def _output(section: ast.OutputSection | None, model_name: str, values: _Values,
            errors: list[Diagnostic]) -> OutputSettings:
    if section is None:
        return OutputSettings(os.path.join("build", model_name), model_name)
    directory = values.get(section.path)
    if not isinstance(directory, str) or not directory:
        errors.append(Diagnostic("the output folder is a non-empty string", section.path.loc))
        directory = os.path.join("build", model_name)
    options = _options(section.options, OUTPUT_OPTIONS, "output", values, errors)
    name = options["name"] or model_name
    if "/" in name or "\\" in name or name in (".", "..") or name.startswith("."):
        loc = next((a.value.loc for a in section.options if a.key == "name"), section.loc)
        errors.append(Diagnostic(f"output name {name!r} must be a plain file name", loc))
    return OutputSettings(directory, name, options["external_data_threshold"],
                          list(options["reports"]))
