"""Down-adapters for Cast and CastLike: newer attributes that only matter for float8-like types,
which older opsets do not have, are dropped; CastLike becomes a Cast.
"""

from __future__ import annotations

from hcc.ir import DataType, Node
from hcc.ir.onnx import schemas

from ..rewriter import Rewriter, adapter

_NARROW_FLOATS = frozenset(
    {
        DataType.FLOAT8E4M3FN,
        DataType.FLOAT8E4M3FNUZ,
        DataType.FLOAT8E5M2,
        DataType.FLOAT8E5M2FNUZ,
        DataType.FLOAT4E2M1,
        DataType.FLOAT8E8M0,
        DataType.FLOAT6E2M3,
        DataType.FLOAT6E3M2,
    }
)


@adapter("Cast")
def cast_without_saturate(rw: Rewriter, node: Node) -> bool:
    """Opset 19 added ``saturate`` (and later versions rounding options): they only matter
    when either side is a float8-like type, which older opsets do not have anyway."""
    return _drop_narrow_float_attrs(rw, node, node.attr("to"))


@adapter("CastLike")
def cast_like_as_cast(rw: Rewriter, node: Node) -> bool:
    """CastLike (opset 15) is a Cast to the element type of its second input."""
    if rw.target >= 15:
        return _drop_narrow_float_attrs(rw, node, rw.dtype(node.inputs[1]))
    to = rw.dtype(node.inputs[1])
    if to is None or to in _NARROW_FLOATS or rw.dtype(node.inputs[0]) in _NARROW_FLOATS:
        return False
    rw.replace(node, [rw.op(node, "Cast", node.inputs[0], to=int(to))])
    return True


def _drop_narrow_float_attrs(rw: Rewriter, node: Node, to) -> bool:
    sig = schemas.signature("", node.op_type, rw.target)
    extra = [name for name in node.attributes if name not in sig.attributes]
    narrow = to in _NARROW_FLOATS or rw.dtype(node.inputs[0]) in _NARROW_FLOATS
    if not extra or to is None or narrow:
        return False
    for name in extra:
        del node.attributes[name]
    return True
