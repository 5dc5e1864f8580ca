"""Helpers every inspection shares: reading a model, naming nodes, walking the module tree."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

import hcc.ir as ir
from hcc.ir import HIERARCHY_KEY, Graph, Model, Node, Scope, files
from hcc.ir import owner_in as _owner_in

SCOPES_KEY = "hcc.scopes"


def load_model(path: str) -> Model:
    """``hcc.ir.load`` with a hint when the file is plainly something else than ONNX."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ir.HccError("is a folder, not an ONNX file", location=path)
    if path.endswith(".graphml"):
        # ir.load would report corrupt protobuf; the user most likely wants the importer.
        raise ir.HccError(
            "is GraphML, not ONNX; turn it back into ONNX with 'hcc import-graphml'", location=path
        )
    return ir.load(path)


def node_names(graph: Graph) -> dict[Node, str]:
    """A unique, stable name per node of ``graph``: its own name, else ``<op_type>_<index>``.

    JSON reports key nodes by name; exporters name every node, but passes may not, and two
    unnamed nodes must still get distinct keys.
    """
    names: dict[Node, str] = {}
    taken = {n.name for n in graph if n.name}
    given: set[str] = set()
    for index, node in enumerate(graph):
        name = node.name
        if not name or name in given:
            name = f"{node.op_type}_{index}"
            while name in taken:
                name += "_"
            taken.add(name)
        given.add(name)
        names[node] = name
    return names


def scope_label(scope: Scope) -> str:
    """``/Root/Child (module.path)``: the tag is not unique per module (two sibling Conv1D
    modules share one), the module path is."""
    if scope.is_unknown:
        return "<no scope>"
    return f"{scope.tag} ({scope.module_path})" if scope.module_path else scope.tag


def hierarchy_tree(model: Model) -> dict | None:
    """The module tree stored in ``hcc.hierarchy``, or None if absent.

    A tree that is not valid JSON raises: a damaged tree is a finding, not an absence.
    """
    text = model.metadata_props.get(HIERARCHY_KEY)
    if text is None:
        return None
    from hcc.passes._tag_rules import ModuleTreeError, parse_module_tree

    try:
        return parse_module_tree(text)
    except ModuleTreeError as error:
        # Located at the file the model was read from, when it was read from one.
        raise ir.HccError(
            f"the {HIERARCHY_KEY} metadata is not a module tree: "
            f"{str(error).removeprefix('the module tree ')}",
            location=model.proto_extras.get("source_path"),
        ) from None


def hierarchy_file_text(model: Model) -> str:
    """The stored module tree as it is, indented: the ``hierarchy`` report of ``hcc build`` and
    ``hcc export --hierarchy-json`` (``{}`` when the model has none)."""
    tree = json.loads(model.metadata_props.get(HIERARCHY_KEY, "{}"))
    return json.dumps(tree, indent=2) + "\n"


def hierarchy_scopes(tree: dict) -> dict[str, Scope]:
    """For each non-built-in module path of the tree, the scope its ops carry."""
    from hcc.passes._tag_rules import iter_tree, scopes_by_module_path

    by_path = scopes_by_module_path(tree)
    # Built-in modules (Linear, ModuleList) have no scope of their own: they map to the owner.
    return {
        entry["path"]: by_path[entry["path"]]
        for entry in iter_tree(tree)
        if not entry.get("builtin")
    }


def scope_tree(model: Model) -> list[Scope]:
    """Every module scope of the model, parents before children, siblings in execution order.

    The scopes are those of the nodes (and their ancestors) plus the non-built-in modules of
    ``hcc.hierarchy``; modules that hold no node come after their siblings that do.
    """
    first_use: dict[Scope, int] = {}
    for index, node in enumerate(model.graph):
        for scope in node.scope.ancestors(include_self=True):
            if scope.is_unknown:
                continue
            first_use.setdefault(scope, index)
    known = dict.fromkeys(first_use)
    for scope in (readable_hierarchy(model) or {}).values():
        for level in scope.ancestors(include_self=True):
            known.setdefault(level, None)
    children: dict[Scope | None, list[Scope]] = {}
    for scope in known:
        children.setdefault(scope.parent, []).append(scope)
    never = len(model.graph)
    ordered: list[Scope] = []

    def visit(parent: Scope | None) -> None:
        # sorted() is stable: scopes without nodes keep the hierarchy's order among themselves.
        for scope in sorted(children.get(parent, []), key=lambda s: first_use.get(s, never)):
            ordered.append(scope)
            visit(scope)

    visit(None)
    return ordered


def readable_hierarchy(model: Model) -> dict[str, Scope] | None:
    """:func:`hierarchy_scopes` of the stored tree, or None when it is absent or damaged
    (views still work from the node scopes; ``hcc validate`` reports the damage)."""
    try:
        tree = hierarchy_tree(model)
        return None if tree is None else hierarchy_scopes(tree)
    except (ir.HccError, KeyError, TypeError, ValueError, AttributeError):
        return None


def users_scopes(value: ir.Value, graph: Graph) -> list[Scope]:
    """Scopes of the nodes of ``graph`` that read ``value`` (a subgraph's read counts for the
    node owning the subgraph), in order of first use."""
    scopes: dict[Scope, None] = {}
    for user, _ in value.uses:
        scopes[_owner_in(user, graph).scope] = None
    return list(scopes)


def write_text(path: str, text: str) -> None:
    """Write a file atomically (creating its folder): a failure leaves the old file or none."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    files.write_text(path, text)


def dump_json(data) -> str:
    """Indented JSON whose short lists of plain values stay on one line.

    ``json.dumps(indent=2)`` puts every element on its own line, so a DAG's edge pairs and an
    op's inputs would take a screen each; this keeps them readable and diffable.
    """
    return _dump(data, 0) + "\n"


def _dump(data, level: int) -> str:
    pad, inner = "  " * level, "  " * (level + 1)
    if isinstance(data, dict):
        if not data:
            return "{}"
        items = [f"{inner}{json.dumps(str(k))}: {_dump(v, level + 1)}" for k, v in data.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(data, (list, tuple)):
        if not data:
            return "[]"
        if all(not isinstance(x, (dict, list, tuple)) for x in data):
            flat = json.dumps(data)
            if len(flat) <= 100:
                return flat
        items = [f"{inner}{_dump(x, level + 1)}" for x in data]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(data)


def human_bytes(count: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TB"


def histogram(ops: Iterable[str]) -> dict[str, int]:
    """Counts per op type, most frequent first (ties by name), as a plain dict for JSON."""
    counts: dict[str, int] = {}
    for op in ops:
        counts[op] = counts.get(op, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
