"""What ONNX's operator schemas say, in plain Python: for passes that convert between opsets.

Passes may not import onnx; they ask here instead. Only the default and ``ai.onnx.ml`` domains
have schemas; other domains answer None.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import onnx
import onnx.defs
import onnx.inliner
import onnx.numpy_helper
import onnx.shape_inference


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


@functools.cache
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
        inputs=tuple(
            (p.name, _OPTION.get(int(p.option), "single"), p.type_str) for p in schema.inputs
        ),
        outputs=tuple(
            (p.name, _OPTION.get(int(p.option), "single"), p.type_str) for p in schema.outputs
        ),
        attributes=attributes,
        type_constraints={
            t.type_param_str: frozenset(t.allowed_type_strs) for t in schema.type_constraints
        },
        function_body=schema.has_function or schema.has_context_dependent_function,
    )


def since_version(domain: str, op: str, opset: int) -> int | None:
    sig = signature(domain, op, opset)
    return None if sig is None else sig.since


def tensor_type_string(elem_type: int) -> str:
    """``tensor(float)`` for an element type code, as schemas write it."""
    return f"tensor({onnx.helper.tensor_dtype_to_string(elem_type).replace('TensorProto.', '').lower()})"


@functools.cache
def _type_names() -> dict[int, str]:
    names = {}
    for code in onnx.TensorProto.DataType.values():
        if code == 0:
            continue
        name = onnx.TensorProto.DataType.Name(code).lower()
        names[code] = {
            "float": "float",
            "double": "double",
            "string": "string",
            "bool": "bool",
        }.get(name, name)
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


# -- type inference and function bodies, for nodes of the IR ------------------------------------
#
# Both build a throw-away NodeProto for one IR node: inputs are named i0, i1, ... and outputs
# o0, o1, ... so nothing depends on the node's real value names.

_SMALL_CONSTANT = 4096  # constant inputs up to this many elements are shown to shape inference


def _node_proto(node, attributes=None):
    from .exporter import Exporter

    proto = onnx.NodeProto()
    proto.op_type = node.op_type
    proto.domain = node.domain
    proto.input.extend("" if v is None else f"i{k}" for k, v in enumerate(node.inputs))
    proto.output.extend(f"o{k}" for k in range(len(node.outputs)))
    exporter = Exporter()
    for attr in node.attributes.values() if attributes is None else attributes:
        exporter.attr(attr, proto.attribute.add())
    return proto


def _type_proto(ir_type):
    from ._proto_types import type_to_proto

    proto = onnx.TypeProto()
    if ir_type is not None:
        type_to_proto(ir_type, proto)
    return proto


def infer_output_types(node, opset: int, input_types, constants=None) -> list:
    """The IR types onnx's inference gives ``node``'s outputs at ``opset`` (None where unknown).

    ``input_types`` holds one IR type (or None) per input; ``constants`` optionally maps input
    positions to numpy arrays those inputs always hold, which sharpens inferred shapes.
    """
    from ._proto_types import type_from_proto

    unknown = [None] * len(node.outputs)
    try:
        schema = onnx.defs.get_schema(node.op_type, opset, node.domain)
    except onnx.defs.SchemaError:
        return unknown
    types = {}
    for index, (value, ir_type) in enumerate(zip(node.inputs, input_types)):
        if value is not None and ir_type is not None:
            types[f"i{index}"] = _type_proto(ir_type)
    if any(v is not None and f"i{k}" not in types for k, v in enumerate(node.inputs)):
        return unknown  # onnx's per-node inference needs every present input's type
    data = {}
    for index, array in (constants or {}).items():
        if array is not None and array.size <= _SMALL_CONSTANT:
            data[f"i{index}"] = onnx.numpy_helper.from_array(array)
    try:
        inferred = onnx.shape_inference.infer_node_outputs(
            schema,
            _node_proto(node),
            types,
            data,
            opset_imports=[onnx.helper.make_opsetid(node.domain, opset)],
        )
    except Exception:  # noqa: BLE001 - inference is best effort; callers treat None as unknown
        return unknown
    return [
        type_from_proto(inferred[f"o{k}"]) if f"o{k}" in inferred else None
        for k in range(len(node.outputs))
    ]


@dataclass
class Expansion:
    """A node replaced by its schema's function body.

    ``graph`` is an IR graph whose inputs stand for the node's present inputs (in order) and
    whose outputs stand for the node's outputs; its nodes are valid at ``opset`` (default domain).
    """

    graph: object
    opset: int


def expand_function(node, opset: int, input_types) -> Expansion | None:
    """``node`` (an op of the default domain, read at ``opset``) as the nodes of the function
    body its schema defines, or None when the schema has no body for this node.

    Attribute references in the body are resolved against the node's attributes, completed
    with the schema's defaults; absent optional inputs and outputs are left out.
    """
    try:
        schema = onnx.defs.get_schema(node.op_type, opset, node.domain)
    except onnx.defs.SchemaError:
        return None
    attributes = list(node.attributes.values())
    given = {a.name for a in attributes}
    proto = _node_proto(node, attributes)
    for name, attr in schema.attributes.items():
        if name not in given and attr.default_value is not None and attr.default_value.type:
            proto.attribute.add().CopyFrom(attr.default_value)
            proto.attribute[-1].name = name
    function = None
    try:
        if schema.has_function and schema.function_opset_versions:
            version = min(schema.function_opset_versions)
            function = schema.get_function_with_opset_version(version)
            if isinstance(function, bytes):
                function = onnx.FunctionProto.FromString(function) if function else None
        elif (
            schema.has_context_dependent_function
            and schema.context_dependent_function_opset_versions
        ):
            version = min(schema.context_dependent_function_opset_versions)
            types = [_type_proto(t).SerializeToString() for t in input_types]
            raw = schema.get_context_dependent_function_with_opset_version(
                version, proto.SerializeToString(), types
            )
            function = onnx.FunctionProto.FromString(raw) if raw else None
    except Exception:  # noqa: BLE001 - a builder that cannot handle this node: no expansion
        return None
    if function is None or not len(function.node):
        return None
    return _inline(node, proto, function, input_types)


_CALL_DOMAIN = "hcc.expand"


def _inline(node, call, function, input_types) -> Expansion | None:
    """Inline ``function`` called by ``call`` with onnx's inliner and import the result."""
    from onnx import helper

    from . import from_onnx

    function = onnx.FunctionProto.FromString(function.SerializeToString())
    function.domain = _CALL_DOMAIN
    function.name = node.op_type
    call.domain = _CALL_DOMAIN
    opsets = {entry.domain or "": entry.version for entry in function.opset_import}
    body_opset = opsets.get("", opsets.get("ai.onnx"))
    if body_opset is None:
        return None
    inputs = []
    for index, (value, ir_type) in enumerate(zip(node.inputs, input_types)):
        if value is not None:
            info = onnx.ValueInfoProto(name=f"i{index}")
            info.type.CopyFrom(_type_proto(ir_type))
            inputs.append(info)
    outputs = [onnx.ValueInfoProto(name=f"o{k}") for k in range(len(node.outputs))]
    graph = helper.make_graph([call], "expansion", inputs, outputs)
    model = helper.make_model(
        graph,
        functions=[function],
        ir_version=10,
        opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()]
        + [helper.make_opsetid(_CALL_DOMAIN, 1)],
    )
    try:
        inlined = onnx.inliner.inline_local_functions(model, convert_version=False)
    except Exception:  # noqa: BLE001
        return None
    if any(n.domain == _CALL_DOMAIN for n in inlined.graph.node):
        return None
    return Expansion(from_onnx(inlined).graph, body_opset)
