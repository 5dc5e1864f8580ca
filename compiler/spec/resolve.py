"""Resolve a parsed spec: includes, parameters, section options and passes, all checked.

Every problem found is collected and reported together as one :class:`SpecError`, each with
its file:line:col. Names are checked against what exists (sections' options, the pass
registry, the pass options), with a "did you mean" for near misses.

Paths: includes and model sources are relative to the file that names them; includes may not
leave the folder of the top-level spec. The output folder is relative to the working directory
(``hcc build -o`` overrides it).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from hcc.frontend.hub import is_hub_id
from hcc.frontend.load import KINDS, ExportOptions, ModelSource
from hcc.frontend.sources import _DTYPES, TASKS, InputSpec
from hcc.passes._errors import PipelineError, SourceLocation
from hcc.passes._options import Option, OptionValueError
from hcc.passes._registry import get_pass
from hcc.passes.pipeline import PassSpec

from ..diagnostics import Diagnostic, SpecError, did_you_mean
from . import ast
from .model import BuildSpec, OutputSettings
from .parser import parse_file, parse_text

PARAM_TYPES = {"int": int, "float": float, "str": str, "bool": bool}
REPORTS = ("hierarchy", "ir", "dag", "op-metadata", "graphml", "report")
SECTIONS = ("model", "inputs", "export", "pipeline", "output")

# Options each section accepts, typed and documented (docs/spec-language.md lists them).
MODEL_OPTIONS = {
    "task": Option(
        str, "base", "which head to build (transformers Auto class)", choices=list(TASKS)
    ),
    "seed": Option(int, 0, "seed of the random weights and example inputs", min=0),
    "distinct_weights": Option(bool, True, "perturb fresh weights so no two tensors are equal"),
    "revision": Option(
        str, "", "pretrained: branch, tag or commit in the local hub cache (default main)"
    ),
}
INPUTS_OPTIONS = {
    "text": Option(str, "", "example text, run through the source's own tokenizer"),
}
EXPORT_OPTIONS = {
    "exporter": Option(str, "dynamo", "torch exporter", choices=["dynamo", "torchscript"]),
    "opset": Option(
        int,
        0,
        "opset of the export (0: the exporter's default); below the "
        "dynamo exporter's lowest (18) the export is lowered with downgrade-ir",
        min=0,
        max=28,
    ),
    "ir_version": Option(
        int,
        0,
        "lower the model's IR version to this (0: as exported; below "
        "10 the nodes lose their scopes)",
        min=0,
        max=11,
    ),
    "tagging": Option(bool, True, "run recover-scopes, tag-auxiliary, propagate-tags first"),
    "recipe": Option(
        str,
        "none",
        "kv-cache: a decoder LLM as embedding, prefill and decode "
        "blocks and a head (replaces the pipeline)",
        choices=["none", "kv-cache"],
    ),
    "max_len": Option(int, 128, "kv-cache: longest prompt plus generated tokens", min=1),
    "shapes": Option(
        str,
        "dynamic",
        "kv-cache: fixed (max_len) or dynamic block shapes",
        choices=["static", "dynamic"],
    ),
    "head": Option(
        str, "topk", "kv-cache: what lm_head returns", choices=["topk", "argmax", "logits"]
    ),
    "top_k": Option(int, 1, "kv-cache: k of a topk head", min=1),
    "dtype": Option(
        str,
        "float32",
        "kv-cache: weights and activations",
        choices=["float32", "float16", "bfloat16"],
    ),
    "cache_layout": Option(
        str,
        "bhsd",
        "kv-cache: cache tensors' layout, bhsd = [batch, "
        "kv_heads, positions, head_dim] or bshd = [batch, positions, "
        "kv_heads, head_dim]",
        choices=["bhsd", "bshd"],
    ),
    "decode_cache": Option(
        str,
        "new",
        "kv-cache: what decode returns per layer, the new entry or the whole updated cache",
        choices=["new", "whole"],
    ),
    "attention_mask": Option(
        str,
        "ones",
        "kv-cache: the blocks' mask, 0/1 per position or an additive float mask "
        "[batch, 1, queries, keys] (0 or -10000)",
        choices=["ones", "additive"],
    ),
}
OUTPUT_OPTIONS = {
    "name": Option(str, "", "file name of the model, without .onnx (default: the model's name)"),
    "external_data_threshold": Option(
        int, 1024, "tensors of at least this many bytes go to the .data file", min=0
    ),
    "reports": Option(list[str], [], "extra files to write", choices=list(REPORTS)),
    "validate": Option(
        bool,
        False,
        "after a split, chain the pieces in onnxruntime and "
        "compare with the whole model; with a PyTorch source, compare the "
        "model and every piece's boundary tensors with the torch module too",
    ),
    "tolerance": Option(
        float,
        0.0,
        "largest max-abs deviation of the pieces from the whole model that validation accepts",
        min=0.0,
    ),
    "torch_tolerance": Option(
        float,
        1e-4,
        "largest max-abs deviation from the torch module that validation accepts",
        min=0.0,
    ),
}


def _at(first: SourceLocation, here: SourceLocation) -> str:
    """Where ``first`` is, said briefly: ``3:14`` in the same file, else ``base.hx:3:14``."""
    if first.source == here.source:
        return f"{first.line}:{first.column}"
    return str(first)


def _unknown(what: str, name: str, known, listing: str) -> str:
    """``unknown dtype 'int46'; did you mean 'int64'? (dtypes: ...)``."""
    known = list(known)
    return f"unknown {what} {name!r}{did_you_mean(name, known)} ({listing}: {', '.join(known)})"


_ARTICLES = {"int": "an int", "float": "a float", "str": "a str", "bool": "a bool"}


@dataclass
class _Collected:
    """The items of a spec and its includes, merged: later files override earlier sections."""

    params: dict[str, ast.Param]
    sections: dict[str, Any]
    files: list[str]
    read: set[str] = field(default_factory=set)  # real paths of the files read


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
    collected = _Collected({}, {}, [])
    _collect(spec, collected, errors, root_dir, stack=[])
    values = _param_values(collected.params, defines or {}, errors)
    resolver = _Values(values, collected.params, errors)
    build = _build(spec, collected, resolver, errors)
    if errors:
        raise SpecError(errors)
    assert build is not None
    return build


# -- includes -------------------------------------------------------------------------------


def _collect(
    spec: ast.SpecFile, out: _Collected, errors: list[Diagnostic], root_dir: str, stack: list[str]
) -> None:
    here = os.path.realpath(spec.path) if spec.path != "<spec>" else "<spec>"
    out.files.append(spec.path)
    out.read.add(here)
    seen_here: dict[str, Any] = {}
    for item in spec.items:
        if isinstance(item, ast.Include):
            _include(spec, item, out, errors, root_dir, stack + [here])
        elif isinstance(item, ast.Param):
            if item.name in out.params:
                first = out.params[item.name].loc
                errors.append(
                    Diagnostic(
                        f"parameter {item.name!r} is already declared at {_at(first, item.loc)}",
                        item.loc,
                    )
                )
            else:
                out.params[item.name] = item
            if item.type not in PARAM_TYPES:
                errors.append(
                    Diagnostic(
                        _unknown("parameter type", item.type, PARAM_TYPES, "types"), item.type_loc
                    )
                )
        else:
            kind = _section_kind(item)
            if kind in seen_here:
                errors.append(
                    Diagnostic(
                        f"duplicate {kind} section (first at {_at(seen_here[kind].loc, item.loc)})",
                        item.loc,
                    )
                )
                continue
            seen_here[kind] = item
            out.sections[kind] = item  # an including file's section replaces the included one


def _include(spec, item: ast.Include, out, errors, root_dir, stack) -> None:
    if not item.path or any(ord(c) < 32 for c in item.path):
        # The OS would refuse such a name anyway (a NUL even raises ValueError).
        errors.append(Diagnostic(f"include path {item.path!r} is not a file name", item.loc))
        return
    if spec.path == "<spec>":
        target = os.path.normpath(os.path.join(root_dir, item.path))
    else:
        # Relative to the including file, and named as it is (a relative spec path gives
        # relative include paths in messages).
        target = os.path.normpath(os.path.join(os.path.dirname(spec.path), item.path))
    real = os.path.realpath(target)
    root = os.path.realpath(root_dir)
    if os.path.isabs(item.path) or os.path.commonpath([root, real]) != root:
        # A spec reads nothing outside its own folder (and the sources it names).
        errors.append(
            Diagnostic(
                f"include {item.path!r} is outside the spec's folder {root_dir};"
                " includes must stay inside it",
                item.loc,
            )
        )
        return
    if real in stack:
        chain = stack[stack.index(real) :] + [real]
        shown = " -> ".join(_relative(path, root) for path in chain)
        errors.append(Diagnostic(f"include cycle: {shown}", item.loc))
        return
    if real in out.read:
        return  # read already (two files include a common base): a file is read once
    if not os.path.isfile(real):
        errors.append(
            Diagnostic(
                f"included file {item.path!r} not found: no file {target}"
                " (includes are relative to the including file)",
                item.loc,
            )
        )
        return
    try:
        included = parse_file(target)
    except SpecError as error:
        errors.extend(error.diagnostics)
        return
    _collect(included, out, errors, root_dir, stack)


def _relative(path: str, root: str) -> str:
    try:
        return os.path.relpath(os.path.realpath(path), root)
    except ValueError:  # another drive (Windows)
        return path


def _section_kind(item) -> str:
    return {
        ast.ModelSection: "model",
        ast.InputsSection: "inputs",
        ast.ExportSection: "export",
        ast.PipelineSection: "pipeline",
        ast.OutputSection: "output",
    }[type(item)]


# -- parameters -----------------------------------------------------------------------------


def _param_values(
    params: dict[str, ast.Param], defines: Mapping[str, str], errors: list[Diagnostic]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, text in defines.items():
        if name not in params:
            # A -D is written on the command line: there is no line in the spec to point at.
            declared = f"parameters: {', '.join(params)}" if params else "it declares none"
            errors.append(
                Diagnostic(
                    f"-D {name}={text}: the spec has no parameter {name!r}"
                    f"{did_you_mean(name, params)} ({declared})"
                )
            )
    for name, param in params.items():
        kind = PARAM_TYPES.get(param.type)
        if kind is None:
            continue
        if name in defines:
            try:
                values[name] = _from_text(defines[name], kind)
            except ValueError:
                # Point at the declaration: it says which type the value must have.
                accepted = {bool: " (true/false, yes/no or 1/0)", float: " (a finite number)"}.get(
                    kind, ""
                )
                errors.append(
                    Diagnostic(
                        f"-D {name}={defines[name]}: parameter {name!r} is declared "
                        f"{param.type}, and {defines[name]!r} is not {_ARTICLES[param.type]}"
                        f"{accepted}",
                        param.type_loc,
                    )
                )
        elif param.default is not None:
            default = param.default
            if isinstance(default, ast.Literal) and _fits(default.value, kind):
                values[name] = kind(default.value) if kind is float else default.value
            else:
                errors.append(
                    Diagnostic(
                        f"the default of parameter {name!r} must be {_ARTICLES[param.type]}"
                        f" literal, not {_describe_literal(default)}",
                        default.loc,
                    )
                )
        else:
            errors.append(
                Diagnostic(
                    f"parameter {name!r} has no default value; give one with -D {name}=...",
                    param.loc,
                )
            )
    return values


def _describe_literal(value: ast.Value) -> str:
    if isinstance(value, ast.Ref):
        return f"a reference to ${value.name}"
    if isinstance(value, ast.ListValue):
        return "a list"
    return _describe(value.value)


def _describe(value: Any) -> str:
    """``the int 3``, ``a list``: a resolved value in a message."""
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"the bool {'true' if value else 'false'}"
    if isinstance(value, (int, float)):
        return f"the {type(value).__name__} {value!r}"
    return f"the str {value!r}"


def _from_text(text: str, kind: type) -> Any:
    if kind is bool:
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise ValueError(text)
    if kind is int and not re.fullmatch(r"[+-]?[0-9]+", text.strip()):
        raise ValueError(text)  # int() would also take "1_000"
    value = kind(text)
    if kind is float and not math.isfinite(value):
        raise ValueError(text)  # "nan" and "inf" are no literal a spec could write
    return value


def _fits(value: Any, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, str)


# ${name}: the same names as parameters (and $refs) may have, inner '-' included.
_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*)\}")


class _Undefined:
    """What a value that uses an undefined parameter resolves to: already reported, so the
    checks that follow skip it instead of echoing the error."""

    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Any = _Undefined()


class _Values:
    """Turns AST values into Python values, substituting parameters."""

    def __init__(
        self, params: dict[str, Any], declared: Mapping[str, ast.Param], errors: list[Diagnostic]
    ) -> None:
        self.params = params
        self.declared = declared  # a declared parameter without a value is reported already
        self.errors = errors

    def get(self, value: ast.Value) -> Any:
        """The value, or :data:`UNDEFINED` when it uses a parameter without a value."""
        if isinstance(value, ast.Ref):
            if value.name not in self.params:
                self._undefined(value.name, f"${value.name}", value.loc)
                return UNDEFINED
            return self.params[value.name]
        if isinstance(value, ast.ListValue):
            items = [self.get(item) for item in value.items]
            return UNDEFINED if any(item is UNDEFINED for item in items) else items
        if isinstance(value.value, str) and not value.word:
            return self._interpolate(value)
        return value.value

    def _undefined(self, name: str, written: str, loc: SourceLocation) -> None:
        if name in self.declared:
            return  # declared without a value (or with a bad one): that error says why
        hint = did_you_mean(name, self.params)
        if not hint:
            hint = f"; declare it with 'param {name}: TYPE = DEFAULT'"
        self.errors.append(Diagnostic(f"undefined parameter {written}{hint}", loc))

    def _interpolate(self, literal: ast.Literal) -> Any:
        undefined = False
        # The raw string as written, to put the caret under "${name}" itself (escapes before
        # it shift the parsed text, never the raw one).
        raw = (literal.loc.line_text or "")[literal.loc.column - 1 :][: literal.loc.length]
        searched = 0

        def substitute(match: re.Match) -> str:
            nonlocal undefined, searched
            name = match.group(1)
            at = raw.find(match.group(0), searched)
            if at >= 0:
                searched = at + len(match.group(0))
            if name not in self.params:
                loc = literal.loc
                if at >= 0:
                    loc = replace(loc, column=loc.column + at, length=len(match.group(0)))
                self._undefined(name, match.group(0), loc)
                undefined = True
                return match.group(0)
            value = self.params[name]
            if isinstance(value, bool):
                return "true" if value else "false"  # as the spec writes it, not Python
            return str(value)

        text = _INTERPOLATION.sub(substitute, literal.value)
        return UNDEFINED if undefined else text


# -- sections -------------------------------------------------------------------------------


def _options(
    assigns: list[ast.Assign],
    schema: dict[str, Option],
    section: str,
    values: _Values,
    errors: list[Diagnostic],
) -> dict[str, Any]:
    """Check ``key = value`` entries against a section's options; defaults filled in."""
    result = {name: option.default for name, option in schema.items()}
    seen: dict[str, SourceLocation] = {}
    for assign in assigns:
        if assign.key in seen:
            errors.append(
                Diagnostic(
                    f"{assign.key!r} is set twice in {section}"
                    f" (first at {_at(seen[assign.key], assign.loc)})",
                    assign.loc,
                )
            )
            continue
        seen[assign.key] = assign.loc
        option = schema.get(assign.key)
        if option is None:
            errors.append(
                Diagnostic(_unknown(f"{section} option", assign.key, schema, "options"), assign.loc)
            )
            continue
        value = values.get(assign.value)
        if value is UNDEFINED:
            continue
        try:
            result[assign.key] = option.convert(value)
        except OptionValueError as error:
            errors.append(Diagnostic(f"{section} option {assign.key!r} {error}", assign.value.loc))
    return result


def _build(
    spec: ast.SpecFile, collected: _Collected, values: _Values, errors: list[Diagnostic]
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
        _inputs(sections.get("inputs"), values, errors)
        source = None
    else:
        source = _model_source(model, sections.get("inputs"), values, errors)
    export_options = _options(
        sections["export"].options if "export" in sections else [],
        EXPORT_OPTIONS,
        "export",
        values,
        errors,
    )
    pipeline = _pipeline(sections.get("pipeline"), values, errors)
    output = _output(sections.get("output"), model.name if model else "model", values, errors)
    torch_source = source is not None and source.kind != "onnx"
    if (
        output.validate
        and export_options["recipe"] == "none"
        and not torch_source
        and not any(p.name == "split" for p in pipeline)
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
    if source is None or model is None:
        return None
    return BuildSpec(
        path=spec.path,
        model_name=model.name,
        source=source,
        export=ExportOptions(
            exporter=export_options["exporter"],
            opset=export_options["opset"] or None,
            pipeline=None if export_options["tagging"] else "",
            ir_version=export_options["ir_version"] or None,
        ),
        tagging=export_options["tagging"],
        recipe=_recipe(export_options, sections.get("pipeline"), pipeline, errors),
        pipeline=pipeline,
        output=output,
        params=dict(values.params),
        files=list(collected.files),
        source_location=model.kind_loc,
    )


def _file_start(spec: ast.SpecFile) -> SourceLocation:
    first = spec.text.split("\n")[0].rstrip("\r")
    return SourceLocation(spec.path, 1, 1, 1, first)


def _model_source(
    model: ast.ModelSection,
    inputs: ast.InputsSection | None,
    values: _Values,
    errors: list[Diagnostic],
) -> ModelSource | None:
    # Check everything before giving up, so one run reports all the problems.
    options = _options(model.options, MODEL_OPTIONS, "model", values, errors)
    valid = True
    if model.kind not in KINDS:
        errors.append(
            Diagnostic(_unknown("model source kind", model.kind, KINDS, "kinds"), model.kind_loc)
        )
        valid = False
    reference = values.get(model.reference)
    if reference is UNDEFINED:
        valid = False
    elif not isinstance(reference, str) or not reference:
        what = {
            "config": "a config name",
            "directory": "a folder",
            "factory": "module:function",
            "onnx": "a .onnx file",
            "pretrained": "a hub id like org/name",
        }.get(model.kind, "a name")
        errors.append(
            Diagnostic(
                f"the model source must be a non-empty string ({what}),"
                f" not {_describe(reference) if reference != '' else 'an empty one'}",
                model.reference.loc,
            )
        )
        valid = False
    if valid and model.kind == "pretrained" and not is_hub_id(reference):
        errors.append(
            Diagnostic(
                f"{reference!r} is not a hub id; write it as org/name (a local folder is "
                "'from directory')",
                model.reference.loc,
            )
        )
        valid = False
    if options["revision"] and model.kind in KINDS and model.kind != "pretrained":
        loc = next(a.loc for a in model.options if a.key == "revision")
        errors.append(
            Diagnostic(
                f"a revision names a version of a hub id ('from pretrained'), not of a {model.kind} "
                "source",
                loc,
            )
        )
    if valid and model.kind in ("directory", "onnx") and _control_character(reference):
        errors.append(
            Diagnostic(
                f"the model path {reference!r} holds a control character", model.reference.loc
            )
        )
        valid = False
    if valid and model.kind in ("directory", "onnx") and model.loc.source != "<spec>":
        reference = os.path.join(os.path.dirname(os.path.abspath(model.loc.source)), reference)
    overrides: dict[str, Any] = {}
    seen: dict[str, SourceLocation] = {}
    for assign in model.config or []:
        if model.kind in KINDS and model.kind != "config":
            errors.append(
                Diagnostic(
                    "a config block overrides a config source's settings;"
                    f" {'an' if model.kind[0] in 'aeiou' else 'a'} {model.kind} source has none",
                    assign.loc,
                )
            )
            break
        if assign.key in seen:
            errors.append(
                Diagnostic(
                    f"{assign.key!r} is set twice in config"
                    f" (first at {_at(seen[assign.key], assign.loc)})",
                    assign.loc,
                )
            )
            continue
        seen[assign.key] = assign.loc
        value = values.get(assign.value)
        if value is not UNDEFINED:
            overrides[assign.key] = value
    declared, text = _inputs(inputs, values, errors)
    if not valid:
        return None
    return ModelSource(
        model.kind,
        reference,
        overrides,
        task=options["task"],
        seed=options["seed"],
        inputs=declared,
        input_text=text,
        revision=options["revision"] or None,
    )


def _inputs(
    section: ast.InputsSection | None, values: _Values, errors: list[Diagnostic]
) -> tuple[list[InputSpec] | None, str | None]:
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
            errors.append(
                Diagnostic(_unknown("dtype", decl.dtype, _DTYPES, "dtypes"), decl.dtype_loc)
            )
        dims: list[int | str] = []
        dims_known = True
        for dim in decl.dims:
            value = values.get(dim)
            if value is UNDEFINED:
                dims_known = False
                continue
            if isinstance(value, bool) or not (
                (isinstance(value, int) and value >= 0)
                or (isinstance(value, str) and isinstance(dim, ast.Literal) and dim.word)
            ):
                errors.append(
                    Diagnostic(
                        f"bad dimension {_show(dim)}: a dimension is a size (an integer >= 0)"
                        " or a name like batch",
                        dim.loc,
                    )
                )
                dims_known = False
                continue
            dims.append(value)
        sizes = None
        if decl.sizes is not None:
            sizes = values.get(decl.sizes)
            if sizes is UNDEFINED:
                sizes = None
            elif not (
                isinstance(sizes, list)
                and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes)
            ):
                errors.append(
                    Diagnostic(
                        "example sizes are a list of positive integers, one per dimension,"
                        f" e.g. [2, 16], not {_show(decl.sizes)}",
                        decl.sizes.loc,
                    )
                )
                sizes = None
            elif len(sizes) != len(decl.dims):
                plural = "s" if len(sizes) != 1 else ""
                errors.append(
                    Diagnostic(
                        f"input {decl.name!r} has {len(decl.dims)} dimensions but {len(sizes)}"
                        f" example size{plural}",
                        decl.sizes.loc,
                    )
                )
                sizes = None
            elif not dims_known:
                sizes = None
            else:
                for dim, size in zip(dims, sizes):
                    if isinstance(dim, int) and dim != size:
                        errors.append(
                            Diagnostic(
                                f"example size {size} differs from the static dimension {dim}",
                                decl.sizes.loc,
                            )
                        )
        declared.append(InputSpec(decl.name, decl.dtype, dims, sizes))
    if text and declared:
        text_loc = next(a.loc for a in section.options if a.key == "text")
        errors.append(Diagnostic("give example text or declared inputs, not both", text_loc))
    return (declared or None), text


def _show(value: ast.Value) -> str:
    """A value as written in the spec, for messages."""
    from .format import format_value

    return format_value(value)


def _pipeline(
    section: ast.PipelineSection | None, values: _Values, errors: list[Diagnostic]
) -> list[PassSpec]:
    if section is None:
        return []
    specs = []
    for call in section.passes:
        options: dict[str, Any] = {}
        locations: dict[str, SourceLocation] = {}
        keys: dict[str, SourceLocation] = {}
        complete = True
        for arg in call.args:
            if arg.key in keys:
                errors.append(
                    Diagnostic(
                        f"option {arg.key!r} of pass {call.name!r} is given twice"
                        f" (first at {_at(keys[arg.key], arg.loc)})",
                        arg.loc,
                    )
                )
                continue
            keys[arg.key] = arg.loc
            value = values.get(arg.value)
            if value is UNDEFINED:
                complete = False
                continue
            options[arg.key] = value
            locations[arg.key] = arg.value.loc
        spec = PassSpec(call.name, options, call.loc, locations)
        try:
            info = get_pass(call.name, call.loc)
            if complete:  # else a required option may look missing: reported already
                info.create(options, call.loc, option_locations=locations)
        except PipelineError as error:
            errors.append(Diagnostic(error.message, error.source_location or call.loc))
            continue
        specs.append(spec)
    return specs


def _output(
    section: ast.OutputSection | None, model_name: str, values: _Values, errors: list[Diagnostic]
) -> OutputSettings:
    if section is None:
        return OutputSettings(os.path.join("build", model_name), model_name)
    directory = values.get(section.path)
    if directory is UNDEFINED:
        directory = os.path.join("build", model_name)
    elif not isinstance(directory, str) or not directory:
        errors.append(
            Diagnostic(
                f'the output folder must be a non-empty string, e.g. output "build/{model_name}",'
                f" not {_describe(directory) if directory != '' else 'an empty one'}",
                section.path.loc,
            )
        )
        directory = os.path.join("build", model_name)
    elif _control_character(directory):
        errors.append(
            Diagnostic(
                f"the output folder {directory!r} holds a control character; no file name should",
                section.path.loc,
            )
        )
        directory = os.path.join("build", model_name)
    options = _options(section.options, OUTPUT_OPTIONS, "output", values, errors)
    name = options["name"] or model_name
    if (
        "/" in name
        or "\\" in name
        or name in (".", "..")
        or name.startswith(".")
        or _control_character(name)
    ):
        loc = next((a.value.loc for a in section.options if a.key == "name"), section.loc)
        errors.append(
            Diagnostic(
                f"output name {name!r} must be a plain file name (no folders, not starting"
                " with '.')",
                loc,
            )
        )
    return OutputSettings(
        directory,
        name,
        options["external_data_threshold"],
        list(options["reports"]),
        options["validate"],
        options["tolerance"],
        options["torch_tolerance"],
    )


def _control_character(text: str) -> bool:
    # A NUL would even make the OS calls raise; a newline or escape in a path is a mistake.
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def _recipe(
    options: dict[str, Any],
    section: ast.PipelineSection | None,
    pipeline: list[PassSpec],
    errors: list[Diagnostic],
) -> dict[str, Any] | None:
    """The kv-cache recipe's settings, or None when the export is a plain one. The recipe runs
    its own passes; its pipeline section may hold one ``quantize-weights``, applied to every
    piece."""
    if options["recipe"] == "none":
        return None
    quantize = None
    for spec in pipeline:
        if spec.name != "quantize-weights" or quantize is not None:
            errors.append(
                Diagnostic(
                    "the kv-cache recipe runs its own passes; its pipeline section may hold one "
                    "quantize-weights only",
                    spec.location or (section.loc if section else None),
                )
            )
            continue
        quantize = dict(spec.options)
    return {
        "max_len": options["max_len"],
        "static": options["shapes"] == "static",
        "head": options["head"],
        "top_k": options["top_k"],
        "dtype": options["dtype"],
        "opset": options["opset"] or 15,
        "quantize": quantize,
        "cache_layout": options["cache_layout"],
        "decode_cache": options["decode_cache"],
        "attention_mask": options["attention_mask"],
    }
