"""Chaining pieces in onnxruntime and comparing with the whole model.

``validate_pieces(manifest, whole)`` feeds the same generated inputs to the whole model and to
the pieces in order (each piece takes its inputs by name from the model inputs and the earlier
pieces' outputs) and reports the deviation of every model output (:mod:`hcc.deviation`).
Generated inputs stay within the model's tables (:func:`hcc.ort.generated_inputs`).

Both sides run with onnxruntime's *basic* graph optimizations (constant folding and the like)
by default. Its extended fusions depend on which tensors a graph exposes: ``Add`` followed by
``LayerNormalization`` becomes one ``SkipLayerNormalization`` in the whole model but not when the
sum is a piece's output, and the fused kernel rounds differently (GPT-2's head split off as its
own piece: 3e-6). With ``optimization="all"`` the comparison includes those effects.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

import hcc.ir as ir

from .deviation import Deviation, deviation
from .ort import OPTIMIZATIONS, Session, generated_inputs
from .pieces import read_manifest

__all__ = [
    "OPTIMIZATIONS",
    "Deviation",
    "generated_inputs",
    "run_pieces",
    "session",
    "validate_boundaries",
    "validate_pieces",
]

LABELS = ("the whole model", "the pieces")


def session(path: str, optimization: str = "basic"):
    """An onnxruntime CPU session at the given graph optimization level (a model onnxruntime
    refuses is an HccError naming the file)."""
    return Session(path, optimization=optimization).session


def run_pieces(
    manifest_path: str,
    feeds: dict[str, np.ndarray],
    *,
    optimization: str = "basic",
    on_piece=None,
) -> dict[str, np.ndarray]:
    """Run the pieces of a manifest in order; returns every tensor they computed, by name.
    The pieces of a partial manifest (``split(only = ...)``) do not chain: each runs on the
    tensors the whole model computes for its inputs. ``on_piece(done, total, name)`` is told
    each piece that ran (a progress report)."""
    manifest = read_manifest(manifest_path)
    if manifest.get("partial"):
        return _run_partial(manifest, feeds, optimization)[1]
    values = dict(feeds)
    for index, entry in enumerate(manifest["pieces"]):
        piece = Session(entry["path"], optimization=optimization, what=f"piece {entry['name']!r}")
        missing = [name for name in piece.input_names if name not in values]
        if missing:
            raise ir.HccError(
                f"piece {entry['name']!r} needs {missing[0]!r}, which no model "
                "input or earlier piece provides",
                location=entry["path"],
            )
        values.update(piece.run({name: values[name] for name in piece.input_names}))
        if on_piece is not None:
            on_piece(index + 1, len(manifest["pieces"]), entry["name"])
    return values


def validate_pieces(
    manifest_path: str,
    whole_path: str | None = None,
    *,
    seed: int = 0,
    batch: int = 2,
    seq: int = 16,
    optimization: str = "basic",
    on_piece=None,
) -> list[Deviation]:
    """The deviation of the chained pieces from the whole model, per model output (see
    :mod:`hcc.deviation`: a NaN, a shape or a dtype that differ is a problem, not a number).
    ``whole_path`` defaults to the whole model written beside the pieces."""
    manifest = read_manifest(manifest_path)
    if whole_path is None:
        whole_path = os.path.join(manifest["folder"], manifest["whole"])
    whole = Session(whole_path, optimization=optimization, what="the whole model")
    feeds = generated_inputs(whole, ir.load(whole_path), batch=batch, seq=seq, seed=seed)
    if manifest.get("partial"):
        # Each piece against the whole model's own tensors at its boundary.
        expected, computed = _run_partial(manifest, feeds, optimization, whole_path)
        return [
            deviation(
                f"{entry['name']}: {out['name']}",
                expected[out["name"]],
                computed[out["name"]],
                LABELS,
            )
            for entry in manifest["pieces"]
            for out in entry["outputs"]
        ]
    expected = whole.run(feeds)
    values = run_pieces(manifest_path, feeds, optimization=optimization, on_piece=on_piece)
    deviations = []
    for name, want in expected.items():
        if name not in values:
            raise ir.HccError(
                f"no piece computes the model output {name!r}", location=manifest_path
            )
        deviations.append(deviation(name, want, values[name], LABELS))
    return deviations


def validate_boundaries(
    manifest_path: str,
    whole_path: str | None = None,
    *,
    seed: int = 0,
    batch: int = 2,
    seq: int = 16,
    optimization: str = "basic",
    on_piece=None,
) -> list[Deviation]:
    """The deviation of every tensor that crosses a cut: each piece output the model does not
    return, as the chained pieces compute it against the same tensor in the whole model
    (named ``piece: tensor``). Same inputs as :func:`validate_pieces` for the same seed, so a
    deviation of an output can be traced to the boundary where it appeared."""
    manifest = read_manifest(manifest_path)
    if whole_path is None:
        whole_path = os.path.join(manifest["folder"], manifest["whole"])
    if manifest.get("partial"):
        return []  # validate_pieces already compares each piece's outputs with the whole model
    model_outputs = {v["name"] for v in manifest["outputs"]}
    crossing = [
        (entry["name"], out["name"])
        for entry in manifest["pieces"]
        for out in entry["outputs"]
        if out["name"] not in model_outputs
    ]
    if not crossing:
        return []
    whole = Session(whole_path, optimization=optimization, what="the whole model")
    feeds = generated_inputs(whole, ir.load(whole_path), batch=batch, seq=seq, seed=seed)
    del whole
    computed = run_pieces(manifest_path, feeds, optimization=optimization, on_piece=on_piece)
    expected = whole_values(
        whole_path, [name for _, name in crossing], feeds, optimization=optimization
    )
    return [
        deviation(f"{piece}: {name}", expected[name], computed[name], LABELS)
        for piece, name in crossing
    ]


def whole_values(
    whole_path: str, names: list[str], feeds: dict[str, np.ndarray], *, optimization: str = "basic"
) -> dict[str, np.ndarray]:
    """The tensors ``names`` as the whole model computes them for ``feeds`` (made graph outputs
    of a temporary copy), with the feeds themselves."""
    model = ir.load(whole_path)
    by_name = {v.name: v for v in model.graph.values()}
    for name in names:
        if name in feeds or any(v.name == name for v in model.graph.outputs):
            continue
        if name not in by_name:
            raise ir.HccError(
                f"the whole model has no tensor {name!r}, which a piece reads or "
                "writes; is it the model the pieces were cut from?",
                location=whole_path,
            )
        model.graph.outputs.append(by_name[name])
    with _scratch(whole_path) as folder:
        path = os.path.join(folder, "whole.onnx")
        # Beside the model, its weights file is hard-linked rather than copied.
        ir.save(model, path, external_data="whole.onnx.data", weights="auto")
        values = Session(path, optimization=optimization, what="the whole model").run(feeds)
    return {**feeds, **values}


def _scratch(near: str):
    """A temporary folder beside ``near`` (same file system: weights can be linked), or in the
    system's temporary folder when that one cannot be written."""
    try:
        return tempfile.TemporaryDirectory(prefix=".hcc-whole-", dir=os.path.dirname(near) or ".")
    except OSError:
        return tempfile.TemporaryDirectory(prefix="hcc-whole-")


def _run_partial(
    manifest: dict, feeds: dict[str, np.ndarray], optimization: str, whole_path: str | None = None
) -> tuple[dict, dict]:
    """(the whole model's tensors, the pieces' outputs) for a partial manifest."""
    if whole_path is None:
        whole_path = os.path.join(manifest["folder"], manifest["whole"])
    names = [
        v["name"] for entry in manifest["pieces"] for v in [*entry["inputs"], *entry["outputs"]]
    ]
    expected = whole_values(whole_path, names, feeds, optimization=optimization)
    computed = dict(feeds)
    for entry in manifest["pieces"]:
        piece = Session(entry["path"], optimization=optimization, what=f"piece {entry['name']!r}")
        computed.update(piece.run({name: expected[name] for name in piece.input_names}))
    return expected, computed
