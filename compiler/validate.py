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

import numpy as np

import hcc.ir as ir

from .deviation import Deviation, deviation
from .ort import OPTIMIZATIONS, Session, generated_inputs
from .pieces import read_manifest

__all__ = ["OPTIMIZATIONS", "Deviation", "generated_inputs", "run_pieces", "session",
           "validate_pieces"]

LABELS = ("the whole model", "the pieces")


def session(path: str, optimization: str = "basic"):
    """An onnxruntime CPU session at the given graph optimization level (a model onnxruntime
    refuses is an HccError naming the file)."""
    return Session(path, optimization=optimization).session


def run_pieces(manifest_path: str, feeds: dict[str, np.ndarray], *,
               optimization: str = "basic") -> dict[str, np.ndarray]:
    """Run the pieces of a manifest in order; returns every tensor they computed, by name."""
    manifest = read_manifest(manifest_path)
    values = dict(feeds)
    for entry in manifest["pieces"]:
        piece = Session(entry["path"], optimization=optimization,
                        what=f"piece {entry['name']!r}")
        missing = [name for name in piece.input_names if name not in values]
        if missing:
            raise ir.HccError(f"piece {entry['name']!r} needs {missing[0]!r}, which no model "
                              "input or earlier piece provides", location=entry["path"])
        values.update(piece.run({name: values[name] for name in piece.input_names}))
    return values


def validate_pieces(manifest_path: str, whole_path: str | None = None, *, seed: int = 0,
                    batch: int = 2, seq: int = 16,
                    optimization: str = "basic") -> list[Deviation]:
    """The deviation of the chained pieces from the whole model, per model output (see
    :mod:`hcc.deviation`: a NaN, a shape or a dtype that differ is a problem, not a number).
    ``whole_path`` defaults to the whole model written beside the pieces."""
    manifest = read_manifest(manifest_path)
    if whole_path is None:
        whole_path = os.path.join(manifest["folder"], manifest["whole"])
    whole = Session(whole_path, optimization=optimization, what="the whole model")
    feeds = generated_inputs(whole, ir.load(whole_path), batch=batch, seq=seq, seed=seed)
    expected = whole.run(feeds)
    values = run_pieces(manifest_path, feeds, optimization=optimization)
    deviations = []
    for name, want in expected.items():
        if name not in values:
            raise ir.HccError(f"no piece computes the model output {name!r}",
                              location=manifest_path)
        deviations.append(deviation(name, want, values[name], LABELS))
    return deviations
