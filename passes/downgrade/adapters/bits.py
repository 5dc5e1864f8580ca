"""Bit operations below the opsets that introduced them.

Opset 13 only shifts unsigned integers (BitShift-11) and has no bitwise And/Or/Xor/Not. Signed
integers are shifted as their two's-complement bit pattern (a Cast to the unsigned type of the
same width keeps it), with the arithmetic right shift written as a logical shift of the
complement. Bitwise And/Or/Xor split both operands into their bits (a trailing axis of 0/1
values), combine them arithmetically and add the bits back up; Not is ``-x - 1``.
"""

from __future__ import annotations

import numpy as np

from hcc.ir import DataType, Node, Value

from ..literals import constant_array
from ..rewriter import Rewriter, adapter

_UNSIGNED = {
    DataType.INT8: DataType.UINT8,
    DataType.INT16: DataType.UINT16,
    DataType.INT32: DataType.UINT32,
    DataType.INT64: DataType.UINT64,
    DataType.UINT8: DataType.UINT8,
    DataType.UINT16: DataType.UINT16,
    DataType.UINT32: DataType.UINT32,
    DataType.UINT64: DataType.UINT64,
}
_WIDTH = {DataType.UINT8: 8, DataType.UINT16: 16, DataType.UINT32: 32, DataType.UINT64: 64}


def _cast(rw: Rewriter, node: Node, value: Value, to: DataType) -> Value:
    return rw.op(node, "Cast", value, to=int(to))


def _pattern(rw: Rewriter, node: Node, value: Value, dtype: DataType) -> Value:
    """The bits of an integer as a uint64 (zero-extended from its own width)."""
    unsigned = _UNSIGNED[dtype]
    if unsigned != dtype:
        value = _cast(rw, node, value, unsigned)
    return _cast(rw, node, value, DataType.UINT64) if unsigned != DataType.UINT64 else value


def _complement(rw: Rewriter, node: Node, value: Value) -> Value:
    """~x == -x - 1 (int64, two's complement)."""
    zero = rw.constant(node, np.array(0, np.int64))
    one = rw.constant(node, np.array(1, np.int64))
    return rw.op(node, "Sub", rw.op(node, "Sub", zero, value), one)


# Generated nodes use int64 and uint64 where they compute: onnxruntime implements Where,
# ReduceSum and friends for few of the narrow integer types, and BitShift only for unsigned.


@adapter("BitShift")
def bit_shift_any_integer(rw: Rewriter, node: Node) -> bool:
    """BitShift-28 took signed integers and defined shifts by a negative amount or by the
    width or more (0, or -1 for a negative number shifted right)."""
    if rw.target >= 28:
        return False
    x, y = node.inputs
    dtype = rw.dtype(x)
    if dtype not in _UNSIGNED or rw.dtype(y) != dtype:
        return False
    unsigned = _UNSIGNED[dtype]
    width = _WIDTH[unsigned]
    signed = unsigned != dtype
    amounts = constant_array(y)
    in_range = amounts is not None and bool(((amounts >= 0) & (amounts < width)).all())
    if in_range and not signed:
        return False  # the older operator computes the same
    zero = rw.constant(node, np.array(0, np.int64))
    y64 = _cast(rw, node, y, DataType.INT64)
    valid = rw.op(
        node,
        "And",
        rw.op(node, "GreaterOrEqual", y64, zero),
        rw.op(node, "Less", y64, rw.constant(node, np.array(width, np.int64))),
    )
    amount = _cast(rw, node, rw.op(node, "Where", valid, y64, zero), DataType.UINT64)
    right = node.attr("direction") in ("RIGHT", b"RIGHT")
    if right and signed:
        # The complement of a negative number is non-negative: shift it logically and
        # complement back, which fills the vacated bits with ones.
        x64 = _cast(rw, node, x, DataType.INT64)
        negative = rw.op(node, "Less", x64, zero)
        magnitude = rw.op(node, "Where", negative, _complement(rw, node, x64), x64)
        moved = _cast(
            rw,
            node,
            rw.op(
                node,
                "BitShift",
                _cast(rw, node, magnitude, DataType.UINT64),
                amount,
                direction="RIGHT",
            ),
            DataType.INT64,
        )
        result = rw.op(node, "Where", negative, _complement(rw, node, moved), moved)
        fill = rw.op(node, "Where", negative, rw.constant(node, np.array(-1, np.int64)), zero)
    else:
        moved = rw.op(
            node,
            "BitShift",
            _pattern(rw, node, x, dtype),
            amount,
            direction="RIGHT" if right else "LEFT",
        )
        # Back to the operand's width (dropping bits shifted past it), then to int64 to select.
        result = _cast(rw, node, _cast(rw, node, moved, unsigned), DataType.INT64)
        fill = zero
    chosen = rw.op(node, "Where", valid, result, fill)
    rw.replace(node, [_cast(rw, node, chosen, dtype)])
    return True


@adapter("BitwiseNot")
def bitwise_not_by_arithmetic(rw: Rewriter, node: Node) -> bool:
    """In two's complement (and modulo 2^n for unsigned types) ~x == -x - 1."""
    x = node.inputs[0]
    dtype = rw.dtype(x)
    if dtype not in _UNSIGNED:
        return False
    flipped = _complement(rw, node, _cast(rw, node, x, DataType.INT64))
    rw.replace(node, [_cast(rw, node, flipped, dtype)])
    return True


_COMBINE = {
    "BitwiseAnd": lambda rw, node, a, b: rw.op(node, "Mul", a, b),
    "BitwiseOr": lambda rw, node, a, b: rw.op(
        node, "Sub", rw.op(node, "Add", a, b), rw.op(node, "Mul", a, b)
    ),
    "BitwiseXor": lambda rw, node, a, b: rw.op(
        node, "Mod", rw.op(node, "Add", a, b), rw.constant(node, np.array(2, np.int64))
    ),
}


@adapter(*_COMBINE)
def bitwise_by_bits(rw: Rewriter, node: Node) -> bool:
    a, b = node.inputs
    dtype = rw.dtype(a)
    if dtype not in _UNSIGNED or rw.dtype(b) != dtype:
        return False
    width = _WIDTH[_UNSIGNED[dtype]]
    positions = rw.constant(node, np.arange(width, dtype=np.uint64), suffix="bit_positions")
    # The weight of bit k is 2^k; that of bit 63 is int64's minimum, so the sum wraps into
    # the right 64-bit pattern without ever overflowing.
    weights = np.array(
        [1 << k for k in range(min(width, 63))] + ([-(1 << 63)] if width == 64 else []), np.int64
    )
    last = rw.ints(node, [-1])

    def bits_of(value: Value) -> Value:
        wide = rw.op(node, "Unsqueeze", _pattern(rw, node, value, dtype), last)
        shifted = rw.op(node, "BitShift", wide, positions, direction="RIGHT")
        return _cast(
            rw,
            node,
            rw.op(node, "Mod", shifted, rw.constant(node, np.array(2, np.uint64))),
            DataType.INT64,
        )

    combined = _COMBINE[node.op_type](rw, node, bits_of(a), bits_of(b))
    placed = rw.op(node, "Mul", combined, rw.constant(node, weights, suffix="bit_weights"))
    total = rw.op(node, "ReduceSum", placed, last, keepdims=0)
    rw.replace(node, [_cast(rw, node, total, dtype)])
    return True
