"""What the build report shows, gathered from a build's folder: the manifest, the models it
names and the build record (:mod:`.record`).

Three kinds of folder are understood: a split (``manifest.json`` of format ``hcc.pieces/1``,
the whole model beside its pieces), a KV-cache build (``hcc.llm/1``: the pieces are the model)
and a plain build (one ``NAME.onnx``). Models are read with ``hcc.ir.load``, which leaves the
weights on disk: sizes come from the tensors' types and shapes, so a large model costs no more
to report on than a small one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import hcc.ir as ir
from hcc.inspect.analyze import analyze

from .record import read_record

PIECES_FORMAT = "hcc.pieces/1"
LLM_FORMAT = "hcc.llm/1"


@dataclass
class Module:
    """One module of the tree with what its subtree holds."""

    name: str  # class segment: GPT2Block.0
    path: str  # module path: transformer.h.0 ("" for the root)
    tag: str
    nodes: int
    own_nodes: int
    parameters: int
    bytes: int
    dtypes: dict[str, int]  # weight bytes per element type
    children: list[Module] = field(default_factory=list)


@dataclass
class Piece:
    name: str
    file: str
    nodes: int | None
    copied: int | None  # helper nodes copied in from other pieces
    bytes: int  # weight bytes the piece reads
    parameters: int
    dtypes: dict[str, int]
    inputs: list[dict]  # {"name", "dtype", "shape"}
    outputs: list[dict]
    scopes: list[str]


@dataclass
class Report:
    title: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    tree: list[Module] = field(default_factory=list)
    tree_note: str = ""
    pieces: list[Piece] = field(default_factory=list)
    pieces_note: str = ""
    validation: dict | None = None  # as recorded by the build (record["validation"])
    pipeline: list[dict] | None = None  # as recorded by the build
    interface: dict | None = None  # KV-cache builds: the manifest's interface
    warnings: list[str] = field(default_factory=list)


def gather_model(model: ir.Model, title: str) -> Report:
    """The tree and sizes of one model (``hcc analyze --format html``)."""
    report = Report(title)
    _add_tree(report, [model])
    report.facts.append(("model", title))
    return report


def gather_folder(directory: str, record: dict | None = None) -> Report:
    """Everything about the build in ``directory``; ``record`` defaults to the one it holds."""
    manifest = _read_json(os.path.join(directory, "manifest.json"))
    name = (record or {}).get("model") or (manifest or {}).get("model")
    if record is None:
        record = read_record(directory, name if isinstance(name, str) else None)
    kind = (manifest or {}).get("format")
    if kind == LLM_FORMAT:
        report = _kv_cache(directory, manifest)
    elif kind == PIECES_FORMAT:
        report = _split(directory, manifest)
    elif manifest is not None:
        raise ir.HccError(
            f"manifest.json has format {kind!r}; hcc reports on {PIECES_FORMAT} and {LLM_FORMAT}",
            location=directory,
        )
    else:
        report = _plain(directory, name if isinstance(name, str) else None)
    if record:
        report.facts[:0] = [
            (label, str(record[key]))
            for label, key in (("spec", "spec"), ("source", "source"))
            if record.get(key)
        ]
        pipeline = record.get("pipeline")
        report.pipeline = pipeline if isinstance(pipeline, list) else None
        validation = record.get("validation")
        report.validation = validation if isinstance(validation, dict) else None
        report.warnings = [str(w) for w in record.get("warnings") or []]
    return report


# -- kinds of build ------------------------------------------------------------------------------


def _plain(directory: str, name: str | None) -> Report:
    if name is not None and os.path.isfile(os.path.join(directory, f"{name}.onnx")):
        file = f"{name}.onnx"
    else:
        found = sorted(f for f in _listdir(directory) if f.endswith(".onnx"))
        if len(found) != 1:
            problem = "holds no .onnx model" if not found else f"holds {len(found)} models"
            raise ir.HccError(
                f"{problem} and no manifest.json; give the folder of one build",
                location=directory,
            )
        file = found[0]
    report = Report(file[: -len(".onnx")])
    _add_tree(report, [_load(os.path.join(directory, file))])
    report.facts.append(("model", file))
    return report


def _split(directory: str, manifest: dict) -> Report:
    from hcc.pieces import read_manifest

    manifest = read_manifest(directory)  # checks every field the report reads
    report = Report(str(manifest.get("model") or "model"))
    whole = manifest.get("whole")
    if whole and os.path.isfile(os.path.join(directory, whole)):
        _add_tree(report, [_load(os.path.join(directory, whole))])
        report.facts.append(("whole model", whole))
    else:
        _add_tree(report, [_load(e["path"]) for e in manifest["pieces"]])
        report.tree_note = "The whole model is not in the folder: the tree sums the pieces."
    for entry in manifest["pieces"]:
        report.pieces.append(_piece(entry, entry["path"]))
    if manifest.get("weights"):
        report.pieces_note = (
            f"Weights are stored once in {manifest['weights']}; a tensor read by two pieces "
            "counts for both."
        )
    return report


def _kv_cache(directory: str, manifest: dict) -> Report:
    pieces = manifest.get("pieces")
    if not isinstance(pieces, dict) or not pieces:
        raise ir.HccError("damaged manifest: pieces must be an object", location=directory)
    report = Report(str(manifest.get("model") or "model"))
    models = {}
    for name, entry in pieces.items():
        file = entry.get("file") if isinstance(entry, dict) else None
        if not isinstance(file, str) or os.path.basename(file) != file:
            raise ir.HccError(f"damaged manifest: piece {name!r} has no file", location=directory)
        models[name] = _load(os.path.join(directory, file))
        report.pieces.append(_piece({"name": name, **entry}, None, models[name]))
    # Decode blocks read the same weights as the prefill blocks: the tree counts each once.
    prefill = [m for name, m in models.items() if not name.startswith("block_cache")]
    _add_tree(report, prefill or list(models.values()))
    report.tree_note = "The tree sums the prefill pieces; the decode blocks share their weights."
    stored = [
        str(f) for f in [manifest.get("weights"), *(manifest.get("linked_weights") or [])] if f
    ]
    report.pieces_note = (
        f"Weights are stored once in {', '.join(stored) or 'the pieces'}; prefill and decode "
        "blocks of a layer read the same tensors."
    )
    options = manifest.get("options") if isinstance(manifest.get("options"), dict) else {}
    report.interface = {
        "pieces": pieces,
        "layout": options.get("cache_layout", ""),
        "facts": [
            (key, str(manifest[key]))
            for key in ("architecture", "layers", "kv_heads", "head_dim")
            if key in manifest
        ]
        + [(key, str(value)) for key, value in options.items()],
    }
    return report


# -- pieces and the tree -----------------------------------------------------------------------


def _piece(entry: dict, path: str | None, model: ir.Model | None = None) -> Piece:
    model = model if model is not None else _load(path)
    size = parameters = 0
    dtypes: dict[str, int] = {}
    for value in model.graph.initializers.values():
        tensor = value.const_value
        size += tensor.nbytes
        parameters += tensor.size
        kind = _dtype(tensor.dtype)
        dtypes[kind] = dtypes.get(kind, 0) + tensor.nbytes
    return Piece(
        name=str(entry["name"]),
        file=str(entry.get("file", "")),
        nodes=entry.get("nodes", len(model.graph)),
        copied=entry.get("copied_nodes"),
        bytes=size,
        parameters=parameters,
        dtypes=dtypes,
        inputs=list(entry.get("inputs", [])),
        outputs=list(entry.get("outputs", [])),
        scopes=[str(s) for s in entry.get("scopes", [])],
    )


def _add_tree(report: Report, models: list[ir.Model]) -> None:
    """The module tree of ``models`` (one model, or pieces that together make one), with the
    totals in ``report.totals``."""
    merged: dict[Any, Module] = {}
    parents: dict[Any, Any] = {}
    totals = dict(nodes=0, tagged=0, initializers=0, bytes=0, parameters=0)
    for model in models:
        analysis = analyze(model)
        totals["nodes"] += analysis.nodes
        totals["tagged"] += analysis.tagged
        totals["initializers"] += analysis.initializers
        totals["bytes"] += analysis.parameter_bytes
        totals["parameters"] += sum(v.const_value.size for v in model.graph.initializers.values())
        for stats in analysis.scopes:
            scope = stats.scope
            module = merged.get(scope)
            if module is None:
                merged[scope] = Module(
                    scope.class_name,
                    scope.module_path,
                    scope.tag,
                    stats.nodes,
                    stats.own_nodes,
                    stats.parameters,
                    stats.parameter_bytes,
                    dict(stats.dtype_bytes),
                )
                parents[scope] = scope.parent
                continue
            module.nodes += stats.nodes
            module.own_nodes += stats.own_nodes
            module.parameters += stats.parameters
            module.bytes += stats.parameter_bytes
            for kind, size in stats.dtype_bytes.items():
                module.dtypes[kind] = module.dtypes.get(kind, 0) + size
    for scope, module in merged.items():
        parent = parents[scope]
        if parent in merged:
            merged[parent].children.append(module)
        else:
            report.tree.append(module)
    report.totals = totals


def _load(path: str) -> ir.Model:
    from hcc.inspect._common import load_model

    return load_model(path)


def _dtype(dtype) -> str:
    return dtype.name.lower() if isinstance(dtype, ir.DataType) else f"type {dtype}"


def _listdir(directory: str) -> list[str]:
    try:
        return os.listdir(directory)
    except OSError as error:
        raise ir.HccError(f"cannot read the folder: {error.strerror}", location=directory) from None


def _read_json(path: str) -> dict | None:
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError, RecursionError) as error:
        raise ir.HccError(f"cannot read manifest: {error}", location=path) from None
    if not isinstance(data, dict):
        raise ir.HccError("not an hcc manifest (not a JSON object)", location=path)
    return data
