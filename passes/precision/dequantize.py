"""The node pair every quantized weight reaches its readers through: ``DequantizeLinear``, then a
``Cast`` back to the weight's own type when the scales were stored in another one."""

from __future__ import annotations

import dataclasses

from hcc.ir import Attr, DataType, Node, TensorType, Value


def typed_like(value: Value, dtype: DataType) -> TensorType:
    """``value``'s tensor type with another element type."""
    if isinstance(value.type, TensorType):
        return dataclasses.replace(value.type, dtype=dtype)
    return TensorType(dtype, value.const_value.shape)


def dequantize_before(
    reader: Node,
    index: int,
    weight: Value,
    quantized: list[Value],
    scale_type: DataType,
    fresh,
    *,
    axis: int,
    block_size: int | None = None,
) -> list[Node]:
    """Feed input ``index`` of ``reader`` the dequantized ``weight`` (from ``quantized``: the
    codes and scales, per channel along ``axis`` or in blocks of ``block_size``) instead of
    ``weight``; returns the nodes made, both in the reader's scope, since they exist only to
    serve it."""
    attributes = [Attr.int("axis", axis)]
    if block_size is not None:
        attributes.append(Attr.int("block_size", block_size))
    dtype = weight.const_value.dtype
    home = reader.graph
    out = Value(fresh(f"{weight.name}_dequantized"), typed_like(weight, scale_type))
    dq = Node(
        "",
        "DequantizeLinear",
        quantized,
        outputs=[out],
        attributes=attributes,
        name=fresh(f"{reader.name or weight.name}/DequantizeLinear"),
        scope=reader.scope,
    )
    home.insert_before(reader, dq)
    made = [dq]
    if scale_type != dtype:
        cast_out = Value(fresh(f"{out.name}_{dtype.name.lower()}"), typed_like(weight, dtype))
        cast = Node(
            "",
            "Cast",
            [out],
            attributes=[Attr.int("to", int(dtype))],
            outputs=[cast_out],
            name=fresh(f"{out.name}/Cast"),
            scope=reader.scope,
        )
        home.insert_before(reader, cast)
        made.append(cast)
        out = cast_out
    reader.replace_input_with(index, out)
    return made
