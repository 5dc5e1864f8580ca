"""The one comparison of computed tensors (hcc.deviation): NaN, infinities, shapes, dtypes and
output counts are failures whatever the tolerance."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hcc.deviation import (
    check_tolerance,
    compare_outputs,
    deviation,
    failures,
    pair_outputs,
)
from hcc.ir import HccError

REFERENCE = np.array([[0.0, 1.0], [2.0, -3.0]], np.float32)


def _with(value: float, at=(1, 0)) -> np.ndarray:
    changed = REFERENCE.copy()
    changed[at] = value
    return changed


def test_close_arrays_give_their_largest_difference():
    result = deviation("y", REFERENCE, REFERENCE + np.float32(0.25))
    assert result.ok and result.max_abs == pytest.approx(0.25)
    assert result.within(0.25) and not result.within(0.2)


@pytest.mark.parametrize("value,kind", [(math.nan, "NaN"), (math.inf, "inf"), (-math.inf, "-inf")])
def test_a_non_finite_value_on_one_side_fails_every_tolerance(value, kind):
    result = deviation("y", REFERENCE, _with(value), ("whole", "pieces"))
    assert not result.ok
    assert result.problem.startswith(f"{kind} in pieces where whole is finite (1 of 4 values")
    assert result.max_abs == math.inf
    assert not result.within(1e30)
    assert failures([result], 1e30) == [f"output 'y': {result.problem}"]


def test_a_nan_in_the_reference_only_is_a_failure_too():
    result = deviation("y", _with(math.nan), REFERENCE, ("whole", "pieces"))
    assert result.problem.startswith("NaN in whole where pieces is finite")


def test_nan_against_infinity_and_opposite_infinities_fail():
    assert "where A is inf" in deviation("y", _with(math.inf), _with(math.nan)).problem
    assert not deviation("y", _with(math.inf), _with(-math.inf)).ok


def test_the_same_special_values_on_both_sides_agree():
    both = _with(math.nan, (0, 0))
    both[1, 1] = -math.inf
    result = deviation("y", both, both.copy())
    assert result.ok and result.max_abs == 0.0
    # The finite elements are still compared.
    other = both.copy()
    other[0, 1] += 0.5
    assert deviation("y", both, other).max_abs == pytest.approx(0.5)


def test_shapes_and_dtypes_that_differ_are_failures():
    shapes = deviation("y", REFERENCE, REFERENCE.reshape(4))
    assert shapes.problem == "shapes differ: [2, 2] (A) vs [4] (B)"
    dtypes = deviation("y", REFERENCE, REFERENCE.astype(np.float64))
    assert dtypes.problem == "dtypes differ: float32 (A) vs float64 (B)"
    assert not shapes.within(1.0) and not dtypes.within(1.0)


def test_integers_and_text_are_compared_exactly():
    ids = np.array([1, 2, 3], np.int64)
    assert deviation("ids", ids, ids + 1).max_abs == 1.0
    text = np.array(["a", "b"], object)
    assert deviation("t", text, text.copy()).equal
    assert "values differ" in deviation("t", text, np.array(["a", "c"], object)).problem


def test_a_nan_tolerance_accepts_nothing():
    result = deviation("y", REFERENCE, REFERENCE)
    assert not result.within(math.nan)
    with pytest.raises(HccError, match="finite number >= 0, not nan"):
        failures([result], math.nan)


@pytest.mark.parametrize("value", [math.nan, math.inf, -1.0, "1e-3", True])
def test_bad_tolerances_are_refused_by_name(value):
    with pytest.raises(HccError, match="--atol must be"):
        check_tolerance(value, "--atol")


def test_outputs_pair_by_name_then_by_position_and_counts_must_match():
    assert pair_outputs(["b", "a"], ["a", "b"]) == [("b", "b"), ("a", "a")]
    assert pair_outputs(["x"], ["y"]) == [("x", "y")]
    with pytest.raises(HccError, match=r"A has 2 outputs \(x, y\) and B 1 \(x\)"):
        pair_outputs(["x", "y"], ["x"])
    found = compare_outputs({"x": REFERENCE}, {"z": _with(math.nan)})
    assert [d.name for d in found] == ["x / z"] and not found[0].ok
