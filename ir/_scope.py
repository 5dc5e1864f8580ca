"""Scopes: where in the source module tree a node came from.

A scope is one level of the ``nn.Module`` tree. It knows its parent, the module's attribute path
(``encoder.layer.0.attention.self``) and the class segment of its tag (``BertLayer.0`` for the
first element of a ModuleList). Scopes are immutable values: two scopes with the same chain of
levels are equal, so they can be built anywhere and compared or used as dict keys.

The *tag* of a scope is its class path, ``/BertModel/BertEncoder/BertLayer.0``. The unknown scope
(``Scope.unknown()``) is a root with no class; a node sits there until a pass tags it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_INDEXED = re.compile(r"^(?P<cls>.+)\.(?P<index>\d+)$")

# How a node's scope is stored in its metadata_props (see ``Node.scope``).
TAG_KEY = "hcc.tag"
MODULE_KEY = "hcc.module"
# Model Explorer groups nodes by this key: one "<module path>: <class>" entry per level, joined
# by "/", the root with an empty path.
NAMESPACE_KEY = "namespace"
# The model's module tree (paths, classes, tags), as JSON in the model's metadata_props: written
# by the front end, read by recover-scopes, the reports and the checks against torch.
HIERARCHY_KEY = "hcc.hierarchy"


def namespace_of(scope: Scope) -> str:
    """The ``namespace`` metadata string that shows ``scope`` as nested groups in viewers."""
    levels = reversed(list(scope.ancestors(include_self=True)))
    return "/".join(f"{s.module_path}: {s.qualified_class or s.class_name}" for s in levels)


class Scope:
    """One level of the module tree, identified by its chain of (module path, class segment)."""

    __slots__ = ("_parent", "_module_path", "_class_name", "_qualified_class", "_key", "_hash")

    def __init__(
        self,
        parent: Scope | None,
        module_path: str,
        class_name: str,
        qualified_class: str | None = None,
    ) -> None:
        if parent is not None and parent.is_unknown:
            raise ValueError("the unknown scope cannot have children")
        if "/" in class_name:
            raise ValueError(f"class segment {class_name!r} must not contain '/'")
        if parent is not None and not class_name:
            # "/A/" could not be read back by from_tag; only the unknown root has no class.
            raise ValueError("a child scope needs a class segment")
        self._parent = parent
        self._module_path = module_path
        self._class_name = class_name
        self._qualified_class = qualified_class
        self._key: tuple[tuple[str, str], ...] = (parent._key if parent is not None else ()) + (
            (module_path, class_name),
        )
        self._hash = hash(self._key)

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def unknown(cls) -> Scope:
        """The scope of a node whose origin is not known (yet)."""
        return cls(None, "", "")

    @classmethod
    def root(cls, class_name: str, qualified_class: str | None = None) -> Scope:
        """The scope of the top-level module, e.g. ``Scope.root("BertModel")``."""
        if not class_name:
            raise ValueError("a root scope needs a class name; use Scope.unknown() otherwise")
        return cls(None, "", class_name, qualified_class)

    def child(self, module_path: str, class_name: str, qualified_class: str | None = None) -> Scope:
        """The scope of a submodule; ``module_path`` is the full attribute path from the root."""
        return Scope(self, module_path, class_name, qualified_class)

    @classmethod
    def from_tag(cls, tag: str, module_path: str | None = None) -> Scope:
        """Rebuild a scope from its stored form: a class path and (optionally) a module path.

        Module paths of the intermediate levels are recovered by walking the module path one
        attribute per class segment; a segment written ``Class.N`` (a ModuleList element) takes
        attributes up to and including the index ``N``. If the two paths do not line up, every
        level keeps the best prefix found and the last level keeps the whole module path.
        """
        if not tag or tag == "/":
            return cls.unknown()
        if not tag.startswith("/"):
            raise ValueError(f"a tag starts with '/': {tag!r}")
        segments = tag[1:].split("/")
        if any(not s for s in segments):
            raise ValueError(f"empty class segment in tag {tag!r}")
        tokens = module_path.split(".") if module_path else []
        scope = cls.root(segments[0])
        used = 0
        for i, segment in enumerate(segments[1:], start=1):
            match = _INDEXED.match(segment)
            take = used + 1
            if match is not None:
                index = match.group("index")
                for j in range(used, len(tokens)):
                    if tokens[j] == index:
                        take = j + 1
                        break
            take = min(take, len(tokens))
            path = ".".join(tokens[:take])
            if i == len(segments) - 1 and module_path is not None:
                path = module_path
            scope = scope.child(path, segment)
            used = take
        return scope

    # -- identity -----------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Scope) and self._key == other._key

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        if self.is_unknown:
            return "Scope.unknown()"
        return f"Scope({self.tag!r}, module={self.module_path!r})"

    def __reduce__(self):
        return (Scope, (self._parent, self._module_path, self._class_name, self._qualified_class))

    # -- properties ---------------------------------------------------------------------------

    @property
    def parent(self) -> Scope | None:
        return self._parent

    @property
    def module_path(self) -> str:
        """Attribute path from the root module (``""`` for the root)."""
        return self._module_path

    @property
    def class_name(self) -> str:
        """This level's segment of the tag, e.g. ``BertLayer.0``."""
        return self._class_name

    @property
    def qualified_class(self) -> str | None:
        """The module's fully qualified class, when the front end knew it."""
        return self._qualified_class

    @property
    def is_unknown(self) -> bool:
        return self._parent is None and not self._class_name

    @property
    def is_root(self) -> bool:
        return self._parent is None

    @property
    def depth(self) -> int:
        """0 for the root, 1 for its children, and so on."""
        return len(self._key) - 1

    @property
    def tag(self) -> str:
        """The class path, ``/BertModel/BertEncoder/BertLayer.0`` (``""`` when unknown)."""
        if self.is_unknown:
            return ""
        return "/" + "/".join(class_name for _, class_name in self._key)

    @property
    def root_scope(self) -> Scope:
        scope = self
        while scope._parent is not None:
            scope = scope._parent
        return scope

    def ancestors(self, *, include_self: bool = False) -> Iterator[Scope]:
        """From the nearest ancestor (or self) up to the root."""
        scope = self if include_self else self._parent
        while scope is not None:
            yield scope
            scope = scope._parent

    def is_within(self, other: Scope) -> bool:
        """True if this scope is ``other`` or lies below it."""
        n = len(other._key)
        return len(self._key) >= n and self._key[:n] == other._key

    def common_ancestor(self, other: Scope) -> Scope | None:
        """The deepest scope both lie within, or None if they have different roots."""
        if self._key[:1] != other._key[:1]:
            return None
        a, b = self, other
        while a.depth > b.depth:
            a = a._parent  # type: ignore[assignment]
        while b.depth > a.depth:
            b = b._parent  # type: ignore[assignment]
        while a != b:
            a, b = a._parent, b._parent  # type: ignore[assignment]
        return a

    def at_depth(self, depth: int) -> Scope:
        """This scope's ancestor (or itself) at ``depth``; raises if deeper than this scope."""
        if depth < 0 or depth > self.depth:
            raise ValueError(f"{self!r} has no ancestor at depth {depth}")
        scope = self
        while scope.depth > depth:
            scope = scope._parent  # type: ignore[assignment]
        return scope


def common_scope(scopes) -> Scope:
    """The deepest scope that contains all of ``scopes``; unknown scopes are ignored."""
    result: Scope | None = None
    for scope in scopes:
        if scope.is_unknown:
            continue
        if result is None:
            result = scope
            continue
        common = result.common_ancestor(scope)
        if common is None:
            raise ValueError(f"scopes with different roots: {result!r} and {scope!r}")
        result = common
    return result if result is not None else Scope.unknown()
