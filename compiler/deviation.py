"""How far two computed tensors are apart: the one comparison every numeric check in hcc uses.

``validate = true``, ``hcc validate-pieces``, ``hcc validate MANIFEST``, ``hcc compare`` and its
bisect, and the KV-cache checks all go through :func:`deviation`, so they agree on what a
failure is. Some differences make two results incomparable whatever the tolerance, and are a
*problem* rather than a number:

* different shapes or dtypes;
* a NaN or an infinity on one side where the other side has something else (NaN in both at the
  same place, or the same infinity in both, counts as equal: the two computations agree);
* text tensors that differ.

``max()`` over an array with a NaN may answer NaN, and ``NaN > tolerance`` is false: a check
written that way passes a broken result. Here a problem makes ``max_abs`` infinite and
:meth:`Deviation.within` false for every tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hcc.ir import HccError


@dataclass(frozen=True)
class Deviation:
    """The comparison of one output: the expected value (``a``) against the computed (``b``)."""

    name: str
    shape_a: tuple
    shape_b: tuple
    dtype_a: str
    dtype_b: str
    max_abs: float  # infinite when there is a problem
    mean_abs: float  # over the finite differences
    max_rel: float  # |a - b| / |a|, over the finite differences
    problem: str = ""  # why the two cannot be close whatever the tolerance

    @property
    def ok(self) -> bool:
        """No problem: the numbers mean something (they may still exceed a tolerance)."""
        return not self.problem

    @property
    def equal(self) -> bool:
        return self.ok and self.max_abs == 0.0

    def within(self, atol: float, rtol: float = 0.0, scale: float = 0.0) -> bool:
        """``max_abs <= atol + rtol * scale`` and no problem (false for NaN anywhere)."""
        bound = atol + rtol * scale
        return self.ok and math.isfinite(bound) and self.max_abs <= bound

    def describe(self) -> str:
        """``max abs 1.5e-07`` or the problem, for one line of a report."""
        return self.problem or f"max abs {self.max_abs:.3g}"

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "shape_a": list(self.shape_a),
            "shape_b": list(self.shape_b),
            "dtype_a": self.dtype_a,
            "dtype_b": self.dtype_b,
            "max_abs": _plain(self.max_abs),
            "mean_abs": _plain(self.mean_abs),
            "max_rel": _plain(self.max_rel),
            "problem": self.problem,
        }


def _plain(x: float) -> float | str:
    """JSON has no NaN or infinity: those are written as strings."""
    return x if math.isfinite(x) else str(x)


def deviation(name: str, a, b, labels: tuple[str, str] = ("A", "B")) -> Deviation:
    """Compare ``a`` (the reference) with ``b``; ``labels`` name the two sides in problems."""
    a, b = np.asarray(a), np.asarray(b)
    shapes, dtypes = (tuple(a.shape), tuple(b.shape)), (str(a.dtype), str(b.dtype))

    def broken(problem: str) -> Deviation:
        return Deviation(name, *shapes, *dtypes, math.inf, math.inf, math.inf, problem)

    if a.shape != b.shape:
        return broken(
            f"shapes differ: {list(a.shape)} ({labels[0]}) vs {list(b.shape)} ({labels[1]})"
        )
    if a.dtype != b.dtype:
        return broken(f"dtypes differ: {a.dtype} ({labels[0]}) vs {b.dtype} ({labels[1]})")
    if a.size == 0:
        return Deviation(name, *shapes, *dtypes, 0.0, 0.0, 0.0)
    if a.dtype.kind not in "biuf":
        if np.array_equal(a, b):
            return Deviation(name, *shapes, *dtypes, 0.0, 0.0, 0.0)
        return broken(f"values differ ({a.dtype} tensors are compared exactly)")
    x, y = a.astype(np.float64), b.astype(np.float64)
    finite_x, finite_y = np.isfinite(x), np.isfinite(y)
    both_finite = finite_x & finite_y
    if not both_finite.all():
        # Non-finite on either side: equal only when both hold the very same special value.
        special = ~both_finite
        same = (np.isnan(x) & np.isnan(y)) | (~np.isnan(x) & (x == y))
        wrong = special & ~same
        if wrong.any():
            return broken(_non_finite_problem(x, y, wrong, labels))
    diff = np.abs(x[both_finite] - y[both_finite])
    if diff.size == 0:
        return Deviation(name, *shapes, *dtypes, 0.0, 0.0, 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rel = diff / np.maximum(np.abs(x[both_finite]), 1e-12)
    max_abs = float(diff.max())
    if not math.isfinite(max_abs):  # two finite values further apart than float64 can say
        return broken(f"the difference overflows ({labels[0]} and {labels[1]} are finite)")
    return Deviation(name, *shapes, *dtypes, max_abs, float(diff.mean()), float(rel.max()))


def _non_finite_problem(
    x: np.ndarray, y: np.ndarray, wrong: np.ndarray, labels: tuple[str, str]
) -> str:
    """``NaN in B where A is finite (3 of 64 values)``: the first kind of mismatch found."""
    count, total = int(wrong.sum()), int(wrong.size)
    first = tuple(int(i) for i in np.argwhere(wrong)[0])
    here, there = x[first], y[first]
    if not math.isfinite(there):  # blame the computed side when it is the odd one
        side, value, other, other_value = labels[1], there, labels[0], here
    else:
        side, value, other, other_value = labels[0], here, labels[1], there
    kind = "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if math.isnan(other_value):
        where = f"{other} is NaN"
    elif math.isinf(other_value):
        where = f"{other} is {'inf' if other_value > 0 else '-inf'}"
    else:
        where = f"{other} is finite"
    return f"{kind} in {side} where {where} ({count} of {total} values, first at {list(first)})"


def pair_outputs(
    names_a: Sequence[str], names_b: Sequence[str], labels: tuple[str, str] = ("A", "B")
) -> list[tuple[str, str]]:
    """Outputs of two models matched by name, else (same count) by position; a different
    number of outputs cannot be compared and is an error naming both lists."""
    if sorted(names_a) == sorted(names_b):
        return [(name, name) for name in names_a]
    if len(names_a) == len(names_b):
        return list(zip(names_a, names_b))
    raise HccError(
        f"{labels[0]} has {len(names_a)} outputs ({', '.join(names_a)}) and "
        f"{labels[1]} {len(names_b)} ({', '.join(names_b)}); they cannot be compared"
    )


def compare_outputs(
    a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], labels: tuple[str, str] = ("A", "B")
) -> list[Deviation]:
    """:func:`deviation` of every output pair (see :func:`pair_outputs`)."""
    return [
        deviation(x if x == y else f"{x} / {y}", a[x], b[y], labels)
        for x, y in pair_outputs(list(a), list(b), labels)
    ]


def failures(deviations: Sequence[Deviation], tolerance: float) -> list[str]:
    """One message per output that is not within ``tolerance`` (max abs), naming the output."""
    check_tolerance(tolerance)
    return [
        f"output {d.name!r}: {d.problem}"
        if d.problem
        else f"output {d.name!r} deviates by {d.max_abs:.3g} (tolerance {tolerance:g})"
        for d in deviations
        if not d.within(tolerance)
    ]


def check_tolerance(value: float, what: str = "tolerance") -> float:
    """``value`` when it is a finite number >= 0; anything else is an error naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HccError(f"{what} must be a number, not {value!r}")
    if not math.isfinite(value) or value < 0:
        raise HccError(f"{what} must be a finite number >= 0, not {value!r}")
    return float(value)
