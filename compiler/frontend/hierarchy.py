"""The module tree of an ``nn.Module``, stored as the ``hcc.hierarchy`` model metadata."""

from __future__ import annotations

import json

from hcc.ir import Scope
from hcc.passes._tag_rules import class_segment, is_builtin


def module_tree(module) -> dict:
    """The module tree as plain data: path, class, tag, parameter count and children.

    ``parameters`` counts the parameters of the module and everything below it, each shared
    parameter once. ``tag`` is the tag that ops of this module get under the rules above (for a
    built-in, the owner's tag).
    """
    qualified = {
        path: f"{type(m).__module__}.{type(m).__qualname__}" for path, m in module.named_modules()
    }

    def build(path: str, m, owner_scope: Scope | None) -> dict:
        cls = qualified[path]
        if owner_scope is None:
            scope = Scope.root(class_segment(cls, path), cls)
        elif is_builtin(cls):
            scope = owner_scope
        else:
            scope = owner_scope.child(path, class_segment(cls, path), cls)
        seen: set[int] = set()
        count = 0
        for p in m.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                count += p.numel()
        children = [
            build(f"{path}.{name}" if path else name, child, scope)
            for name, child in m.named_children()
        ]
        node = {
            "path": path,
            "class": cls.rsplit(".", 1)[-1],
            "qualified_class": cls,
            "tag": scope.tag,
            "builtin": is_builtin(cls),
            "parameters": count,
            "children": children,
        }
        return node

    return build("", module, None)


def hierarchy_json(module) -> str:
    """``module_tree`` as compact, deterministic JSON (the ``hcc.hierarchy`` model metadata)."""
    return json.dumps(module_tree(module), separators=(",", ":"), sort_keys=False)
