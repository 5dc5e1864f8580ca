"""Typed pass options and the one function that checks them.

A pass declares its options as class attributes::

    class RemoveDeadCodePass(Pass):
        aggressive = Option(bool, False, "also remove unused nodes of custom domains")

Every way of configuring a pass (Python keywords, the ``-p`` pipeline text, spec files) goes
through :func:`validate_options`, so the messages for an unknown option, a wrong type or a value
out of range are the same everywhere.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from ._errors import PipelineError, SourceLocation, did_you_mean

_SCALAR_TYPES = (bool, int, float, str)


class _Required:
    """Marks an option that has no default: every use of the pass must set it."""

    _instance: _Required | None = None

    def __new__(cls) -> _Required:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


class OptionValueError(ValueError):
    """A value that does not fit an option; :func:`validate_options` adds pass and option."""

    def __init__(self, expected: str, value: Any, hint: str = "") -> None:
        super().__init__(f"expects {expected}, got {describe_value(value)}{hint}")
        self.expected = expected
        self.value = value


class Option:
    """A typed, documented pass option, read on a pass instance as a plain attribute.

    ``type`` is ``bool``, ``int``, ``float``, ``str`` or ``list[...]`` of one of those.
    ``choices`` limits the values (or list elements) to a fixed set; ``min`` and ``max`` bound
    numbers. The default is checked against all of this when the class is defined.
    """

    __slots__ = ("type", "default", "doc", "choices", "min", "max", "name")

    def __init__(
        self,
        type: Any,
        default: Any = REQUIRED,
        doc: str = "",
        *,
        choices: Sequence[Any] | None = None,
        min: int | float | None = None,
        max: int | float | None = None,
    ) -> None:
        element = _element_type(type)
        if element not in _SCALAR_TYPES:
            raise TypeError(
                f"unsupported option type {type!r}: use bool, int, float, str or list[...]"
            )
        if (min is not None or max is not None) and element not in (int, float):
            raise TypeError("min and max apply to int and float options only")
        self.type = type
        self.doc = doc
        self.choices = tuple(choices) if choices is not None else None
        self.min = min
        self.max = max
        self.name = ""
        if default is not REQUIRED:
            try:
                default = self.convert(default)
            except OptionValueError as error:
                raise TypeError(f"default {default!r} of an option {error}") from None
        self.default = default

    # -- descriptor: ``pass_.aggressive`` reads the instance's validated value -------------------

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return instance._options[self.name]

    def __set__(self, instance: Any, value: Any) -> None:
        raise AttributeError(f"option {self.name!r} is set when the pass is made, not later")

    # -- checking --------------------------------------------------------------------------------

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def type_name(self) -> str:
        """What the option accepts, as written in messages: ``int >= 0``, ``one of 'a', 'b'``."""
        element = _element_type(self.type)
        if self.choices is not None:
            listed = ", ".join(format_value(c) for c in self.choices)
            return f"list of {listed}" if element is not self.type else f"one of {listed}"
        name = element.__name__
        if self.min is not None and self.max is not None:
            name = f"{name} in [{self.min}, {self.max}]"
        elif self.min is not None:
            name = f"{name} >= {self.min}"
        elif self.max is not None:
            name = f"{name} <= {self.max}"
        return f"list[{name}]" if element is not self.type else name

    def convert(self, value: Any) -> Any:
        """The value as this option stores it, or :class:`OptionValueError`."""
        element = _element_type(self.type)
        if element is self.type:
            return self._convert_scalar(value, value)
        if not isinstance(value, (list, tuple)):
            raise OptionValueError(self.type_name, value)
        return [self._convert_scalar(item, value) for item in value]

    def _convert_scalar(self, item: Any, whole: Any) -> Any:
        element = _element_type(self.type)
        converted = _convert_to(element, item)
        if converted is None:
            raise OptionValueError(self.type_name, whole)
        if element is float and not math.isfinite(converted):
            # A NaN passes every bound check (all comparisons are false): refuse it by name.
            raise OptionValueError(self.type_name, whole, " (a finite number is needed)")
        if self.choices is not None and converted not in self.choices:
            hint = did_you_mean(str(item), [str(c) for c in self.choices])
            raise OptionValueError(self.type_name, whole, hint)
        if (self.min is not None and converted < self.min) or (
            self.max is not None and converted > self.max
        ):
            raise OptionValueError(self.type_name, whole)
        return converted

    def __repr__(self) -> str:
        default = "REQUIRED" if self.required else format_value(self.default)
        return f"Option({self.name or '?'}: {self.type_name} = {default})"


def validate_options(
    info: Any,
    options: Mapping[str, Any],
    location: SourceLocation | None = None,
    *,
    option_locations: Mapping[str, SourceLocation] | None = None,
) -> dict[str, Any]:
    """Check ``options`` against the options ``info`` declares; return all of them converted,
    defaults filled in.

    ``info`` is a :class:`~hcc.passes.PassInfo` (anything with ``name`` and an ``options``
    mapping of :class:`Option`). Errors are :class:`PipelineError` located at the option's own
    location when ``option_locations`` knows it, else at ``location``.
    """
    declared: Mapping[str, Option] = info.options
    option_locations = option_locations or {}
    values: dict[str, Any] = {}
    for key, value in options.items():
        where = option_locations.get(key, location)
        option = declared.get(key)
        if option is None:
            raise PipelineError(_unknown_option_message(info, key), location=where)
        try:
            values[key] = option.convert(value)
        except OptionValueError as error:
            raise PipelineError(
                f"option {key!r} of pass {info.name!r} {error}", location=where
            ) from None
    for key, option in declared.items():
        if key in values:
            continue
        if option.required:
            raise PipelineError(
                f"pass {info.name!r} needs option {key!r} ({option.type_name})", location=location
            )
        values[key] = _fresh(option.default)
    return values


def _unknown_option_message(info: Any, key: str) -> str:
    names = list(info.options)
    if not names:
        return f"pass {info.name!r} takes no options, got {key!r}"
    return (
        f"pass {info.name!r} has no option {key!r}{did_you_mean(key, names)}"
        f" (options: {', '.join(names)})"
    )


def _element_type(tp: Any) -> Any:
    """``int`` for ``list[int]``; the type itself for scalars."""
    if typing.get_origin(tp) is list:
        args = typing.get_args(tp)
        return args[0] if len(args) == 1 else None
    return tp


def _convert_to(target: type, value: Any) -> Any:
    """``value`` as ``target`` when that loses nothing, else None. bool is not a number here."""
    if isinstance(value, bool):
        return value if target is bool else None
    if target is float and isinstance(value, (int, float)):
        return float(value)
    if target is int and isinstance(value, int):
        return value
    if target is str and isinstance(value, str):
        return value
    return None


def _fresh(default: Any) -> Any:
    # Each pass gets its own list, so one instance cannot change another's default.
    return list(default) if isinstance(default, list) else default


def describe_value(value: Any) -> str:
    """``int 1``, ``str 'x'``, ``list [1, 'a']``: a value with its type, for messages."""
    return f"{type(value).__name__} {format_value(value)}"


def format_value(value: Any) -> str:
    """A value as the pipeline text writes it: ``true``, ``3``, ``'x'``, ``[1, 2]``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return repr(value)
