"""Down-conversions that work for any operator, driven by onnx's schemas.

- :func:`fits`: the node is already valid at the target (new types or attributes unused);
- :func:`widen`: the node's element type is newer than the target's version of the operator,
  but a wider type the target accepts computes the same values (int8 Add as int32 Add, float16
  Celu as float Celu), so the node runs there between Casts;
- :func:`expand_into_body`: the operator has a function body in onnx (Gelu, Attention,
  ReduceL1, ...), and the node is replaced by that body's nodes, which the pass then converts
  in turn.
"""

from __future__ import annotations

from hcc.ir import (
    Attr,
    DataType,
    Graph,
    Node,
    OptionalType,
    SequenceType,
    TensorType,
    Value,
)
from hcc.ir.onnx import schemas

from .rewriter import Rewriter

# -- fits ---------------------------------------------------------------------------------------


def fits(rw: Rewriter, node: Node, target: int, dtypes: dict[int, DataType] | None = None) -> bool:
    """True if ``node`` is valid at ``target`` once attributes at their default are dropped.

    ``dtypes`` overrides the element type of some values (by id), to ask "would it fit if".
    """
    sig = schemas.signature("", node.op_type, target)
    if sig is None:
        return False
    source = schemas.signature("", node.op_type, rw.opset_of(node))
    for name, attr in node.attributes.items():
        if name not in sig.attributes and not _is_default(source, name, attr):
            return False
    for name, (required, _) in sig.attributes.items():
        if required and name not in node.attributes:
            return False
    if not _arity_fits(len(node.inputs), sig.inputs) or not _arity_fits(
        len(node.outputs), sig.outputs
    ):
        return False
    dtypes = dtypes or {}
    return all(_type_fits(rw, value, param, sig, dtypes) for value, param in _bindings(node, sig))


def drop_defaulted(node: Node, source: int, target: int) -> None:
    """Remove attributes the target's schema lacks; ``fits`` made sure they hold defaults."""
    sig = schemas.signature("", node.op_type, target)
    if sig is None:
        return
    for name in [n for n in node.attributes if n not in sig.attributes]:
        del node.attributes[name]


def _is_default(sig, name: str, attr: Attr) -> bool:
    if sig is None or name not in sig.attributes or attr.is_ref:
        return False
    default = sig.attributes[name][1]
    return default is not None and _plain(default) == _plain(attr.value)


def _plain(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _arity_fits(count: int, params) -> bool:
    if not params:
        return count == 0
    if params[-1][1] == "variadic":
        return True
    return count <= len(params)


def _bindings(node: Node, sig):
    """(value, type parameter) for every present input and output of ``node``."""
    for values, params in ((node.inputs, sig.inputs), (node.outputs, sig.outputs)):
        for index, value in enumerate(values):
            if value is None or not params:
                continue
            if index >= len(params) and params[-1][1] != "variadic":
                continue
            yield value, params[min(index, len(params) - 1)][2]


def _type_fits(rw: Rewriter, value: Value, param: str, sig, dtypes) -> bool:
    allowed = sig.type_constraints.get(param)
    if allowed is None:
        allowed = frozenset({param})  # the schema names the type itself, e.g. tensor(int64)
    text = type_string(rw.type_of(value), dtypes.get(id(value)))
    return text is None or text in allowed  # unknown types are left to the checker


def type_string(ir_type, dtype: DataType | None = None) -> str | None:
    """``tensor(float)``, ``seq(tensor(int64))``, ... as schemas write types; None if unknown."""
    if isinstance(ir_type, TensorType) or (ir_type is None and dtype is not None):
        code = dtype if dtype is not None else ir_type.dtype
        return schemas.type_string(int(code)) if isinstance(code, (int, DataType)) else None
    if isinstance(ir_type, (SequenceType, OptionalType)):
        inner = type_string(ir_type.elem)
        kind = "seq" if isinstance(ir_type, SequenceType) else "optional"
        return None if inner is None else f"{kind}({inner})"
    return None


# -- widen --------------------------------------------------------------------------------------

# Wider types that hold every value of a narrower one, nearest first. Computing in the wider
# type and casting back gives the same result for the ops allowed below: floats only gain
# precision, integer results wrap back to the narrow type exactly as the narrow op would.
_WIDER = {
    DataType.FLOAT16: (DataType.FLOAT, DataType.DOUBLE),
    DataType.BFLOAT16: (DataType.FLOAT, DataType.DOUBLE),
    DataType.FLOAT: (DataType.DOUBLE,),
    DataType.INT8: (DataType.INT16, DataType.INT32, DataType.INT64),
    DataType.INT16: (DataType.INT32, DataType.INT64),
    DataType.INT32: (DataType.INT64,),
    DataType.UINT8: (
        DataType.UINT16,
        DataType.INT32,
        DataType.UINT32,
        DataType.INT64,
        DataType.UINT64,
    ),
    DataType.UINT16: (DataType.INT32, DataType.UINT32, DataType.INT64, DataType.UINT64),
    DataType.UINT32: (DataType.INT64, DataType.UINT64),
    DataType.BOOL: (DataType.UINT8, DataType.INT32),
}

# Ops whose type parameters are not plain data: the element type picks the semantics (Cast,
# quantisation, random numbers) or lives in subgraphs.
_NOT_WIDENED = frozenset(
    {
        "Cast",
        "CastLike",
        "QuantizeLinear",
        "DequantizeLinear",
        "DynamicQuantizeLinear",
        "Bernoulli",
        "RandomNormal",
        "RandomNormalLike",
        "RandomUniform",
        "RandomUniformLike",
        "Multinomial",
        "EyeLike",
        "ConstantOfShape",
        "Constant",
        "If",
        "Loop",
        "Scan",
        "SequenceMap",
        "BitCast",
        "BitShift",
        "BitwiseNot",
        "BitwiseAnd",
        "BitwiseOr",
        "BitwiseXor",
        "IsNaN",
    }
)


def widen(rw: Rewriter, node: Node, target: int) -> bool:
    """Compute ``node`` in wider element types the target accepts, casting back after."""
    if node.op_type in _NOT_WIDENED or any(True for _ in node.subgraphs()):
        return False
    sig = schemas.signature("", node.op_type, target)
    cast = schemas.signature("", "Cast", target)
    if sig is None or cast is None:
        return False
    castable = cast.type_constraints.get("T1", frozenset()) & cast.type_constraints.get(
        "T2", frozenset()
    )
    by_param: dict[str, list[Value]] = {}
    for value, param in _bindings(node, sig):
        by_param.setdefault(param, []).append(value)
    chosen: dict[str, DataType] = {}
    for param, values in by_param.items():
        allowed = sig.type_constraints.get(param) or frozenset({param})
        dtypes = {rw.dtype(v) for v in values}
        if None in dtypes or len(dtypes) != 1:
            continue
        (dtype,) = dtypes
        if schemas.type_string(int(dtype)) in allowed:
            continue
        if not any(v in node.inputs for v in values):
            return False  # an output-only type (set by an attribute) cannot be widened
        wider = [
            w
            for w in _WIDER.get(dtype, ())
            if schemas.type_string(int(w)) in allowed
            and schemas.type_string(int(w)) in castable
            and schemas.type_string(int(dtype)) in castable
        ]
        if not wider:
            return False
        chosen[param] = wider[0]
    if not chosen:
        return False
    _rebuild_widened(rw, node, sig, chosen)
    return True


def _rebuild_widened(rw: Rewriter, node: Node, sig, chosen: dict[str, DataType]) -> None:
    """The same op on Cast inputs, at the node's own opset (the pass converts it next)."""
    inputs: list[Value | None] = []
    for index, value in enumerate(node.inputs):
        param = _param_of(sig.inputs, index)
        if value is not None and param in chosen:
            value = rw.op(node, "Cast", value, to=int(chosen[param]), suffix="widen")
        inputs.append(value)
    wide = rw.node(
        node,
        node.op_type,
        inputs,
        list(node.attributes.values()),
        outputs=len(node.outputs),
        suffix=node.op_type,
    )
    rw.set_opset(wide, rw.opset_of(node))
    results: list[Value | None] = []
    for index, (old, new) in enumerate(zip(node.outputs, wide.outputs)):
        param = _param_of(sig.outputs, index)
        if param in chosen and (old.has_uses() or old.name):
            new = rw.op(
                node,
                "Cast",
                new,
                to=int(rw.dtype(old) or _narrow(rw, node, param, sig)),
                suffix="narrow",
            )
        results.append(new)
    rw.replace(node, results)


def _narrow(rw: Rewriter, node: Node, param: str, sig) -> DataType:
    for index, value in enumerate(node.inputs):
        if value is not None and _param_of(sig.inputs, index) == param:
            return rw.dtype(value)
    raise AssertionError("widen chose a parameter bound to no input")


def _param_of(params, index: int) -> str | None:
    if not params:
        return None
    if index >= len(params) and params[-1][1] != "variadic":
        return None
    return params[min(index, len(params) - 1)][2]


# -- function bodies ----------------------------------------------------------------------------


def expand_into_body(rw: Rewriter, node: Node) -> tuple[list[Node], int] | None:
    """Replace ``node`` by the nodes of its schema's function body.

    Returns the new nodes (those of nested subgraphs included) and the opset they are written
    for, or None when onnx defines no body for the node.
    """
    types = [rw.type_of(v) for v in node.inputs]
    expansion = schemas.expand_function(node, rw.opset_of(node), types)
    if expansion is None:
        return None
    body: Graph = expansion.graph
    present = [v for v in node.inputs if v is not None]
    for placeholder, actual in zip(body.inputs, present):
        placeholder.replace_all_uses_with(actual)
    nodes = list(body.nodes)
    body.remove(nodes, safe=False)
    graph = node.graph
    base = node.name or node.op_type
    made: list[Node] = []
    for new in nodes:
        graph.insert_before(node, new)
        for inner in [new, *(n for sub in new.subgraphs() for n in sub.all_nodes())]:
            inner.name = rw.fresh(f"{base}_{inner.op_type}")
            rw.adopt_scope(inner, node)
            rw.set_opset(inner, expansion.opset)
            for value in _defined(inner):
                if value.name:
                    value.name = rw.fresh(f"{base}_{value.name.rstrip('_0123456789') or 'v'}")
            rw.made(inner)
            made.append(inner)
    outputs = list(body.outputs) + [None] * (len(node.outputs) - len(body.outputs))
    rw.replace(node, outputs[: len(node.outputs)])
    _remove_unused(graph, nodes)
    return made, expansion.opset


def _remove_unused(graph: Graph, nodes: list[Node]) -> None:
    """Drop body nodes nobody reads: the outputs of the operator this node did not ask for
    (onnx's inliner leaves their producers, with unnamed outputs)."""
    outputs = {id(v) for v in graph.outputs}
    for node in reversed(nodes):
        if not any(v.has_uses() or id(v) in outputs for v in node.outputs):
            graph.remove(node)


def _defined(node: Node):
    """The values ``node`` defines: its outputs and its subgraphs' inputs."""
    yield from node.outputs
    for sub in node.subgraphs():
        yield from sub.inputs
