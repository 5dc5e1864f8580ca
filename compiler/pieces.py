"""Writing a split model: one ONNX file per piece and ``manifest.json``.

The manifest lists the pieces in execution order with their files, boundary tensors (name,
dtype, shape) and scopes, plus the model's own inputs and outputs, so a runtime can chain the
pieces without reading code. With ``shared_weights = share`` (the default of
``internalize-constants``) all pieces keep their large tensors in one external-data file and a
weight used by several pieces is stored once; with ``duplicate`` each piece has its own file.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from typing import Any

import hcc.ir as ir
from hcc.ir.onnx import shared_data_name
from hcc.ir.reading import read_bytes
from hcc.passes.pieces import ONLY_KEY, boundaries, boundary_types, extract_piece, pieces_of

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "hcc.pieces/1"
SHARED_WEIGHTS_KEY = "hcc.shared_weights"


def piece_file(index: int, name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return f"{index:02d}-{safe}.onnx"


def write_pieces(
    model: ir.Model,
    directory: str,
    *,
    name: str = "model",
    size_threshold: int = 1024,
    shared_weights: str | None = None,
    progress=None,
) -> list[str]:
    """Write every piece of a split model and the manifest; returns the paths written.

    Every piece is extracted before anything is written: an error leaves the folder as it was
    (not even created). Weights are never read here: the writer copies their bytes from the
    model's external-data file to the new one, so memory stays small whatever the model's size.
    """
    pieces = pieces_of(model)
    shared = shared_weights or model.meta.get(SHARED_WEIGHTS_KEY, "share")
    if shared not in ("share", "duplicate", "error"):
        raise ir.HccError(f"shared_weights must be share, duplicate or error, not {shared!r}")
    items = []
    entries = []
    edges = boundaries(model, pieces)
    # A piece left with nothing to compute (every helper it held is copied where it is used)
    # is not written.
    kept = [(piece, edge) for piece, edge in zip(pieces, edges) if edge.nodes]
    only = model.meta.get(ONLY_KEY)
    if only:
        # Boundaries are those of the whole cut: each written piece takes what the whole model
        # hands it, so it stands alone whichever others are written.
        kept = [(piece, edge) for piece, edge in kept if piece.name in only]
        if not kept:
            raise ir.HccError(f"no piece to write: only {only} hold nodes of their own")
    # Boundary tensors the model leaves untyped get their types by inference, once for all.
    types = boundary_types(model, [edge for _, edge in kept])
    made_by = {v.name: p.name for p, e in zip(pieces, edges) if e.nodes for v in e.outputs}
    for index, (piece, edge) in enumerate(kept):
        piece_model = extract_piece(model, piece, pieces, edge, types)
        filename = piece_file(index, piece.name)
        items.append((piece_model, filename))
        sources = {v.name: v for v in edge.inputs}
        members = set(edge.nodes)
        entries.append(
            {
                "name": piece.name,
                "file": filename,
                "inputs": [
                    _describe(v) | _source(sources.get(v.name), members, made_by)
                    for v in piece_model.graph.inputs
                ],
                "outputs": [_describe(v) for v in piece_model.graph.outputs],
                "scopes": _scopes(piece, edge),
                "joined": list(piece.joined),
                "nodes": len(edge.nodes),
                "copied_nodes": len(set(edge.nodes) & set(piece.copied)),
            }
        )
    # The whole model is written beside its pieces (validation and combine compare with it);
    # with shared weights it reads the same data file, so its weights cost no extra disk.
    items.insert(0, (model, f"{name}.onnx"))
    os.makedirs(directory, exist_ok=True)
    data_file = None
    if shared == "share":  # its alternate name when the pieces being replaced read it
        data_file = shared_data_name(directory, [n for _, n in items], f"{name}.weights.data")
    manifest = {
        "format": MANIFEST_FORMAT,
        "model": name,
        "inputs": [_describe(v) for v in model.graph.inputs],
        "outputs": [_describe(v) for v in model.graph.outputs],
        "whole": f"{name}.onnx",
        "weights": data_file,
        "pieces": entries,
    }
    if only:
        manifest["partial"] = True  # the pieces do not chain: each reads the whole's tensors
    # One group: the manifest appears with the pieces it lists, never before or after them.
    return ir.save_many(
        items,
        directory,
        external_data=data_file,
        size_threshold=size_threshold,
        texts={MANIFEST: json.dumps(manifest, indent=2) + "\n"},
        progress=progress,  # (bytes written, bytes to write) of the weights
    )


def _scopes(piece, edge) -> list[str]:
    """The scopes a piece was chosen for, then those of the embeddings/head nodes it holds
    (helpers copied from other pieces are not listed: they belong where they came from)."""
    tags = {s.tag: None for s in piece.scopes}
    chosen = list(piece.scopes)
    copied = set(piece.copied)
    for node in edge.nodes:
        scope = node.scope
        if node in copied or scope.is_unknown or any(scope.is_within(s) for s in chosen):
            continue
        tags.setdefault(scope.tag, None)
    return list(tags)


def _source(value: ir.Value | None, members: set[ir.Node], made_by: dict[str, str]) -> dict:
    """Where a piece input comes from and what reads it: ``from``, the piece that makes it
    (None for a model input); ``module``, the module whose output it is, the outermost one
    around its maker that holds none of its readers here (a decoder layer's cross-attention
    input is ``model.encoder``'s output); ``read_by``, the modules of this piece (``members``)
    that read it, the cross-attention among them, in the order of their first read. A tensor
    made and read inside one module (a decoder's embeddings, which its first layer reads) has
    ``module`` None."""
    if value is None:
        return {}
    readers = list(dict.fromkeys(n.scope.module_path for n in value.consumers() if n in members))
    if value.producer is None:
        return {"from": None, "read_by": readers}
    module = None
    path = "" if value.producer.scope.is_unknown else value.producer.scope.module_path
    parts = path.split(".") if path else []
    for i in range(1, len(parts) + 1):
        candidate = ".".join(parts[:i])
        if not any(r == candidate or r.startswith(candidate + ".") for r in readers):
            module = candidate
            break
    return {"from": made_by.get(value.name), "module": module, "read_by": readers}


def _describe(value: ir.Value) -> dict[str, Any]:
    dtype = value.dtype
    shape = value.shape
    return {
        "name": value.name,
        "dtype": dtype.name.lower() if isinstance(dtype, ir.DataType) else dtype,
        "shape": None if shape is None else list(shape),
    }


def combine_files(inputs: Sequence[str], output: str) -> ir.Model:
    """Merge pieces into one model written to ``output`` (with its data file) and return it.

    ``inputs`` is one manifest (``manifest.json`` or its folder), whose pieces, model inputs and
    model outputs it names, or piece files in execution order. The output may not be one of
    the inputs or a file they read; it is checked before anything is loaded.
    """
    from hcc.passes.pieces import combine_models

    from .outputs import model_files, refuse_inputs

    model_inputs = model_outputs = None
    paths = list(inputs)
    if len(paths) == 1 and (paths[0].endswith(".json") or os.path.isdir(paths[0])):
        manifest = read_manifest(paths[0])
        paths = [entry["path"] for entry in manifest["pieces"]]
        model_inputs = [v["name"] for v in manifest["inputs"]]
        model_outputs = [v["name"] for v in manifest["outputs"]]
    output = os.path.abspath(output)
    refuse_inputs(model_files(output), list(inputs), readers=paths)
    models = [ir.load(p) for p in paths]
    combined = combine_models(models, model_inputs=model_inputs, model_outputs=model_outputs)
    os.makedirs(os.path.dirname(output), exist_ok=True)
    ir.save(combined, output, external_data=f"{os.path.basename(output)}.data")
    return combined


def read_manifest(path: str) -> dict[str, Any]:
    """The manifest at ``path`` (a file or the folder holding it), checked for its format and
    for the type of every field hcc reads, so a damaged manifest is one clear error."""
    if os.path.isdir(path):
        path = os.path.join(path, MANIFEST)
    try:
        manifest = json.loads(read_bytes(path, what="manifest", error=ir.HccError))
    except ir.HccError as error:
        if error.message == "no such file":
            raise ir.HccError("manifest not found", location=path) from None
        raise
    except ValueError as error:  # not JSON, or not UTF-8
        raise ir.HccError(f"cannot read manifest: {error}", location=path) from None
    except RecursionError:
        raise ir.HccError("cannot read manifest: nested too deeply", location=path) from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ir.HccError(
            f"not an hcc manifest (format {MANIFEST_FORMAT!r} expected)", location=path
        )
    _check_fields(manifest, path)
    folder = os.path.dirname(os.path.abspath(path))
    manifest["folder"] = folder
    for entry in manifest["pieces"]:
        _check_inside(entry["file"], path)
        entry["path"] = os.path.join(folder, entry["file"])
    if manifest.get("whole"):
        _check_inside(manifest["whole"], path)
    return manifest


def _check_fields(manifest: dict[str, Any], path: str) -> None:
    def fail(where: str, wanted: str, found: Any = _MISSING) -> None:
        problem = (
            "is missing"
            if found is _MISSING
            else f"must be {wanted}, not {type(found).__name__} {_short(found)}"
        )
        raise ir.HccError(f"damaged manifest: {where} {problem}", location=path)

    def values(where: str, items: Any) -> None:
        if not isinstance(items, list):
            fail(where, "a list", items)
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                fail(f"{where}[{i}]", "an object with a string 'name'", item)

    for key in ("inputs", "outputs", "pieces"):
        if key not in manifest:
            fail(key, "")
    for key in ("inputs", "outputs"):
        values(key, manifest[key])
    for key in ("whole", "weights"):
        if manifest.get(key) is not None and not isinstance(manifest[key], str):
            fail(key, "a file name", manifest[key])
    pieces = manifest["pieces"]
    if not isinstance(pieces, list):
        fail("pieces", "a list", pieces)
    for i, entry in enumerate(pieces):
        if not isinstance(entry, dict):
            fail(f"pieces[{i}]", "an object", entry)
        for key in ("name", "file"):
            if not isinstance(entry.get(key), str):
                fail(f"pieces[{i}].{key}", "a string", entry.get(key, _MISSING))
        for key in ("inputs", "outputs"):
            values(f"pieces[{i}].{key}", entry.get(key, []))


_MISSING = object()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_inside(file: str, manifest_path: str) -> None:
    if not file or os.path.isabs(file) or ".." in file.replace("\\", "/").split("/"):
        raise ir.HccError(
            f"piece file {file!r} is not inside the manifest's folder", location=manifest_path
        )
