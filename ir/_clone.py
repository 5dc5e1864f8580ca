"""Copying parts of the IR into another graph: nodes with their attributes and subgraphs.

Tensors are shared, not copied (they are immutable in practice and may be memory-mapped), so
cloning a piece of a large model costs no weight bytes. Values are mapped through ``value_map``:
an input found there is replaced by its mapping; outer values read by subgraphs likewise.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._attributes import Attr, AttrType
from ._graph import Graph
from ._nodes import Node, Value


def clone_value(value: Value, name: str | None = None) -> Value:
    """A fresh value with the same name, type and metadata (no producer, no uses)."""
    copy = Value(
        value.name if name is None else name,
        value.type,
        const_value=value.const_value,
        doc_string=value.doc_string,
        metadata_props=value.metadata_props,
    )
    copy.proto_extras = dict(value.proto_extras)
    return copy


def clone_node(node: Node, value_map: dict[Value, Value]) -> Node:
    """A copy of ``node`` reading mapped inputs; its new outputs are added to ``value_map``."""
    inputs = [None if v is None else value_map.get(v, v) for v in node.inputs]
    outputs = [clone_value(v) for v in node.outputs]
    copy = Node(
        node.domain,
        node.op_type,
        inputs,
        outputs=outputs,
        name=node.name,
        overload=node.overload,
        doc_string=node.doc_string,
        metadata_props=node.metadata_props,
    )
    copy._set_scope_quietly(node.scope)
    copy.proto_extras = dict(node.proto_extras)
    for old, new in zip(node.outputs, outputs):
        value_map[old] = new
    for attr in node.attributes.values():
        copy.attributes[attr.name] = _clone_attr(attr, copy, value_map)
    return copy


def _clone_attr(attr: Attr, owner: Node, value_map: dict[Value, Value]) -> Attr:
    value = attr.value
    if attr.type == AttrType.GRAPH and value is not None:
        value = clone_graph(value, value_map, parent=owner)
    elif attr.type == AttrType.GRAPHS:
        value = [clone_graph(g, value_map, parent=owner) for g in value]
    elif isinstance(value, list):
        value = list(value)
    copy = Attr(
        attr.name, attr.type, value, doc_string=attr.doc_string, ref_attr_name=attr.ref_attr_name
    )
    copy.proto_extras = dict(attr.proto_extras)
    return copy


def clone_graph(
    graph: Graph, value_map: dict[Value, Value] | None = None, *, parent: Node | None = None
) -> Graph:
    """A deep copy of ``graph``; values outside it are mapped through ``value_map``."""
    value_map = {} if value_map is None else value_map
    inputs = []
    for value in graph.inputs:
        value_map[value] = clone_value(value)
        inputs.append(value_map[value])
    initializers = []
    for value in graph.initializers.values():
        if value not in value_map:
            value_map[value] = clone_value(value)
        initializers.append(value_map[value])
    nodes = clone_nodes(graph.nodes, value_map)
    copy = Graph(
        inputs,
        [],
        nodes,
        initializers=initializers,
        name=graph.name,
        doc_string=graph.doc_string,
        metadata_props=graph.metadata_props,
    )
    copy.outputs.extend(value_map.get(v, v) for v in graph.outputs)
    copy.value_info.extend(value_map.get(v, v) for v in graph.value_info)
    copy.sparse_initializers = list(graph.sparse_initializers)
    copy.proto_extras = dict(graph.proto_extras)
    copy.parent = parent
    return copy


def clone_nodes(nodes: Iterable[Node], value_map: dict[Value, Value]) -> list[Node]:
    """Copies of ``nodes`` (in order), wired to each other and to ``value_map``."""
    return [clone_node(node, value_map) for node in nodes]
