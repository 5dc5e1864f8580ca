"""Structural keys of function bodies: equal keys mean one definition can serve both.

A key is a nested tuple that describes a graph by position, never by name: a value is known by
where it is defined (the k-th input, output j of the i-th node, ...), so two layers that differ
only in value and node names, or in which weights they are handed, get the same key. What the
key does cover is everything a shared body must get right for every caller:

* per node: domain, op type, overload, doc string, attributes (tensor attributes by content
  digest, graph attributes by their own key), which values it reads, how many it writes;
* per node, its scope *relative to the function* (tag, module path and ``namespace`` text), so
  inlining at any call site rebuilds the same scope tree below that site, and whether it is a
  Constant made of the caller's initializer;
* per value defined in the body: type, doc string and metadata; the body's value_info list;
* the function's inputs (their count), outputs (by position) and declared attributes.

Names and all other node metadata (stack traces, exporter notes) are left out on purpose: they
differ from layer to layer, and the call sites record them (see :mod:`.shared`).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Hashable
from typing import Any

from hcc.ir import (
    MODULE_KEY,
    NAMESPACE_KEY,
    TAG_KEY,
    Attr,
    AttrType,
    DataType,
    Function,
    Graph,
    Node,
    SparseTensor,
    Tensor,
    Value,
)

from .shared import INITIALIZER_KEY


def function_key(function: Function) -> tuple:
    """The structural key of a function: its interface and its body."""
    defaults = tuple(
        (name, attr_key(attr, {}, None))
        for name, attr in sorted(function.attribute_defaults.items())
    )
    return ("function", tuple(function.attributes), defaults, body_key(function.graph))


def body_key(graph: Graph) -> tuple:
    """The key of a top-level body. Its inputs count by number only: a function's inputs have
    no types in the file, so callers may pass any (ONNX functions are polymorphic)."""
    refs: dict[int, Hashable] = {}
    counter = itertools.count()
    # The values a body returns are typed by the caller (the call's outputs), not the body.
    for value in graph.outputs:
        refs[id(value)] = _RETURNED
    return _graph_key(graph, refs, counter, top=True)


_RETURNED = ("returned",)


def _graph_key(graph: Graph, refs: dict[int, Hashable], counter, *, top: bool = False) -> tuple:
    # Inputs and initializers first, then every node in order; a value read from an enclosing
    # graph (a capture) keeps the reference given to it there.
    inputs = []
    for value in graph.inputs:
        refs[id(value)] = ("v", next(counter))
        inputs.append(None if top else _value_key(value))
    initializers = []
    for value in graph.initializers.values():
        if id(value) not in refs:
            refs[id(value)] = ("v", next(counter))
        initializers.append((refs[id(value)], _value_key(value), tensor_digest(value.const_value)))
    nodes = [_node_key(node, refs, counter) for node in graph.nodes]
    outputs = tuple(_ref(value, refs) for value in graph.outputs)
    value_info = tuple((_ref(value, refs), value.type) for value in graph.value_info)
    return (tuple(inputs), tuple(initializers), tuple(nodes), outputs, value_info)


# Node metadata that is part of a body's meaning: the relative scope, and the mark of a
# Constant that stands for one of the caller's initializers (it turns back into one).
_STRUCTURAL_METADATA = (TAG_KEY, MODULE_KEY, NAMESPACE_KEY, INITIALIZER_KEY)


def _node_key(node: Node, refs: dict[int, Hashable], counter) -> tuple:
    metadata = node.metadata_props
    scope = tuple(metadata.get(key) for key in _STRUCTURAL_METADATA)
    inputs = tuple(None if value is None else _ref(value, refs) for value in node.inputs)
    # Attributes may hold subgraphs that read this node's inputs' neighbours: key them before
    # this node's outputs are numbered, as the file format scopes them.
    attributes = tuple(attr_key(attr, refs, counter) for attr in node.attributes.values())
    outputs = []
    for value in node.outputs:
        returned = refs.get(id(value)) is _RETURNED
        refs[id(value)] = ("v", next(counter))
        outputs.append(None if returned else _value_key(value))
    return (
        node.domain,
        node.op_type,
        node.overload,
        node.doc_string,
        scope,
        attributes,
        inputs,
        tuple(outputs),
    )


def _ref(value: Value, refs: dict[int, Hashable]) -> Hashable:
    # A value defined nowhere in the body is a bug elsewhere; keying it by name keeps two such
    # bodies from being taken for equal.
    return refs.get(id(value), ("free", value.name))


def _value_key(value: Value) -> tuple:
    return (value.type, value.doc_string, tuple(sorted(value.metadata_props.items())))


def attr_key(attr: Attr, refs: dict[int, Hashable], counter) -> tuple:
    """The key of one attribute; graphs are keyed structurally, tensors by content."""
    kind = int(attr.type)
    if attr.ref_attr_name is not None:
        return (attr.name, kind, "ref", attr.ref_attr_name, attr.doc_string)
    return (attr.name, kind, _attr_value_key(attr, refs, counter), attr.doc_string)


def _attr_value_key(attr: Attr, refs, counter) -> Hashable:
    kind, value = attr.type, attr.value
    if value is None:
        return None
    if kind == AttrType.GRAPH:
        return _graph_key(value, refs, counter if counter is not None else itertools.count())
    if kind == AttrType.GRAPHS:
        return tuple(
            _graph_key(g, refs, counter if counter is not None else itertools.count())
            for g in value
        )
    if kind == AttrType.TENSOR:
        return tensor_digest(value)
    if kind == AttrType.TENSORS:
        return tuple(tensor_digest(t) for t in value)
    if kind == AttrType.SPARSE_TENSOR:
        return _sparse_digest(value)
    if kind == AttrType.SPARSE_TENSORS:
        return tuple(_sparse_digest(s) for s in value)
    if kind == AttrType.FLOAT:
        return repr(float(value))  # repr tells -0.0 and nan apart, == does not
    if kind == AttrType.FLOATS:
        return tuple(repr(float(v)) for v in value)
    return _hashable(value)


def _hashable(value: Any) -> Hashable:
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def tensor_digest(tensor: Tensor | None) -> Hashable:
    """Element type, shape and a digest of the contents: equal digests, equal tensors. The name
    is left out: the same constant made in two layers is often named after its layer."""
    if tensor is None:
        return None
    if tensor.dtype == DataType.STRING:  # no raw form: digest the items
        data = repr(tensor.numpy().reshape(-1).tolist()).encode()
    else:
        data = bytes(tensor.raw_view())
    digest = hashlib.sha256(data).hexdigest()
    return (
        int(tensor.dtype),
        tensor.shape,
        digest,
        tensor.doc_string,
        tuple(sorted(tensor.metadata_props.items())),
    )


def _sparse_digest(sparse: SparseTensor) -> Hashable:
    return (tensor_digest(sparse.values), tensor_digest(sparse.indices), sparse.dims)
