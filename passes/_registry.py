"""The pass registry: kebab-case names to pass classes, with their summaries and options.

``@register_pass`` files a class in the default registry, which is what pipelines and the CLI
use. Code that wants its own set of passes (a test, another compiler) makes a
:class:`PassRegistry` and hands it to ``register_pass`` and ``build_pipeline``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ._errors import PipelineError, SourceLocation, did_you_mean
from ._infra import Pass, PassInfo

_KEBAB = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")


class PassRegistry:
    """Pass names to :class:`PassInfo`."""

    def __init__(self) -> None:
        self._passes: dict[str, PassInfo] = {}

    def add(self, info: PassInfo) -> None:
        existing = self._passes.get(info.name)
        # Re-registering the same class (a module imported again) is harmless; two different
        # classes under one name would make pipelines ambiguous.
        if existing is not None and _class_id(existing.cls) != _class_id(info.cls):
            raise ValueError(
                f"pass name {info.name!r} is taken by {_class_id(existing.cls)}, "
                f"cannot register {_class_id(info.cls)}"
            )
        self._passes[info.name] = info

    def get(self, name: str, location: SourceLocation | None = None) -> PassInfo:
        info = self._passes.get(name)
        if info is None:
            raise PipelineError(self._unknown_message(name), location=location)
        return info

    def passes(self) -> dict[str, PassInfo]:
        """Every registered pass, sorted by name."""
        return dict(sorted(self._passes.items()))

    def __contains__(self, name: object) -> bool:
        return name in self._passes

    def _unknown_message(self, name: str) -> str:
        hint = did_you_mean(name, self._passes)
        if hint:
            return f"unknown pass {name!r}{hint}"
        return f"unknown pass {name!r} (known passes: {', '.join(sorted(self._passes))})"


DEFAULT_REGISTRY = PassRegistry()


def register_pass(
    name: str, *, summary: str, registry: PassRegistry | None = None
) -> Callable[[type[Pass]], type[Pass]]:
    """Class decorator: register a :class:`Pass` subclass under a kebab-case ``name``."""
    if not _KEBAB.match(name):
        raise ValueError(f"pass name {name!r} is not kebab-case (like 'remove-dead-code')")
    if not summary or "\n" in summary:
        raise ValueError(f"pass {name!r} needs a one-line summary")

    def decorate(cls: type[Pass]) -> type[Pass]:
        if not (isinstance(cls, type) and issubclass(cls, Pass)):
            raise TypeError(f"@register_pass({name!r}) applies to Pass subclasses, not {cls!r}")
        cls.name = name
        cls.summary = summary
        (registry if registry is not None else DEFAULT_REGISTRY).add(cls.info())
        return cls

    return decorate


def registered_passes(registry: PassRegistry | None = None) -> dict[str, PassInfo]:
    """Every registered pass by name, sorted."""
    return (registry if registry is not None else DEFAULT_REGISTRY).passes()


def get_pass(
    name: str, location: SourceLocation | None = None, *, registry: PassRegistry | None = None
) -> PassInfo:
    """The pass registered as ``name``; an unknown name raises with a "did you mean"."""
    return (registry if registry is not None else DEFAULT_REGISTRY).get(name, location)


def _class_id(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
