"""Running models in onnxruntime for comparisons: sessions exposing inner values, inputs.

Sessions, generated inputs and deviations are hcc's own (:mod:`hcc.ort`, :mod:`hcc.deviation`),
shared with validation; this module adds what compare and bisect need on top of them.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

import hcc.ir as ir
from hcc.ir import Model

from ..deviation import Deviation, deviation
from ..ort import Session, generated_inputs

__all__ = [
    "Deviation",
    "Session",
    "deviation",
    "feeds_for",
    "generated_feeds",
    "magnitude",
    "session_with_outputs",
]


def session_with_outputs(path: str, names: list[str], *, optimize: bool = False) -> Session:
    """A session of a copy of the model at ``path`` whose graph also outputs ``names``.

    The copy is written with hcc.ir into a temporary folder that lives as long as the session.
    """
    model = ir.load(path)
    by_name = {v.name: v for v in model.graph.values() if v.name}
    present = {v.name for v in model.graph.outputs}
    for name in names:
        if name not in present and name in by_name:
            model.graph.outputs.append(by_name[name])
            present.add(name)
    folder = tempfile.TemporaryDirectory(prefix="hcc-inspect-")
    copy = os.path.join(folder.name, "model.onnx")
    ir.save(model, copy, external_data="model.onnx.data")
    # Bisect compares intermediate values: fusions could make two sessions compute a value
    # differently, so both run the graph as written unless asked otherwise.
    return Session(
        copy,
        optimization="basic" if optimize else "disabled",
        keep=folder,
        what="the model (with inner values exposed)",
        location=path,
    )


def generated_feeds(
    session: Session, model: Model, *, batch: int = 2, seq: int = 16, seed: int = 0
) -> dict[str, np.ndarray]:
    """Inputs as ``hcc validate`` makes them: integer inputs stay inside the tables they index
    (an id past the rows of an embedding table would make the run fail)."""
    return generated_inputs(session, model, batch=batch, seq=seq, seed=seed)


def feeds_for(session: Session, feeds: dict) -> dict:
    """``feeds`` keyed for ``session``: by input name, else (same count) by position."""
    names = session.input_names
    if set(names) == set(feeds):
        return {n: feeds[n] for n in names}
    if len(names) == len(feeds):
        return dict(zip(names, feeds.values()))
    raise ir.HccError(
        f"the models take different inputs ({', '.join(feeds)} vs "
        f"{', '.join(names)}); they cannot run on the same data"
    )


def magnitude(array) -> float:
    """The largest finite absolute value of ``array`` (0 for empty or non-numeric)."""
    array = np.asarray(array)
    if array.size == 0 or array.dtype.kind in "OSU":
        return 0.0
    values = np.abs(array.astype(np.float64))
    values = values[np.isfinite(values)]
    return float(values.max()) if values.size else 0.0
