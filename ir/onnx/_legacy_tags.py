"""Node metadata below IR version 10, where NodeProto has no ``metadata_props`` field.

Files older than IR 10 keep every node's metadata (the scope tags among it) in one model-level
entry, ``hcc.node_metadata``: JSON mapping node names to their metadata, with function bodies
under ``"function:<domain>:<name>"``. Export writes it for models whose ``ir_version`` is below 10
(and leaves the nodes' own field empty); import puts the metadata back on the nodes, so the IR
looks the same whatever the file's version, and saving at IR 10 or later restores
``metadata_props`` on the nodes.
"""

from __future__ import annotations

import json

from ..errors import SaveError

NODE_METADATA_KEY = "hcc.node_metadata"
FIRST_IR_WITH_NODE_METADATA = 10
_POSITION = "node_metadata_position"


def _walk_graph(graph, into: list) -> None:
    for node in graph.node:
        into.append(node)
        for attr in node.attribute:
            if attr.HasField("g"):
                _walk_graph(attr.g, into)
            for sub in attr.graphs:
                _walk_graph(sub, into)


INLINE_FLAG = "inline_node_metadata"


def had_inline_metadata(proto) -> bool:
    """True for a file below IR 10 that nevertheless wrote metadata on its nodes (another
    tool's choice, kept as it was so the file round-trips unchanged)."""
    if proto.ir_version >= FIRST_IR_WITH_NODE_METADATA:
        return False
    nodes: list = []
    _walk_graph(proto.graph, nodes)
    for function in proto.functions:
        nodes.extend(function.node)
    return any(len(node.metadata_props) for node in nodes)


def fold_into_model(dst, position: int | None = None, *, keep_inline: bool = False) -> None:
    """On a ModelProto below IR 10: move node metadata into the model-level map."""
    if dst.ir_version >= FIRST_IR_WITH_NODE_METADATA or keep_inline:
        return
    sections: dict[str, dict[str, dict[str, str]]] = {}

    def collect(section: str, nodes: list) -> None:
        table: dict[str, dict[str, str]] = {}
        for node in nodes:
            if not len(node.metadata_props):
                continue
            if not node.name or node.name in table:
                raise SaveError(
                    f"node metadata below IR {FIRST_IR_WITH_NODE_METADATA} is stored by node "
                    f"name, but a {node.op_type} node has {'no' if not node.name else 'a repeated'}"
                    " name; give nodes unique names (downgrade-ir does)"
                )
            table[node.name] = {e.key: e.value for e in node.metadata_props}
            del node.metadata_props[:]
        if table:
            sections[section] = table

    nodes: list = []
    _walk_graph(dst.graph, nodes)
    collect("graph", nodes)
    for function in dst.functions:
        body: list = []
        for node in function.node:
            body.append(node)
        collect(f"function:{function.domain}:{function.name}", body)
    if not sections:
        return
    text = json.dumps(sections, separators=(",", ":"))
    entries = [(e.key, e.value) for e in dst.metadata_props if e.key != NODE_METADATA_KEY]
    index = len(entries) if position is None else min(position, len(entries))
    entries.insert(index, (NODE_METADATA_KEY, text))
    del dst.metadata_props[:]
    for key, value in entries:
        dst.metadata_props.add(key=key, value=value)


def unfold_from_model(model) -> None:
    """On an imported IR model below IR 10: give nodes back the metadata kept for them."""
    if model.ir_version >= FIRST_IR_WITH_NODE_METADATA:
        return
    text = model.metadata_props.get(NODE_METADATA_KEY)
    if text is None:
        return
    try:
        sections = json.loads(text)
    except ValueError:
        return  # not ours to understand; keep it as plain metadata
    if not isinstance(sections, dict):
        return
    from .._scope import MODULE_KEY, TAG_KEY, Scope

    def restore(nodes, table) -> None:
        if not isinstance(table, dict):
            return
        for node in nodes:
            props = table.get(node.name)
            if not isinstance(props, dict) or node.metadata_props:
                continue
            node.metadata_props = {str(k): str(v) for k, v in props.items()}
            tag = node.metadata_props.get(TAG_KEY)
            if tag:
                try:
                    node._set_scope_quietly(
                        Scope.from_tag(tag, node.metadata_props.get(MODULE_KEY))
                    )
                except ValueError:
                    pass

    restore(list(model.graph.all_nodes()), sections.get("graph"))
    for function in model.functions.values():
        restore(
            list(function.graph.all_nodes()),
            sections.get(f"function:{function.domain}:{function.name}"),
        )
    keys = list(model.metadata_props)
    model.proto_extras[_POSITION] = keys.index(NODE_METADATA_KEY)
    del model.metadata_props[NODE_METADATA_KEY]


def position(model) -> int | None:
    return model.proto_extras.get(_POSITION)
