"""Tensors to the low type, clamped to its range: a float32 value beyond ±65504 would become
infinity in float16 (and float32's largest values infinity in bfloat16)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hcc.ir import ArrayTensor, DataType, Tensor


@dataclass
class Clamped:
    """A tensor some of whose values were clamped, for the warning that names it."""

    tensor: str
    scope: str
    count: int
    largest: float


def to_low_precision(tensor: Tensor, low: DataType) -> tuple[Tensor, tuple[int, float] | None]:
    """The tensor in ``low``, and (how many values were clamped, the largest magnitude among
    them) or None. Infinities and NaN stay as they are: they are in every float type."""
    array = np.asarray(tensor.numpy(), dtype=np.float32)
    limit = float(np.finfo(low.to_numpy()).max)
    outside = np.isfinite(array) & (np.abs(array) > limit)
    count = int(outside.sum())
    clamped = None
    if count:
        clamped = (count, float(np.abs(array[outside]).max()))
        array = np.where(outside, np.sign(array) * limit, array)
    lowered = ArrayTensor(
        array.astype(low.to_numpy()),
        low,
        name=tensor.name,
        doc_string=tensor.doc_string,
        metadata_props=tensor.metadata_props,
    )
    return lowered, clamped
