"""The JSON views of seed 003: the module tree, one DAG per module, and per-op metadata.

* ``hierarchy_data``: the ``hcc.hierarchy`` module tree (or, for a model without one, a tree
  rebuilt from the node scopes, marked ``"derived": true``).
* ``dag_data``: ``{tag: {"nodes": [...], "edges": [[src, dst], ...]}}`` for every module scope.
  A module's DAG holds the ops of the module *and of its submodules* (``graph.nodes_in``):
  that is what the module's forward computed, and what a split would cut out for it. Pass
  ``own_only=True`` for the ops tagged with exactly that scope. Edges join two ops of the same
  DAG when one reads a value the other makes; ops outside (graph inputs, other modules) are
  left out, as the seed asks. Sibling modules of one class share a tag (two ``Conv1D`` of one
  attention block), so their DAGs are merged under it; ``key="module"`` keys by module path.
* ``op_metadata``: ``{name: {"op_type", "inputs", "outputs", "tags", ...}}`` for every node
  and every initializer; an initializer's ``tags`` are all the scopes whose ops read it.
"""

from __future__ import annotations

from hcc.ir import Model, Node, Scope
from hcc.ir import node_reads as _reads

from ._common import SCOPES_KEY, hierarchy_tree, node_names, scope_tree, users_scopes

KEYS = ("tag", "module")


def hierarchy_data(model: Model) -> dict:
    tree = hierarchy_tree(model)
    if tree is not None:
        return tree
    return _derived_tree(model)


def _derived_tree(model: Model) -> dict:
    """A module tree from the scopes alone: what can be known without ``hcc.hierarchy``."""
    entries: dict[Scope, dict] = {}
    roots: list[dict] = []
    for scope in scope_tree(model):
        entry = {
            "path": scope.module_path,
            "class": scope.class_name.split(".")[0],
            "tag": scope.tag,
            "children": [],
        }
        entries[scope] = entry
        parent = entries.get(scope.parent) if scope.parent is not None else None
        (parent["children"] if parent is not None else roots).append(entry)
    if len(roots) == 1:
        return {**roots[0], "derived": True}
    return {"derived": True, "roots": roots}


def dag_data(model: Model, *, own_only: bool = False, key: str = "tag") -> dict[str, dict]:
    """One DAG per module scope, in the order of :func:`scope_tree` (execution order)."""
    if key not in KEYS:
        raise ValueError(f"key must be one of {KEYS}, not {key!r}")
    graph = model.graph
    names = node_names(graph)
    edges = _edges(model)
    result: dict[str, dict] = {}
    members: dict[str, set[Node]] = {}
    for scope in scope_tree(model):
        label = scope.tag if key == "tag" else scope.module_path
        inside = {n for n in graph if (n.scope == scope if own_only else n.scope.is_within(scope))}
        members.setdefault(label, set()).update(inside)
    for label, inside in members.items():
        result[label] = {
            "nodes": [names[n] for n in graph if n in inside],
            "edges": [[names[a], names[b]] for a, b in edges if a in inside and b in inside],
        }
    return result


def _edges(model: Model) -> list[tuple[Node, Node]]:
    """Producer -> consumer pairs of the main graph, each once, in consumer order. A node that
    reads a value inside one of its subgraphs counts as reading it."""
    graph = model.graph
    pairs: dict[tuple[Node, Node], None] = {}
    for node in graph:
        for value in _reads(node):
            producer = value.producer
            if producer is not None and producer.graph is graph and producer is not node:
                pairs[(producer, node)] = None
    return list(pairs)


def op_metadata(model: Model) -> dict[str, dict]:
    """Every node (main graph and subgraphs) and every initializer, keyed by name."""
    result: dict[str, dict] = {}
    for graph in model.graph.subgraphs(include_self=True):
        names = node_names(graph)
        for node in graph:
            entry = {
                "op_type": node.op_type,
                "inputs": [v.name if v is not None else "" for v in node.inputs],
                "outputs": [v.name for v in node.outputs],
                "tags": [] if node.scope.is_unknown else [node.scope.tag],
                "module": node.scope.module_path,
            }
            if node.domain:
                entry["domain"] = node.domain
            readers = _reader_tags(node)
            if readers:
                # A node several modules read keeps one scope; these are all its readers'.
                entry["used_by"] = readers
            result[_unique(names[node], result)] = entry
    for graph in model.graph.subgraphs(include_self=True):
        for name, value in graph.initializers.items():
            scopes = [s for s in users_scopes(value, graph) if not s.is_unknown]
            tensor = value.const_value
            dtype = getattr(tensor.dtype, "name", str(tensor.dtype)).lower()
            result[_unique(name, result, prefix="initializer:")] = {
                "op_type": "Initializer",
                "inputs": [],
                "outputs": [name],
                "tags": list(dict.fromkeys(s.tag for s in scopes)),
                "modules": list(dict.fromkeys(s.module_path for s in scopes)),
                "dtype": dtype,
                "shape": list(tensor.shape),
            }
    return result


def _reader_tags(node) -> list[str]:
    """The ``hcc.scopes`` that propagate-tags records on a node several scopes read."""
    import json

    text = node.metadata_props.get(SCOPES_KEY)
    if not text:
        return []
    try:
        tags = json.loads(text)
    except ValueError:
        return []
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def _unique(name: str, taken: dict, prefix: str = "") -> str:
    """``name``, or (when a node already took it) ``prefix + name`` with a counter if needed."""
    if name not in taken:
        return name
    candidate = f"{prefix}{name}" if prefix else f"{name}_"
    while candidate in taken:
        candidate += "_"
    return candidate
