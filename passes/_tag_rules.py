"""Tag rules: how a stack of executing modules maps to a scope (shared by every front end).

The same for every architecture; nothing here knows model names:

* a node's tag is the class path of the most specific module that executed it;
* modules defined by ``torch.nn`` itself (Linear, LayerNorm, Dropout, Sequential, ...) are skipped:
  their ops belong to the nearest enclosing module that is not a ``torch.nn`` built-in;
* the root module always stays, whatever its class, so every node has a scope under the model;
* a module whose attribute name is an index (an element of a ModuleList or Sequential) is
  written ``ElementClass.index``, e.g. ``BertLayer.0``.

Only strings are handled here, so the passes that read stored metadata need no torch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from hcc.ir import Scope

BUILTIN_PREFIX = "torch.nn."


def is_builtin(qualified_class: str) -> bool:
    """True for classes that ``torch.nn`` itself defines (their ops go to the owner's scope)."""
    return qualified_class.startswith(BUILTIN_PREFIX)


def class_segment(qualified_class: str, module_path: str) -> str:
    """The tag segment of a module: its class name, with ``.index`` for list elements."""
    short = qualified_class.rsplit(".", 1)[-1]
    last = module_path.rsplit(".", 1)[-1] if module_path else ""
    return f"{short}.{last}" if last.isdigit() else short


def scope_from_stack(stack: Sequence[tuple[str, str]]) -> Scope:
    """The scope for a stack of executing modules, outermost first.

    ``stack`` holds ``(module_path, qualified_class)`` pairs from the root to the innermost
    module; the root's path is ``""``.
    """
    if not stack:
        return Scope.unknown()
    root_path, root_class = stack[0]
    scope = Scope.root(class_segment(root_class, root_path), root_class)
    for module_path, qualified_class in stack[1:]:
        if is_builtin(qualified_class):
            continue
        scope = scope.child(
            module_path, class_segment(qualified_class, module_path), qualified_class
        )
    return scope


class ModuleTreeError(ValueError):
    """Stored ``hcc.hierarchy`` text that is not a module tree (damaged or hostile)."""


def parse_module_tree(text: str) -> dict:
    """The module tree stored as ``hcc.hierarchy`` JSON, checked entry by entry.

    Anything else (not JSON, nested past Python's limits, entries of the wrong type) is a
    :class:`ModuleTreeError`, so a damaged tree is one clear error and never a crash deep in
    a walk.
    """
    try:
        tree = json.loads(text)
    except RecursionError:
        raise ModuleTreeError("the module tree is nested too deeply") from None
    except ValueError as error:
        raise ModuleTreeError(f"the module tree is not valid JSON: {error}") from None
    for _ in iter_tree(tree):
        pass  # iter_tree checks every entry
    return tree


def iter_tree(tree: dict) -> Iterator[dict]:
    """Every entry of a module tree (``hcc.hierarchy``), parents before children.

    Walked with a stack, not recursion, so a deep tree cannot exhaust Python's; an entry that
    is not a module raises :class:`ModuleTreeError`.
    """
    stack = [tree]
    while stack:
        entry = stack.pop()
        _check_entry(entry)
        yield entry
        stack.extend(reversed(entry.get("children", ())))


def _check_entry(entry) -> None:
    if not isinstance(entry, dict):
        raise ModuleTreeError(f"a module tree entry is {_json_kind(entry)}, not an object")
    for key in ("path", "qualified_class"):
        if not isinstance(entry.get(key), str):
            raise ModuleTreeError(f"a module tree entry has no string {key!r}")
    if not isinstance(entry.get("children", []), list):
        raise ModuleTreeError(f"the children of module {entry['path']!r} are not a list")


def _json_kind(value) -> str:
    kinds = {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        type(None): "null",
    }
    return kinds.get(type(value), type(value).__name__)


def scopes_by_module_path(tree: dict) -> dict[str, Scope]:
    """For each module path in a module tree, the scope its ops get under the tag rules."""
    result: dict[str, Scope] = {}
    parents: dict[int, Scope | None] = {id(tree): None}
    for entry in iter_tree(tree):
        # One level on the parent's scope: what scope_from_stack does for the whole stack.
        parent = parents.pop(id(entry))
        path, qualified_class = entry["path"], entry["qualified_class"]
        if parent is None:
            scope = scope_from_stack([(path, qualified_class)])
        elif is_builtin(qualified_class):
            scope = parent
        else:
            scope = parent.child(path, class_segment(qualified_class, path), qualified_class)
        result[path] = scope
        for child in entry.get("children", ()):
            parents[id(child)] = scope
    return result
