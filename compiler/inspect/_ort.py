"""Running models in onnxruntime for comparisons: sessions, generated inputs, deviations."""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass

import numpy as np

import hcc.ir as ir
from hcc.ir import Model


class Session:
    """An onnxruntime session; keeps alive the temporary folder of a modified model copy."""

    def __init__(self, path: str, *, optimize: bool = True, keep=None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        if not optimize:
            # Bisect compares intermediate values: fusions could make two sessions compute a
            # value differently, so both run the graph as written.
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own Fail/InvalidGraph types
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ir.HccError(f"onnxruntime cannot load the model: {first}",
                              location=path) from None
        self._keep = keep

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.session.get_inputs()]

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self.session.get_outputs()]

    def run(self, feeds: dict[str, np.ndarray], names: list[str] | None = None) -> dict:
        try:
            results = self.session.run(names, feeds)
        except Exception as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ir.HccError(f"onnxruntime failed to run the model: {first}") from None
        return dict(zip(names or self.output_names, results))


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
    return Session(copy, optimize=optimize, keep=folder)


def generated_feeds(session: Session, model: Model, *, batch: int = 2, seq: int = 16,
                    seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs as ``hcc validate`` makes them, with integer inputs kept inside the tables they
    index: an id past the rows of an embedding table would make the run fail."""
    from hcc.validate import generated_inputs

    feeds = generated_inputs(session.session, batch=batch, seq=seq, seed=seed)
    limits = _index_limits(model)
    for name, array in feeds.items():
        limit = limits.get(name)
        if limit and np.issubdtype(array.dtype, np.integer) and "mask" not in name:
            feeds[name] = (array % limit).astype(array.dtype)
    return feeds


def feeds_for(session: Session, feeds: dict) -> dict:
    """``feeds`` keyed for ``session``: by input name, else (same count) by position."""
    names = session.input_names
    if set(names) == set(feeds):
        return {n: feeds[n] for n in names}
    if len(names) == len(feeds):
        return dict(zip(names, feeds.values()))
    raise ir.HccError(f"the models take different inputs ({', '.join(feeds)} vs "
                      f"{', '.join(names)}); they cannot run on the same data")


def _index_limits(model: Model) -> dict[str, int]:
    """For each integer graph input that indexes a constant table (Gather on an initializer),
    the smallest number of rows it indexes."""
    limits: dict[str, int] = {}
    for value in model.graph.inputs:
        for user, index in value.uses:
            if user.op_type != "Gather" or index != 1:
                continue
            table = user.inputs[0]
            if table is None or not table.is_initializer:
                continue
            axis = int(user.attr("axis", 0))
            shape = table.const_value.shape
            if -len(shape) <= axis < len(shape) and shape[axis] > 0:
                rows = shape[axis]
                limits[value.name] = min(limits.get(value.name, rows), rows)
    return limits


@dataclass
class Deviation:
    """How far two arrays are apart; ``max_abs`` is infinite when shapes differ."""

    name: str
    shape_a: tuple
    shape_b: tuple
    max_abs: float
    mean_abs: float
    max_rel: float

    @property
    def equal(self) -> bool:
        return self.max_abs == 0.0

    def within(self, atol: float, rtol: float, scale: float) -> bool:
        return self.max_abs <= atol + rtol * scale

    def as_dict(self) -> dict:
        return {"name": self.name, "shape_a": list(self.shape_a), "shape_b": list(self.shape_b),
                "max_abs": _finite(self.max_abs), "mean_abs": _finite(self.mean_abs),
                "max_rel": _finite(self.max_rel)}


def _finite(x: float):
    return x if math.isfinite(x) else str(x)


def deviation(name: str, a, b) -> Deviation:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return Deviation(name, a.shape, b.shape, math.inf, math.inf, math.inf)
    if a.size == 0:
        return Deviation(name, a.shape, b.shape, 0.0, 0.0, 0.0)
    if a.dtype.kind in "OSU" or b.dtype.kind in "OSU":
        same = bool(np.array_equal(a, b))
        gap = 0.0 if same else math.inf
        return Deviation(name, a.shape, b.shape, gap, gap, gap)
    x, y = a.astype(np.float64), b.astype(np.float64)
    both_nan = np.isnan(x) & np.isnan(y)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.where(both_nan, 0.0, np.abs(x - y))
        diff = np.where(np.isnan(diff), math.inf, diff)
        # Relative to the reference's own size: |a - b| / max(|a|, tiny).
        rel = diff / np.maximum(np.abs(x), 1e-12)
    return Deviation(name, a.shape, b.shape, float(diff.max()), float(diff.mean()),
                     float(np.nanmax(rel)))


def magnitude(array) -> float:
    """The largest finite absolute value of ``array`` (0 for empty or non-numeric)."""
    array = np.asarray(array)
    if array.size == 0 or array.dtype.kind in "OSU":
        return 0.0
    values = np.abs(array.astype(np.float64))
    values = values[np.isfinite(values)]
    return float(values.max()) if values.size else 0.0
