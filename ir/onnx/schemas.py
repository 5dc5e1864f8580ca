"""What ONNX's operator schemas say, in plain Python: for passes that convert between opsets.

Passes may not import onnx; they ask here instead. Only the default and ``ai.onnx.ml`` domains
have schemas; other domains answer None.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import onnx
import onnx.defs


@dataclass(frozen=True)
class Signature:
    """The parts of an operator version that decide whether a node fits it."""

    op: str
    domain: str
    since: int
    inputs: tuple[tuple[str, str, str], ...]  # (name, single|optional|variadic, type param)
    outputs: tuple[tuple[str, str, str], ...]
    attributes: dict  # name -> (required, default value or None)
    type_constraints: dict  # type param -> frozenset of type strings like "tensor(float)"
    function_body: bool  # the schema can be expanded into other ops


_OPTION = {0: "single", 1: "optional", 2: "variadic"}


@functools.lru_cache(maxsize=None)
def signature(domain: str, op: str, opset: int) -> Signature | None:
    """The schema of ``op`` in force at ``opset`` (None if the op does not exist there)."""
    try:
        schema = onnx.defs.get_schema(op, opset, domain)
    except onnx.defs.SchemaError:
        return None
    attributes = {}
    for name, attr in schema.attributes.items():
        default = None
        if attr.default_value is not None and attr.default_value.type != 0:
            default = onnx.helper.get_attribute_value(attr.default_value)
        attributes[name] = (attr.required, default)
    return Signature(
        op=op,
        domain=domain,
        since=schema.since_version,
        inputs=tuple((p.name, _OPTION.get(int(p.option), "single"), p.type_str)
                     for p in schema.inputs),
        outputs=tuple((p.name, _OPTION.get(int(p.option), "single"), p.type_str)
                      for p in schema.outputs),
        attributes=attributes,
        type_constraints={t.type_param_str: frozenset(t.allowed_type_strs)
                          for t in schema.type_constraints},
        function_body=schema.has_function or schema.has_context_dependent_function,
    )


def since_version(domain: str, op: str, opset: int) -> int | None:
    sig = signature(domain, op, opset)
    return None if sig is None else sig.since


def tensor_type_string(elem_type: int) -> str:
    """``tensor(float)`` for an element type code, as schemas write it."""
    return f"tensor({onnx.helper.tensor_dtype_to_string(elem_type).replace('TensorProto.', '').lower()})"


@functools.lru_cache(maxsize=None)
def _type_names() -> dict[int, str]:
    names = {}
    for code in onnx.TensorProto.DataType.values():
        if code == 0:
            continue
        name = onnx.TensorProto.DataType.Name(code).lower()
        names[code] = {"float": "float", "double": "double", "string": "string",
                       "bool": "bool"}.get(name, name)
    return names


def type_string(elem_type: int) -> str | None:
    name = _type_names().get(int(elem_type))
    return None if name is None else f"tensor({name})"


def ir_version_for_opset(opset: int) -> int:
    """The lowest IR version that onnx released together with ``opset`` (default domain)."""
    best = None
    for _, ir_version, ai_onnx, *_ in onnx.helper.VERSION_TABLE:
        if ai_onnx >= opset and (best is None or ir_version < best):
            best = ir_version
    return best if best is not None else onnx.IR_VERSION


def check_model(model_proto, *, full_check: bool = True) -> None:
    onnx.checker.check_model(model_proto, full_check=full_check)
