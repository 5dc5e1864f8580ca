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
        scope = scope.child(module_path, class_segment(qualified_class, module_path), qualified_class)
    return scope


def iter_tree(tree: dict) -> Iterator[dict]:
    """Every entry of a module tree (``hcc.hierarchy``), parents before children."""
    yield tree
    for child in tree.get("children", ()):
        yield from iter_tree(child)


def scopes_by_module_path(tree: dict) -> dict[str, Scope]:
    """For each module path in a module tree, the scope its ops get under the tag rules."""
    result: dict[str, Scope] = {}

    def walk(entry: dict, stack: list[tuple[str, str]]) -> None:
        stack = stack + [(entry["path"], entry["qualified_class"])]
        result[entry["path"]] = scope_from_stack(stack)
        for child in entry.get("children", ()):
            walk(child, stack)

    walk(tree, [])
    return result
