"""Pooling below the opsets that changed it.

- Opset 19 (AveragePool) and 18 (LpPool) added ``dilations``. A dilated pool is a depthwise
  Conv with a kernel of ones over the zero-padded input (of |x|^p for LpPool), divided by the
  number of counted positions in each window (known from the static shapes).
- With ``ceil_mode`` newer opsets drop a last window that would start beyond the input and
  its leading padding; the older operator keeps it, so its output is cropped.
Both need the input's spatial shape and channel count to be known.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from hcc.ir import ArrayTensor, Attr, AttrType, Node, Value

from ..rewriter import Rewriter, adapter

_DILATIONS_SINCE = {"AveragePool": 19, "LpPool": 18, "MaxPool": 10}


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@adapter("AveragePool", "LpPool", "MaxPool")
def pool_older_form(rw: Rewriter, node: Node) -> bool:
    if _text(node.attr("auto_pad", "NOTSET")) != "NOTSET":
        return False
    shape = rw.shape(node.inputs[0])
    if shape is None or not all(isinstance(d, int) for d in shape[1:]):
        return False
    spatial = list(shape[2:])
    rank = len(spatial)
    kernel = list(node.attr("kernel_shape"))
    strides = list(node.attr("strides") or [1] * rank)
    pads = list(node.attr("pads") or [0] * 2 * rank)
    dilations = list(node.attr("dilations") or [1] * rank)
    ceil = bool(node.attr("ceil_mode", 0))

    def output_sizes(keep_last: bool) -> list[int]:
        return [
            _output_size(
                spatial[i],
                kernel[i],
                strides[i],
                pads[i],
                pads[rank + i],
                dilations[i],
                ceil,
                keep_last=keep_last,
            )
            for i in range(rank)
        ]

    wanted, older = output_sizes(keep_last=False), output_sizes(keep_last=True)
    dilated = any(d != 1 for d in dilations)
    if dilated and rw.target < _DILATIONS_SINCE[node.op_type]:
        if node.op_type == "MaxPool" or len(node.outputs) > 1:
            return False
        result = _as_conv(rw, node, shape, kernel, strides, pads, dilations, wanted)
        rw.replace(node, [result])
        return True
    if wanted == older or len(node.outputs) > 1:
        return False
    attributes = [a for a in node.attributes.values() if a.name != "dilations" or dilated]
    pool = rw.node(node, node.op_type, list(node.inputs), attributes)
    cropped = rw.op(
        node,
        "Slice",
        pool.outputs[0],
        rw.ints(node, [0] * rank),
        rw.ints(node, wanted),
        rw.ints(node, list(range(2, 2 + rank))),
    )
    rw.replace(node, [cropped])
    return True


def _output_size(size, kernel, stride, begin, end, dilation, ceil, keep_last) -> int:
    span = dilation * (kernel - 1) + 1
    exact = (size + begin + end - span) / stride + 1
    if not ceil:
        return int(math.floor(exact))
    out = int(math.ceil(exact))
    if not keep_last and (out - 1) * stride >= size + begin:
        out -= 1  # the last window would start in the trailing padding
    return out


def _as_conv(rw: Rewriter, node: Node, shape, kernel, strides, pads, dilations, out) -> Value:
    x = node.inputs[0]
    dtype = rw.numpy_dtype(x)
    channels = shape[1]
    spatial = list(shape[2:])
    rank = len(spatial)
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilations)]
    padded = [spatial[i] + pads[i] + pads[rank + i] for i in range(rank)]
    needed = [(out[i] - 1) * strides[i] + spans[i] for i in range(rank)]
    extra = [max(0, needed[i] - padded[i]) for i in range(rank)]
    p = node.attr("p", 2)
    data = x
    if node.op_type == "LpPool":
        data = rw.op(node, "Pow", rw.op(node, "Abs", x), rw.constant(node, np.array(p, dtype)))
    full_pads = [0, 0] + pads[:rank] + [0, 0] + [pads[rank + i] + extra[i] for i in range(rank)]
    data = rw.op(node, "Pad", data, rw.ints(node, full_pads))
    ones = ArrayTensor(np.ones([channels, 1] + kernel, dtype))
    weights = rw.node(node, "Constant", [], [Attr("value", AttrType.TENSOR, ones)]).outputs[0]
    total = rw.op(
        node,
        "Conv",
        data,
        weights,
        group=channels,
        strides=strides,
        dilations=dilations,
        kernel_shape=kernel,
    )
    if node.op_type == "LpPool":
        return rw.op(node, "Pow", total, rw.constant(node, np.array(1.0 / p, dtype)))
    counts = _window_counts(
        spatial, kernel, strides, pads, dilations, out, bool(node.attr("count_include_pad", 0))
    )
    divisor = rw.constant(node, counts.reshape([1, 1] + out).astype(dtype), suffix="counts")
    return rw.op(node, "Div", total, divisor)


def _window_counts(spatial, kernel, strides, pads, dilations, out, include_pad) -> np.ndarray:
    """How many positions of each window are averaged: those inside the input, or inside the
    input and its explicit padding with ``include_pad`` (never the extension that ceil mode
    adds at the end)."""
    rank = len(spatial)
    counts = np.zeros(out, np.float64)
    for index in itertools.product(*[range(n) for n in out]):
        total = 1
        for i in range(rank):
            first = index[i] * strides[i] - pads[i]
            taps = [first + t * dilations[i] for t in range(kernel[i])]
            low, high = (-pads[i], spatial[i] + pads[rank + i]) if include_pad else (0, spatial[i])
            total *= sum(1 for t in taps if low <= t < high)
        counts[index] = total
    return counts
