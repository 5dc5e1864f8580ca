"""Choosing scopes by glob: the one matcher behind ``split``'s ``by``, ``outline-functions``'s
``by`` and the precision passes' ``keep`` / ``only``.

A pattern is a shell glob (``*``, ``?``, ``[...]``) matched against a scope's class path
(``/GPT2LMHeadModel/GPT2Model/GPT2Block.0``) or its module path (``transformer.h.0``); ``|``
separates alternatives (``*/LlamaRMSNorm|*/LlamaMLP``). ``*`` crosses ``/`` and ``.``, so
``*/GPT2Block.*`` reaches every block at any depth.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterable

from hcc.ir import Graph, Scope

__all__ = ["ScopePattern", "all_scopes", "near", "outermost"]


class ScopePattern:
    """Globs over scopes. ``matches`` asks about one scope, ``covers`` about a scope or any of
    its ancestors (is a node in this scope inside a chosen module?)."""

    __slots__ = ("globs", "_covers")

    def __init__(self, patterns: str | Iterable[str]) -> None:
        texts = [patterns] if isinstance(patterns, str) else list(patterns)
        self.globs: tuple[str, ...] = tuple(
            dict.fromkeys(g.strip() for text in texts for g in text.split("|") if g.strip())
        )
        self._covers: dict[Scope, bool] = {}

    def __bool__(self) -> bool:
        return bool(self.globs)

    def __str__(self) -> str:
        return "|".join(self.globs)

    def matches(self, scope: Scope) -> bool:
        return any(_glob_matches(scope, glob) for glob in self.globs)

    def covers(self, scope: Scope) -> bool:
        known = self._covers.get(scope)
        if known is None:
            known = self._covers[scope] = any(
                self.matches(s) for s in scope.ancestors(include_self=True) if not s.is_unknown
            )
        return known

    def unmatched(self, scopes: Iterable[Scope]) -> list[str]:
        """The globs that match none of ``scopes`` (most likely misspelt)."""
        scopes = list(scopes)
        return [g for g in self.globs if not any(_glob_matches(s, g) for s in scopes)]


def _glob_matches(scope: Scope, glob: str) -> bool:
    if scope.is_unknown:
        return False
    return fnmatch.fnmatchcase(scope.tag, glob) or bool(
        scope.module_path and fnmatch.fnmatchcase(scope.module_path, glob)
    )


def all_scopes(graphs: Graph | Iterable[Graph]) -> list[Scope]:
    """Every scope of the graphs' nodes and their ancestors, in order of first appearance."""
    seen: dict[Scope, None] = {}
    for graph in [graphs] if isinstance(graphs, Graph) else graphs:
        for node in graph.nodes:
            for scope in reversed(list(node.scope.ancestors(include_self=True))):
                if not scope.is_unknown:
                    seen[scope] = None
    return list(seen)


def outermost(scopes: list[Scope]) -> list[Scope]:
    """The scopes that lie within no other scope of the list."""
    return [s for s in scopes if not any(o != s and s.is_within(o) for o in scopes)]


def near(text: str, scopes: list[Scope]) -> str:
    """A hint listing the scopes whose tag or module path looks like ``text``."""
    names = list(
        dict.fromkeys([s.tag for s in scopes] + [s.module_path for s in scopes if s.module_path])
    )
    close = difflib.get_close_matches(text, names, n=6, cutoff=0.3)
    if not close:
        close = [s.tag for s in scopes if s.depth <= 2][:8]
    return "scopes near it: " + ", ".join(close) if close else "the graph has no scopes"
