"""BitCast (opset 26) below its opset.

Between integers of one width the bit pattern is what Cast keeps (two's complement wraps).
Between a float and the integers of its width, the IEEE 754 fields are taken apart or put
together arithmetically in double precision, where every step is exact: sign, biased exponent
and mantissa for normal numbers, the scaled mantissa for subnormals, and the all-ones exponent
for infinities and NaN (written as the quiet NaN with an empty payload).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hcc.ir import DataType, Node, Value

from ..rewriter import Rewriter, adapter

_INT_WIDTH = {
    DataType.INT8: 8,
    DataType.UINT8: 8,
    DataType.BOOL: 8,
    DataType.INT16: 16,
    DataType.UINT16: 16,
    DataType.INT32: 32,
    DataType.UINT32: 32,
    DataType.INT64: 64,
    DataType.UINT64: 64,
}


@dataclass(frozen=True)
class _Format:
    width: int
    mantissa: int  # stored mantissa bits
    bias: int

    @property
    def exponent_mask(self) -> int:
        return (1 << (self.width - 1 - self.mantissa)) - 1


_FLOATS = {DataType.FLOAT: _Format(32, 23, 127), DataType.DOUBLE: _Format(64, 52, 1023)}


@adapter("BitCast")
def bit_cast(rw: Rewriter, node: Node) -> bool:
    x = node.inputs[0]
    source, to = rw.dtype(x), DataType(node.attr("to"))
    if (
        source in _INT_WIDTH
        and to in _INT_WIDTH
        and to != DataType.BOOL
        and _INT_WIDTH[source] == _INT_WIDTH[to]
    ):
        result = rw.op(node, "Cast", x, to=int(to))
    elif (
        source in _FLOATS
        and to in _INT_WIDTH
        and _INT_WIDTH[to] == _FLOATS[source].width
        and to != DataType.BOOL
    ):
        result = rw.op(node, "Cast", _float_bits(rw, node, x, _FLOATS[source]), to=int(to))
    elif (
        to in _FLOATS
        and source in _INT_WIDTH
        and _INT_WIDTH[source] == _FLOATS[to].width
        and source != DataType.BOOL
    ):
        result = rw.op(node, "Cast", _bits_float(rw, node, x, _FLOATS[to]), to=int(to))
    else:
        return False
    rw.replace(node, [result])
    return True


def _const(rw: Rewriter, node: Node, number, dtype) -> Value:
    return rw.constant(node, np.array(number, dtype))


def _bits_float(rw: Rewriter, node: Node, x: Value, fmt: _Format) -> Value:
    """The double whose ``fmt`` encoding is the integer ``x`` (any signedness)."""
    op = lambda *a, **k: rw.op(node, *a, **k)  # noqa: E731
    u64 = lambda n: _const(rw, node, n, np.uint64)  # noqa: E731
    f64 = lambda n: _const(rw, node, n, np.float64)  # noqa: E731
    bits = op("Cast", x, to=int(DataType.UINT64))
    if fmt.width < 64:
        bits = op("Mod", bits, u64(1 << fmt.width))  # drop a negative value's sign extension
    negative = op("Equal", op("Div", bits, u64(1 << (fmt.width - 1))), u64(1))
    exponent = op(
        "Cast",
        op("Mod", op("Div", bits, u64(1 << fmt.mantissa)), u64(fmt.exponent_mask + 1)),
        to=int(DataType.DOUBLE),
    )
    mantissa = op("Cast", op("Mod", bits, u64(1 << fmt.mantissa)), to=int(DataType.DOUBLE))
    fraction = op("Mul", mantissa, f64(2.0**-fmt.mantissa))
    normal = op(
        "Mul",
        op("Add", fraction, f64(1.0)),
        op("Pow", f64(2.0), op("Sub", exponent, f64(float(fmt.bias)))),
    )
    # Subnormal: fraction * 2^(1 - bias), in two exact steps (2^-1074 itself is subnormal).
    half = (1 - fmt.bias) // 2
    subnormal = op("Mul", op("Mul", fraction, f64(2.0**half)), f64(2.0 ** (1 - fmt.bias - half)))
    magnitude = op("Where", op("Equal", exponent, f64(0.0)), subnormal, normal)
    special = op("Where", op("Equal", mantissa, f64(0.0)), f64(np.inf), f64(np.nan))
    magnitude = op(
        "Where", op("Equal", exponent, f64(float(fmt.exponent_mask))), special, magnitude
    )
    return op("Where", negative, op("Neg", magnitude), magnitude)


def _float_bits(rw: Rewriter, node: Node, x: Value, fmt: _Format) -> Value:
    """The ``fmt`` encoding of the float ``x`` as a uint64."""
    op = lambda *a, **k: rw.op(node, *a, **k)  # noqa: E731
    f64 = lambda n: _const(rw, node, n, np.float64)  # noqa: E731
    d = op("Cast", x, to=int(DataType.DOUBLE))
    zero, one, two = f64(0.0), f64(1.0), f64(2.0)
    # -0.0 is negative too: its reciprocal is -inf.
    negative = op(
        "Or",
        op("Less", d, zero),
        op("And", op("Equal", d, zero), op("Less", op("Div", one, d), zero)),
    )
    a = op("Abs", d)
    guess = op("Floor", op("Div", op("Log", a), f64(float(np.log(2.0)))))
    # Log rounds: move the exponent so that 2^e <= a < 2^(e+1).
    guess = op("Where", op("Greater", op("Pow", two, guess), a), op("Sub", guess, one), guess)
    guess = op(
        "Where",
        op("LessOrEqual", op("Pow", two, op("Add", guess, one)), a),
        op("Add", guess, one),
        guess,
    )
    smallest = float(1 - fmt.bias)
    is_normal = op("GreaterOrEqual", guess, f64(smallest))
    safe = op("Where", is_normal, guess, f64(smallest))
    normal_mantissa = op(
        "Mul", op("Sub", op("Div", a, op("Pow", two, safe)), one), f64(2.0**fmt.mantissa)
    )
    half = (fmt.mantissa - smallest) // 2
    sub_mantissa = op(
        "Mul", op("Mul", a, f64(2.0**half)), f64(2.0 ** (fmt.mantissa - smallest - half))
    )
    mantissa = op("Where", is_normal, normal_mantissa, sub_mantissa)
    exponent = op("Where", is_normal, op("Add", guess, f64(float(fmt.bias))), zero)
    # Zero, infinity and NaN.
    is_zero = op("Equal", a, zero)
    is_inf = op("IsInf", d)
    is_nan = op("IsNaN", d)
    top = f64(float(fmt.exponent_mask))
    exponent = op("Where", is_zero, zero, exponent)
    mantissa = op("Where", is_zero, zero, mantissa)
    exponent = op("Where", op("Or", is_inf, is_nan), top, exponent)
    mantissa = op("Where", is_inf, zero, mantissa)
    mantissa = op("Where", is_nan, f64(2.0 ** (fmt.mantissa - 1)), mantissa)
    u64 = lambda v: op("Cast", v, to=int(DataType.UINT64))  # noqa: E731
    shift = _const(rw, node, 1 << fmt.mantissa, np.uint64)
    bits = op("Add", op("Mul", u64(exponent), shift), u64(mantissa))
    sign = op(
        "Mul",
        op("Cast", negative, to=int(DataType.UINT64)),
        _const(rw, node, 1 << (fmt.width - 1), np.uint64),
    )
    return op("Add", bits, sign)
