"""Chaining pieces in onnxruntime and comparing with the whole model.

``validate_pieces(manifest, whole)`` feeds the same generated inputs to the whole model and to
the pieces in order (each piece takes its inputs by name from the model inputs and the earlier
pieces' outputs) and reports the largest absolute deviation per model output.

Both sides run with onnxruntime's *basic* graph optimizations (constant folding and the like)
by default. Its extended fusions depend on which tensors a graph exposes: ``Add`` followed by
``LayerNormalization`` becomes one ``SkipLayerNormalization`` in the whole model but not when the
sum is a piece's output, and the fused kernel rounds differently (GPT-2's head split off as its
own piece: 3e-6). With ``optimization="all"`` the comparison includes those effects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

import hcc.ir as ir

from .pieces import read_manifest


@dataclass
class Deviation:
    output: str
    max_abs: float


def generated_inputs(session, *, batch: int = 2, seq: int = 16, seed: int = 0,
                     vocab: int = 1000) -> dict[str, np.ndarray]:
    """Inputs for an onnxruntime session: symbolic dims become ``batch`` (first) or ``seq``;
    integer inputs get token ids below ``vocab`` (ones for masks), floats normal noise."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for meta in session.get_inputs():
        shape = [d if isinstance(d, int) else (batch if i == 0 else seq)
                 for i, d in enumerate(meta.shape)]
        kind = meta.type
        if "int" in kind:
            dtype = np.int64 if "int64" in kind else np.int32
            if "mask" in meta.name:
                feeds[meta.name] = np.ones(shape, dtype)
            else:
                feeds[meta.name] = rng.integers(0, vocab, shape).astype(dtype)
        elif "bool" in kind:
            feeds[meta.name] = np.ones(shape, bool)
        else:
            dtype = np.float16 if "float16" in kind else np.float32
            feeds[meta.name] = rng.standard_normal(shape).astype(dtype)
    return feeds


OPTIMIZATIONS = ("disabled", "basic", "extended", "all")


def session(path: str, optimization: str = "basic"):
    """A CPU onnxruntime session at the given graph optimization level."""
    import onnxruntime as ort

    levels = {
        "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    if optimization not in levels:
        raise ir.HccError(f"optimization must be one of {', '.join(OPTIMIZATIONS)}, "
                          f"not {optimization!r}")
    options = ort.SessionOptions()
    options.graph_optimization_level = levels[optimization]
    options.log_severity_level = 3
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def run_pieces(manifest_path: str, feeds: dict[str, np.ndarray], *,
               optimization: str = "basic") -> dict[str, np.ndarray]:
    """Run the pieces of a manifest in order; returns every tensor they computed, by name."""
    manifest = read_manifest(manifest_path)
    values = dict(feeds)
    for entry in manifest["pieces"]:
        piece = session(entry["path"], optimization)
        missing = [i.name for i in piece.get_inputs() if i.name not in values]
        if missing:
            raise ir.HccError(f"piece {entry['name']!r} needs {missing[0]!r}, which no model "
                              "input or earlier piece provides", location=entry["path"])
        outputs = piece.run(None, {i.name: values[i.name] for i in piece.get_inputs()})
        values.update({o.name: v for o, v in zip(piece.get_outputs(), outputs)})
    return values


def validate_pieces(manifest_path: str, whole_path: str | None = None, *, seed: int = 0,
                    batch: int = 2, seq: int = 16,
                    optimization: str = "basic") -> list[Deviation]:
    """Largest absolute deviation of the chained pieces from the whole model, per output.
    ``whole_path`` defaults to the whole model written beside the pieces."""
    if whole_path is None:
        manifest = read_manifest(manifest_path)
        whole_path = os.path.join(manifest["folder"], manifest["whole"])
    whole = session(whole_path, optimization)
    feeds = generated_inputs(whole, batch=batch, seq=seq, seed=seed)
    expected = whole.run(None, feeds)
    values = run_pieces(manifest_path, feeds, optimization=optimization)
    deviations = []
    for meta, want in zip(whole.get_outputs(), expected):
        if meta.name not in values:
            raise ir.HccError(f"no piece computes the model output {meta.name!r}",
                              location=manifest_path)
        got = values[meta.name]
        if got.shape != want.shape:
            raise ir.HccError(f"output {meta.name!r}: pieces give shape {got.shape}, "
                              f"the whole model {want.shape}", location=manifest_path)
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
        deviations.append(Deviation(meta.name, float(diff.max()) if diff.size else 0.0))
    return deviations
