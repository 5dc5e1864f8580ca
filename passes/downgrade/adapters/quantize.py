"""Down-adapter for DequantizeLinear: what the precision passes write, lowered where a form
exists.

- a float16/bfloat16 scale (opset 19) becomes a float32 scale with a Cast of the result back;
- int4/uint4 data and blocked scales (``block_size``, opset 21) have no form below 21: the
  adapter refuses with the reason, since expanding the scales to one per weight would store more
  than the float weight did.
"""

from __future__ import annotations

from hcc.ir import DataType, Node

from ..rewriter import Refuse, Rewriter, adapter

_SUB_BYTE = frozenset({DataType.INT4, DataType.UINT4, DataType.INT2, DataType.UINT2})
_NARROW_SCALES = frozenset({DataType.FLOAT16, DataType.BFLOAT16})


@adapter("DequantizeLinear")
def dequantize_at_older_opsets(rw: Rewriter, node: Node) -> bool:
    if rw.target >= 21:
        return False
    if node.attr("block_size", 0):
        raise Refuse(
            "blocked scales (block_size) exist from opset 21; keep opset 21, or "
            "quantize with quantize-weights(bits=4, target=onnxruntime) or bits=8"
        )
    if rw.dtype(node.inputs[0]) in _SUB_BYTE:
        raise Refuse(
            "4-bit data exists from opset 21; keep opset 21, or quantize with "
            "quantize-weights(bits=4, target=onnxruntime) or bits=8"
        )
    if "output_dtype" in node.attributes:
        return False
    scale_type = rw.dtype(node.inputs[1])
    if rw.target >= 19 or scale_type not in _NARROW_SCALES:
        return False
    scale = rw.op(node, "Cast", node.inputs[1], to=int(DataType.FLOAT))
    attrs = {"axis": node.attr("axis")} if "axis" in node.attributes else {}
    wide = rw.op(node, "DequantizeLinear", node.inputs[0], scale, *node.inputs[2:], **attrs)
    rw.replace(node, [rw.op(node, "Cast", wide, to=int(scale_type))])
    return True
