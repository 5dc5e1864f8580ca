"""What a node's operator schema says about element types: the type parameter of each input
and output (``T`` of ``Add``), the fixed types (``tensor(float)``) and what each parameter
allows, read from onnx's schemas through :mod:`hcc.ir.onnx.schemas`."""

from __future__ import annotations

from hcc.ir import DataType, Node


def binding(node: Node, opset: int):
    """``(params, fixed, allowed)`` for a node of the default domain at ``opset``, or None:
    ``params["in"]`` / ``params["out"]`` give each slot's type parameter, ``fixed`` maps fixed
    type strings to their DataType, ``allowed`` each parameter to its allowed type strings."""
    from hcc.ir.onnx.schemas import signature

    if node.domain not in ("", "ai.onnx"):
        return None
    sig = signature("", node.op_type, opset)
    if sig is None:
        return None
    params = {
        "in": _formal(sig.inputs, len(node.inputs)),
        "out": _formal(sig.outputs, len(node.outputs)),
    }
    fixed = {}
    for param in [*params["in"], *params["out"]]:
        if param and param.startswith("tensor("):
            fixed[param] = _named_type(param)
    return params, fixed, sig.type_constraints


def dtype_code(code) -> DataType | int:
    """The DataType of an element type code (the bare int for codes newer than the table)."""
    try:
        return DataType(int(code))
    except ValueError:
        return int(code)


def _named_type(type_str: str) -> DataType | None:
    name = type_str[len("tensor(") : -1].upper()
    return {
        "FLOAT": DataType.FLOAT,
        "FLOAT16": DataType.FLOAT16,
        "BFLOAT16": DataType.BFLOAT16,
    }.get(name, getattr(DataType, name, None))


def _formal(params, count: int) -> list[str | None]:
    """Type parameter of each of ``count`` actual slots (a variadic last parameter repeats)."""
    result: list[str | None] = []
    for i in range(count):
        if i < len(params):
            result.append(params[i][2])
        elif params and params[-1][1] == "variadic":
            result.append(params[-1][2])
        else:
            result.append(None)
    return result
