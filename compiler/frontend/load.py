"""One entry point for every model source: name it, get an IR model with scopes.

``load_model("config", "bert", overrides={...})``, ``load_model("directory", "path/to/model")``,
``load_model("factory", "pkg.mod:make")`` and ``load_model("onnx", "model.onnx")`` all return an
:class:`hcc.ir.Model` whose nodes carry scopes. The ``hcc export`` command and the spec
language's ``model`` section both come here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import hcc.ir as ir

from .errors import SourceError
from .inputs import InputSpec

KINDS = ("config", "pretrained", "directory", "factory", "onnx")


@dataclass
class ExportOptions:
    exporter: str = "dynamo"
    opset: int | None = None  # reached by lowering when the exporter writes no older one
    pipeline: str | None = None  # None: the front end's default tagging pipeline
    ir_version: int | None = None  # None: as the exporter writes it
    # Read a checkpoint's weights in place (a meta-device export, see meta_export) and write
    # them as "link", "copy" or "auto"; None: load the model and export it with its weights.
    weights: str | None = None


@dataclass
class ModelSource:
    kind: str
    reference: str
    overrides: dict[str, Any] = field(default_factory=dict)
    task: str = "base"
    seed: int = 0
    # A config's fresh weights perturbed so that no two tensors are equal (see sources).
    distinct_weights: bool = True
    inputs: list[InputSpec] | None = None
    input_text: str | None = None
    revision: str | None = None  # of a hub id (pretrained): a branch, tag or commit
    # Example sizes without declaring inputs: of the default inputs' batch and sequence axes,
    # and of named inputs ({"input_ids": [2, 16]}, also for inputs that are not defaults).
    batch: int | None = None
    seq: int | None = None
    shapes: dict[str, list[int]] = field(default_factory=dict)


def load_model(source: ModelSource, options: ExportOptions | None = None) -> ir.Model:
    """Build or read the model named by ``source`` and give every node a scope."""
    return load_with_module(source, options)[0]


def load_with_module(source: ModelSource, options: ExportOptions | None = None):
    """``(model, loaded)``: the model as :func:`load_model` gives it, and the torch module with
    its example inputs it was exported from (``None`` for an ONNX file), to validate against."""
    from .torch_export import DEFAULT_PIPELINE
    from .versions import check_reachable, export_opset, lower

    options = options or ExportOptions()
    check_reachable(options.exporter, options.opset, options.ir_version)
    pipeline = DEFAULT_PIPELINE if options.pipeline is None else options.pipeline
    if source.kind not in KINDS:
        raise SourceError(f"unknown model source {source.kind!r}; choose one of {', '.join(KINDS)}")
    if source.kind == "onnx":
        if (
            source.overrides
            or source.inputs
            or source.input_text
            or source.shapes
            or source.batch
            or source.seq
        ):
            raise SourceError("an ONNX file takes no config overrides or example inputs")
        model = ir.load(source.reference)
        if pipeline:
            from hcc.passes import run

            model = run(model, pipeline)
        return lower(model, options.opset, options.ir_version), None
    if options.weights is not None:
        return lower(
            _export_in_place(source, options, pipeline), options.opset, options.ir_version
        ), None
    loaded = load_module(source)
    from .torch_export import export

    model = export(
        loaded.module,
        loaded.args,
        loaded.kwargs,
        dynamic_shapes=loaded.dynamic_shapes,
        opset=export_opset(options.exporter, options.opset),
        exporter=options.exporter,
        pipeline=pipeline,
    )
    return lower(model, options.opset, options.ir_version), loaded


def _export_in_place(source: ModelSource, options: ExportOptions, pipeline) -> ir.Model:
    from .meta_export import WEIGHTS, export_meta_module
    from .versions import export_opset

    if options.weights not in WEIGHTS:
        raise SourceError(f"weights must be one of {', '.join(WEIGHTS)}, not {options.weights!r}")
    if source.kind not in ("directory", "pretrained"):
        raise SourceError(
            "weights read in place need a checkpoint: a model folder with "
            f".safetensors or a cached hub id, not a {source.kind} source"
        )
    if options.exporter != "dynamo":
        raise SourceError("weights read in place need the dynamo exporter")
    loaded = load_module(source, in_place=True)
    return export_meta_module(
        loaded.module,
        loaded.kwargs,
        loaded.dynamic_shapes,
        local_folder(source),
        opset=export_opset("dynamo", options.opset),
        pipeline=pipeline,
    )


def load_module(source: ModelSource, *, in_place: bool = False):
    """The torch module and example inputs for a non-ONNX source; ``in_place``: a checkpoint's
    module with its parameters on the meta device (see meta_export)."""
    from . import sources

    tokenizer = None
    if source.revision and source.kind != "pretrained":
        raise SourceError(
            f"a revision names a version of a hub id (org/name), not of a {source.kind} source"
        )
    if source.input_text is not None and source.inputs:
        raise SourceError("give example text or declared inputs, not both")
    if source.input_text is not None and source.kind == "config":
        # Refuse before building: a config never brings a tokenizer.
        raise SourceError(
            "example text needs a tokenizer, and a model built from a config "
            "has none; declare the inputs instead"
        )
    if source.kind == "config":
        module = sources.from_config(
            source.reference,
            source.overrides,
            task=source.task,
            seed=source.seed,
            distinct_weights=source.distinct_weights,
        )
    elif source.kind in ("directory", "pretrained"):
        if source.overrides:
            raise SourceError(
                f"a pretrained {'folder' if source.kind == 'directory' else 'model'}"
                " takes no config overrides"
            )
        folder = local_folder(source)
        if in_place:
            from .meta_export import meta_module

            module = meta_module(folder, task=source.task)
        else:
            module = sources.from_directory(folder, task=source.task)
        if source.input_text is not None:  # a broken tokenizer matters only when text needs it
            tokenizer = sources.tokenizer_for(folder)
    else:
        if source.overrides:
            raise SourceError("a factory takes no config overrides")
        loaded = sources.from_factory(source.reference)
        if loaded.args or loaded.kwargs:
            if source.inputs or source.input_text is not None:
                raise SourceError("the factory returned example inputs; do not declare others")
            return loaded
        module, tokenizer = loaded.module, loaded.tokenizer
    if source.input_text is not None:
        kwargs, shapes = _inputs_from_text(module, tokenizer, source)
    else:
        batch, seq = source.batch or 2, source.seq or 16
        kwargs, shapes = sources.example_inputs(
            module, _declared(module, source, batch, seq), seed=source.seed, batch=batch, seq=seq
        )
    return sources.LoadedModule(module, (), kwargs, shapes, tokenizer)


def _declared(module, source: ModelSource, batch: int, seq: int) -> list[InputSpec] | None:
    """The declared inputs, with the sizes of ``source.shapes`` applied (to the default inputs
    when none are declared). A named input that is not among them is added: its first axis is
    the dynamic batch, the others fixed."""
    from . import sources

    if not source.shapes:
        return source.inputs
    declared = [
        InputSpec(s.name, s.dtype, list(s.dims), s.sizes and list(s.sizes))
        for s in (source.inputs or sources.default_inputs(module, batch, seq))
    ]
    by_name = {spec.name: spec for spec in declared}
    for name, sizes in source.shapes.items():
        if any(not isinstance(size, int) or size < 1 for size in sizes) or not sizes:
            raise SourceError(f"input shape of {name!r} must be positive sizes, not {sizes}")
        spec = by_name.get(name)
        if spec is None:
            dtype = "float32"
            declared.append(InputSpec(name, dtype, ["batch", *sizes[1:]], list(sizes)))
            continue
        if len(sizes) != len(spec.dims):
            raise SourceError(
                f"input {name!r} has {len(spec.dims)} dimensions "
                f"({_show_dims(spec.dims)}), not {len(sizes)}"
            )
        spec.sizes = list(sizes)
        spec.dims = [size if isinstance(dim, int) else dim for dim, size in zip(spec.dims, sizes)]
    return declared


def _show_dims(dims) -> str:
    return "x".join(str(d) for d in dims)


def _inputs_from_text(module, tokenizer, source: ModelSource):
    """Tokenize the example text with the source's own tokenizer (batch of two copies, so the
    exporter keeps batch dynamic)."""
    import torch

    if tokenizer is None:
        where = {
            "directory": f"the folder {source.reference}",
            "pretrained": f"the cached model {source.reference}",
            "factory": f"the factory {source.reference} (return a dict with 'tokenizer')",
        }
        raise SourceError(
            f"example text needs a tokenizer, and {where[source.kind]} has none; "
            "declare the inputs instead"
        )
    if source.shapes:
        raise SourceError(
            "with example text the tokenizer makes the inputs; give their size as "
            "batch and sequence length (--input-shape 2x16), not per input"
        )
    if source.seq:
        # A fixed length, as seed 002's --input-shape 1,128 with --input-text: pad or truncate.
        encoded = tokenizer(
            [source.input_text] * (source.batch or 2),
            return_tensors="pt",
            padding="max_length",
            truncation=True,
            max_length=source.seq,
        )
    else:
        encoded = tokenizer([source.input_text] * (source.batch or 2), return_tensors="pt")
    length = encoded["input_ids"].shape[-1] if "input_ids" in encoded else 2
    if length < 2:
        # A dim of size 1 is specialised by the exporter: the sequence would not stay dynamic.
        raise SourceError(
            f"example text {source.input_text!r} gives {length} token; "
            "use a text of at least two tokens"
        )
    parameters = set(_parameters(module))
    kwargs = {k: v for k, v in encoded.items() if not parameters or k in parameters}
    rows = encoded["input_ids"].shape[0] if "input_ids" in encoded else 2
    # An axis of example size 1 cannot stay dynamic (the exporter specialises it): fixed at 1.
    axes = {0: torch.export.Dim("batch")} if rows > 1 else {}
    axes[1] = torch.export.Dim("seq")
    shapes = {k: {a: d for a, d in axes.items() if a < v.dim()} or None for k, v in kwargs.items()}
    return kwargs, shapes


def _parameters(module) -> list[str]:
    import inspect

    try:
        return list(inspect.signature(module.forward).parameters)
    except (TypeError, ValueError):
        return []


def local_folder(source: ModelSource) -> str:
    """The folder a directory or pretrained (hub id) source is read from."""
    if source.kind == "pretrained":
        from .hub import snapshot_folder

        return snapshot_folder(source.reference, source.revision)
    return source.reference


def source_from_path(path: str) -> ModelSource:
    """Guess the kind of a source written on the command line: a file, a folder, a factory,
    a hub id (``org/name``, read from the local cache) or a model type (built from its config).
    """
    from .hub import is_hub_id

    if path.endswith(".onnx") or os.path.isfile(path):
        return ModelSource("onnx", path)
    if os.path.isdir(path):
        return ModelSource("directory", path)
    if ":" in path:
        return ModelSource("factory", path)
    if path.count("/") == 1 and is_hub_id(path):
        # Model types never contain a '/': org/name is a hub id (or a folder not there; the
        # cache error says both).
        return ModelSource("pretrained", path)
    if "/" in path or os.sep in path:
        raise SourceError(f"no such file or folder: {path}")
    return ModelSource("config", path)
