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

from .sources import InputSpec, SourceError

KINDS = ("config", "pretrained", "directory", "factory", "onnx")


@dataclass
class ExportOptions:
    exporter: str = "dynamo"
    opset: int | None = None
    pipeline: str | None = None  # None: the front end's default tagging pipeline


@dataclass
class ModelSource:
    kind: str
    reference: str
    overrides: dict[str, Any] = field(default_factory=dict)
    task: str = "base"
    seed: int = 0
    inputs: list[InputSpec] | None = None
    input_text: str | None = None
    revision: str | None = None  # of a hub id (pretrained): a branch, tag or commit


def load_model(source: ModelSource, options: ExportOptions | None = None) -> ir.Model:
    """Build or read the model named by ``source`` and give every node a scope."""
    return load_with_module(source, options)[0]


def load_with_module(source: ModelSource, options: ExportOptions | None = None):
    """``(model, loaded)``: the model as :func:`load_model` gives it, and the torch module with
    its example inputs it was exported from (``None`` for an ONNX file), to validate against."""
    from .torch_export import DEFAULT_PIPELINE

    options = options or ExportOptions()
    pipeline = DEFAULT_PIPELINE if options.pipeline is None else options.pipeline
    if source.kind not in KINDS:
        raise SourceError(f"unknown model source {source.kind!r}; choose one of {', '.join(KINDS)}")
    if source.kind == "onnx":
        if source.overrides or source.inputs or source.input_text:
            raise SourceError("an ONNX file takes no config overrides or example inputs")
        model = ir.load(source.reference)
        if pipeline:
            from hcc.passes import run

            model = run(model, pipeline)
        return model, None
    loaded = load_module(source)
    from .torch_export import export

    model = export(
        loaded.module,
        loaded.args,
        loaded.kwargs,
        dynamic_shapes=loaded.dynamic_shapes,
        opset=options.opset,
        exporter=options.exporter,
        pipeline=pipeline,
    )
    return model, loaded


def load_module(source: ModelSource):
    """The torch module and example inputs for a non-ONNX source."""
    from . import sources

    tokenizer = None
    if source.revision and source.kind != "pretrained":
        raise SourceError(f"a revision names a version of a hub id (org/name), not of a "
                          f"{source.kind} source")
    if source.input_text is not None and source.inputs:
        raise SourceError("give example text or declared inputs, not both")
    if source.input_text is not None and source.kind == "config":
        # Refuse before building: a config never brings a tokenizer.
        raise SourceError("example text needs a tokenizer, and a model built from a config "
                          "has none; declare the inputs instead")
    if source.kind == "config":
        module = sources.from_config(source.reference, source.overrides, task=source.task,
                                     seed=source.seed)
    elif source.kind in ("directory", "pretrained"):
        if source.overrides:
            raise SourceError(f"a pretrained {'folder' if source.kind == 'directory' else 'model'}"
                              " takes no config overrides")
        folder = local_folder(source)
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
        kwargs, shapes = sources.example_inputs(module, source.inputs, seed=source.seed)
    return sources.LoadedModule(module, (), kwargs, shapes, tokenizer)


def _inputs_from_text(module, tokenizer, source: ModelSource):
    """Tokenize the example text with the source's own tokenizer (batch of two copies, so the
    exporter keeps batch dynamic)."""
    import torch

    if tokenizer is None:
        where = {"directory": f"the folder {source.reference}",
                 "pretrained": f"the cached model {source.reference}",
                 "factory": f"the factory {source.reference} (return a dict with 'tokenizer')"}
        raise SourceError(f"example text needs a tokenizer, and {where[source.kind]} has none; "
                          "declare the inputs instead")
    encoded = tokenizer([source.input_text] * 2, return_tensors="pt")
    length = encoded["input_ids"].shape[-1] if "input_ids" in encoded else 2
    if length < 2:
        # A dim of size 1 is specialised by the exporter: the sequence would not stay dynamic.
        raise SourceError(f"example text {source.input_text!r} gives {length} token; "
                          "use a text of at least two tokens")
    parameters = set(_parameters(module))
    kwargs = {k: v for k, v in encoded.items() if not parameters or k in parameters}
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq")
    shapes = {k: {0: batch, 1: seq} if v.dim() >= 2 else {0: batch} for k, v in kwargs.items()}
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
