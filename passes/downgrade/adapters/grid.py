"""GridSample below the opsets that have it in this form.

Opset 16 introduced GridSample for 4-D inputs with the modes "bilinear" and "bicubic"; opset 20
renamed them "linear" and "cubic" and allowed any number of spatial dimensions. Between 16 and
19 a 4-D node only needs the old names. Otherwise the sampling is written out: the grid's
normalised coordinates become pixel coordinates, out-of-range ones are clamped or reflected as
the padding mode says, and each output is the weighted sum of the input pixels at the taps of
the interpolation (1 for nearest, 2 per axis for linear, 4 for cubic), gathered from the
flattened input. Spatial sizes must be known.
"""

from __future__ import annotations

import itertools

import numpy as np

from hcc.ir import Attr, AttrType, DataType, Node, Value

from ..rewriter import Refuse, Rewriter, adapter

_CUBIC_A = -0.75


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@adapter("GridSample")
def grid_sample_older(rw: Rewriter, node: Node) -> bool:
    if rw.target >= 20:
        return False
    x, grid = node.inputs
    shape = rw.shape(x)
    mode = {"bilinear": "linear", "bicubic": "cubic"}.get(
        _text(node.attr("mode", "linear")), _text(node.attr("mode", "linear"))
    )
    if rw.target >= 16 and shape is not None and len(shape) == 4:
        node.attributes["mode"] = Attr(
            "mode", AttrType.STRING, {"linear": "bilinear", "cubic": "bicubic"}.get(mode, mode)
        )
        return True
    if shape is None or not all(isinstance(d, int) for d in shape[2:]):
        raise Refuse("sampling needs the input's spatial sizes")
    if mode not in ("nearest", "linear", "cubic"):
        raise Refuse(f"unknown mode {mode!r}")
    padding = _text(node.attr("padding_mode", "zeros"))
    if padding not in ("zeros", "border", "reflection"):
        raise Refuse(f"unknown padding mode {padding!r}")
    if rw.dtype(x) not in (DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16):
        return False
    align = bool(node.attr("align_corners", 0))
    sampler = _Sampler(rw, node, list(shape[2:]), mode, padding, align)
    rw.replace(node, [sampler.output(x, grid)])
    return True


class _Sampler:
    def __init__(self, rw: Rewriter, node: Node, sizes, mode: str, padding: str, align: bool):
        self.rw, self.node, self.sizes = rw, node, sizes
        self.mode, self.padding, self.align = mode, padding, align
        self.calc = np.float64 if rw.dtype(node.inputs[0]) == DataType.DOUBLE else np.float32

    def op(self, *args, **attrs) -> Value:
        return self.rw.op(self.node, *args, **attrs)

    def num(self, value) -> Value:
        return self.rw.constant(self.node, np.array(value, self.calc))

    def output(self, x: Value, grid: Value) -> Value:
        rank = len(self.sizes)
        calc_type = int(DataType.DOUBLE if self.calc == np.float64 else DataType.FLOAT)
        points = self.op(
            "Cast", self.op("Reshape", grid, self.rw.ints(self.node, [0, -1, rank])), to=calc_type
        )
        coords = []
        for axis, size in enumerate(self.sizes):
            # The grid's last axis lists coordinates innermost first (x, y, z).
            component = self.op(
                "Gather",
                points,
                self.rw.constant(self.node, np.array(rank - 1 - axis, np.int64)),
                axis=2,
            )
            coords.append(self._pixel_coordinate(component, size))
        flat = self.op(
            "Reshape", self.op("Cast", x, to=calc_type), self.rw.ints(self.node, [0, 0, -1])
        )
        taps = [self._taps(c, size) for c, size in zip(coords, self.sizes)]
        strides = [int(np.prod(self.sizes[i + 1 :])) for i in range(rank)]
        total = None
        target_shape = None
        for combination in itertools.product(*taps):
            index, weight, valid = None, None, None
            for axis, (tap_index, tap_weight, tap_valid) in enumerate(combination):
                part = self.op(
                    "Mul", tap_index, self.rw.constant(self.node, np.array(strides[axis], np.int64))
                )
                index = part if index is None else self.op("Add", index, part)
                if tap_weight is not None:
                    weight = tap_weight if weight is None else self.op("Mul", weight, tap_weight)
                if tap_valid is not None:
                    valid = tap_valid if valid is None else self.op("And", valid, tap_valid)
            if target_shape is None:
                batch_channels = self.op(
                    "Slice",
                    self.op("Shape", flat),
                    self.rw.ints(self.node, [0]),
                    self.rw.ints(self.node, [2]),
                )
                points_count = self.op(
                    "Slice",
                    self.op("Shape", index),
                    self.rw.ints(self.node, [1]),
                    self.rw.ints(self.node, [2]),
                )
                target_shape = self.op("Concat", batch_channels, points_count, axis=0)
            where = self.op(
                "Expand", self.op("Unsqueeze", index, self.rw.ints(self.node, [1])), target_shape
            )
            value = self.op("GatherElements", flat, where, axis=2)
            if weight is not None:
                value = self.op(
                    "Mul", value, self.op("Unsqueeze", weight, self.rw.ints(self.node, [1]))
                )
            if valid is not None:
                value = self.op(
                    "Where",
                    self.op("Unsqueeze", valid, self.rw.ints(self.node, [1])),
                    value,
                    self.num(0.0),
                )
            total = value if total is None else self.op("Add", total, value)
        out_shape = self.op(
            "Concat",
            self.op(
                "Slice",
                self.op("Shape", x),
                self.rw.ints(self.node, [0]),
                self.rw.ints(self.node, [2]),
            ),
            self.op(
                "Slice",
                self.op("Shape", grid),
                self.rw.ints(self.node, [1]),
                self.rw.ints(self.node, [-1]),
            ),
            axis=0,
        )
        result = self.op("Reshape", total, out_shape)
        return self.op("Cast", result, to=int(self.rw.dtype(x)))

    # -- coordinates ----------------------------------------------------------------------

    def _borders(self, size: int) -> tuple[float, float]:
        return (0.0, size - 1.0) if self.align else (-0.5, size - 0.5)

    def _pixel_coordinate(self, normal: Value, size: int) -> Value:
        one = self.num(1.0)
        if self.align:
            pixel = self.op("Mul", self.op("Add", normal, one), self.num((size - 1) / 2.0))
        else:
            pixel = self.op(
                "Div",
                self.op(
                    "Sub", self.op("Mul", self.op("Add", normal, one), self.num(float(size))), one
                ),
                self.num(2.0),
            )
        if self.mode == "nearest":
            pixel = self.op("Round", pixel)
        low, high = self._borders(size)
        if self.padding == "border":
            outside = self.op(
                "Or",
                self.op("Less", pixel, self.num(low)),
                self.op("Greater", pixel, self.num(high)),
            )
            pixel = self.op("Where", outside, self._clamp(pixel, 0.0, size - 1.0), pixel)
        elif self.padding == "reflection":
            pixel = self._reflect(pixel, low, high)
        return pixel

    def _clamp(self, value: Value, low: float, high: float) -> Value:
        return self.op("Min", self.op("Max", value, self.num(low)), self.num(high))

    def _reflect(self, value: Value, low: float, high: float) -> Value:
        """Fold ``value`` back into [low, high] by repeated reflection at the borders."""
        span = high - low
        if span <= 0:
            return self.op("Mul", value, self.num(0.0))
        below = self.op("Less", value, self.num(low))
        above = self.op("Greater", value, self.num(high))
        zero = self.num(0.0)
        distance = self.op(
            "Where",
            below,
            self.op("Sub", self.num(low), value),
            self.op("Where", above, self.op("Sub", value, self.num(high)), zero),
        )
        turns = self.op("Floor", self.op("Div", distance, self.num(span)))
        rest = self.op("Sub", distance, self.op("Mul", turns, self.num(span)))
        even = self.op("Equal", self.op("Mod", turns, self.num(2.0), fmod=1), zero)
        from_low = self.op("Add", self.num(low), rest)
        from_high = self.op("Sub", self.num(high), rest)
        low_side = self.op("Where", even, from_low, from_high)
        high_side = self.op("Where", even, from_high, from_low)
        return self.op("Where", below, low_side, self.op("Where", above, high_side, value))

    # -- taps -----------------------------------------------------------------------------

    def _taps(self, pixel: Value, size: int):
        """(int64 index, weight or None, validity or None) for each tap along one axis."""
        if self.mode == "nearest":
            return [self._tap(pixel, size, None)]
        base = self.op("Floor", pixel)
        t = self.op("Sub", pixel, base)
        if self.mode == "linear":
            offsets = [0.0, 1.0]
            weights = [self.op("Sub", self.num(1.0), t), t]
        else:
            offsets = [-1.0, 0.0, 1.0, 2.0]
            weights = self._cubic_weights(t)
        return [
            self._tap(self.op("Add", base, self.num(o)), size, w) for o, w in zip(offsets, weights)
        ]

    def _tap(self, position: Value, size: int, weight: Value | None):
        valid = None
        if self.padding == "zeros":
            valid = self.op(
                "And",
                self.op("GreaterOrEqual", position, self.num(0.0)),
                self.op("Less", position, self.num(float(size))),
            )
        elif self.padding == "reflection":
            position = self._reflect(position, *self._borders(size))
        # Truncate toward zero like the reference, and stay inside for the gather.
        index = self.op("Cast", self._clamp(position, 0.0, size - 1.0), to=int(DataType.INT64))
        return index, weight, valid

    def _cubic_weights(self, t: Value) -> list[Value]:
        a = _CUBIC_A

        def far(d: Value) -> Value:  # |d| in [1, 2]
            return self.op(
                "Sub",
                self.op(
                    "Mul",
                    self.op(
                        "Add",
                        self.op(
                            "Mul",
                            self.op("Sub", self.op("Mul", self.num(a), d), self.num(5 * a)),
                            d,
                        ),
                        self.num(8 * a),
                    ),
                    d,
                ),
                self.num(4 * a),
            )

        def near(d: Value) -> Value:  # |d| in [0, 1]
            return self.op(
                "Add",
                self.op(
                    "Mul",
                    self.op(
                        "Mul",
                        self.op("Sub", self.op("Mul", self.num(a + 2), d), self.num(a + 3)),
                        d,
                    ),
                    d,
                ),
                self.num(1.0),
            )

        one = self.num(1.0)
        return [
            far(self.op("Add", t, one)),
            near(t),
            near(self.op("Sub", one, t)),
            far(self.op("Sub", self.num(2.0), t)),
        ]
