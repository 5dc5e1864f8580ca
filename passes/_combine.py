"""Putting pieces back together: one model from models whose boundary tensors match by name.

Pieces are merged in order. A piece's input that an earlier piece produces is wired to it (the
types must agree, or the tensor is named in the error); other inputs become model inputs.
Nodes that a later piece copied from an earlier one (``internalize-constants``) are recognised
by their output names and kept once. Initializers with the same content are kept once, whatever
their names; two different initializers with the same name are an error. Scopes and all node
metadata come along unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from hcc.ir import Graph, HccError, Model, Node, Value
from hcc.ir._clone import clone_node, clone_value


class CombineError(HccError):
    """The pieces do not fit together."""


def combine_models(pieces: Sequence[Model], *, model_inputs: Sequence[str] | None = None,
                   model_outputs: Sequence[str] | None = None, name: str = "") -> Model:
    if not pieces:
        raise CombineError("nothing to combine")
    by_name: dict[str, Value] = {}  # every value of the combined graph, by name
    inputs: list[Value] = []
    initializers: dict[str, Value] = {}
    by_content: dict[tuple, Value] = {}
    nodes: list[Node] = []
    consumed: set[str] = set()
    produced_by_piece: list[list[Value]] = []
    for index, piece in enumerate(pieces):
        graph = piece.graph
        value_map: dict[Value, Value] = {}
        for value in graph.inputs:
            existing = by_name.get(value.name)
            if existing is not None:
                _check_types(existing, value, index)
                value_map[value] = existing
                consumed.add(value.name)
            else:
                copy = clone_value(value)
                by_name[value.name] = copy
                inputs.append(copy)
                value_map[value] = copy
        for value in graph.initializers.values():
            value_map[value] = _initializer(value, initializers, by_content, by_name, index)
        produced: list[Value] = []
        for node in graph.nodes:
            names = [v.name for v in node.outputs if v.name]
            if names and all(n in by_name for n in names):
                first = by_name[names[0]].producer
                if first is not None and _same_op(first, node):
                    for old in node.outputs:
                        if old.name:
                            value_map[old] = by_name[old.name]
                    continue  # a helper this piece copied from an earlier one
                raise CombineError(f"tensor {names[0]!r} is made by two different nodes "
                                   f"(piece {index + 1})")
            clash = [n for n in names if n in by_name]
            if clash:
                raise CombineError(f"tensor {clash[0]!r} is made twice (piece {index + 1})")
            copy = clone_node(node, value_map)
            nodes.append(copy)
            for value in copy.outputs:
                if value.name:
                    by_name[value.name] = value
                    produced.append(value)
        produced_by_piece.append(produced)
    # A model input that a piece produced later would make a cycle: pieces run in order.
    for value in inputs:
        if value.producer is not None:
            raise CombineError(f"tensor {value.name!r} is read before the piece that makes it")
    if model_inputs is not None:
        missing = [n for n in model_inputs if n not in {v.name for v in inputs}]
        if missing:
            raise CombineError(f"model input {missing[0]!r} is not an input of any piece")
        extra = [v.name for v in inputs if v.name not in set(model_inputs)]
        if extra:
            raise CombineError(f"tensor {extra[0]!r} is read by a piece but no earlier piece "
                               "makes it (boundary names do not match)")
        order = {n: i for i, n in enumerate(model_inputs)}
        inputs.sort(key=lambda v: order[v.name])
    if model_outputs is not None:
        outputs = []
        for output in model_outputs:
            if output not in by_name:
                raise CombineError(f"model output {output!r} is made by no piece")
            outputs.append(by_name[output])
    else:
        last = pieces[-1].graph.outputs
        outputs = [by_name[v.name] for v in last]
    graph = Graph(inputs, outputs, nodes, initializers=initializers.values(),
                  name=name or pieces[0].graph.name)
    for piece in pieces:
        for value in piece.graph.value_info:
            if value.name in by_name and by_name[value.name] not in graph.value_info:
                target = by_name[value.name]
                if target.type is None:
                    target.type = value.type
                graph.value_info.append(target)
    first = pieces[0]
    opsets: dict[str, int] = {}
    for piece in pieces:
        for domain, version in piece.opset_imports.items():
            if opsets.setdefault(domain, version) != version:
                raise CombineError(f"pieces import different versions of opset {domain or 'ai.onnx'!r}")
    functions = {}
    for piece in pieces:
        functions.update(piece.functions)
    metadata = {k: v for k, v in first.metadata_props.items() if k != "hcc.piece"}
    return Model(graph, ir_version=max(p.ir_version for p in pieces), opset_imports=opsets,
                 producer_name=first.producer_name, producer_version=first.producer_version,
                 domain=first.domain, model_version=first.model_version,
                 doc_string=first.doc_string, metadata_props=metadata,
                 functions=functions.values())


def _check_types(existing: Value, incoming: Value, index: int) -> None:
    a, b = existing.type, incoming.type
    if a is None or b is None:
        return
    if getattr(a, "dtype", None) != getattr(b, "dtype", None):
        raise CombineError(f"boundary tensor {incoming.name!r}: piece {index + 1} expects "
                           f"{b} but an earlier piece makes {a}")
    sa, sb = getattr(a, "shape", None), getattr(b, "shape", None)
    if sa is not None and sb is not None and (
        len(sa) != len(sb)
        or any(isinstance(x, int) and isinstance(y, int) and x != y for x, y in zip(sa, sb))
    ):
        raise CombineError(f"boundary tensor {incoming.name!r}: piece {index + 1} expects "
                           f"{b} but an earlier piece makes {a}")


def _initializer(value: Value, initializers: dict[str, Value], by_content: dict,
                 by_name: dict[str, Value], index: int) -> Value:
    key = _content_key(value)
    same = by_content.get(key)
    if same is not None:
        return same
    if value.name in initializers:
        raise CombineError(f"initializer {value.name!r} differs between pieces "
                           f"(piece {index + 1})")
    if value.name in by_name:
        raise CombineError(f"initializer {value.name!r} clashes with a tensor of an earlier piece")
    copy = clone_value(value)
    initializers[value.name] = copy
    by_name[value.name] = copy
    by_content[key] = copy
    return copy


def _content_key(value: Value) -> tuple:
    tensor = value.const_value
    digest = hashlib.sha256()
    view = tensor.raw_view() if tensor.dtype != 8 else memoryview(repr(tensor.numpy().tolist()).encode())
    for start in range(0, len(view), 1 << 24):
        digest.update(view[start:start + (1 << 24)])
    return (int(tensor.dtype), tensor.shape, digest.hexdigest())


def _same_op(a: Node, b: Node) -> bool:
    if (a.domain, a.op_type, a.overload) != (b.domain, b.op_type, b.overload):
        return False
    if set(a.attributes) != set(b.attributes):
        return False
    for name, attr in a.attributes.items():
        other = b.attributes[name]
        if attr.type != other.type:
            return False
        if attr.type in (1, 2, 3, 6, 7, 8) and attr.value != other.value:
            return False
    return True
