"""Values: parameters from their defaults and ``-D``, references and ``${name}`` substituted,
and a section's ``key = value`` entries checked against its options."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from hcc.passes._errors import SourceLocation
from hcc.passes._options import Option, OptionValueError

from ..diagnostics import Diagnostic, did_you_mean
from . import ast
from .messages import describe, given_once, unknown

PARAM_TYPES = {"int": int, "float": float, "str": str, "bool": bool}

_ARTICLES = {"int": "an int", "float": "a float", "str": "a str", "bool": "a bool"}


def param_values(
    params: dict[str, ast.Param], defines: Mapping[str, str], errors: list[Diagnostic]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, text in defines.items():
        if name not in params:
            # A -D is written on the command line: there is no line in the spec to point at.
            declared = f"parameters: {', '.join(params)}" if params else "it declares none"
            errors.append(
                Diagnostic(
                    f"-D {name}={text}: the spec has no parameter {name!r}"
                    f"{did_you_mean(name, params)} ({declared})"
                )
            )
    for name, param in params.items():
        kind = PARAM_TYPES.get(param.type)
        if kind is None:
            continue
        if name in defines:
            try:
                values[name] = _from_text(defines[name], kind)
            except ValueError:
                # Point at the declaration: it says which type the value must have.
                accepted = {bool: " (true/false, yes/no or 1/0)", float: " (a finite number)"}.get(
                    kind, ""
                )
                errors.append(
                    Diagnostic(
                        f"-D {name}={defines[name]}: parameter {name!r} is declared "
                        f"{param.type}, and {defines[name]!r} is not {_ARTICLES[param.type]}"
                        f"{accepted}",
                        param.type_loc,
                    )
                )
        elif param.default is not None:
            default = param.default
            if isinstance(default, ast.Literal) and _fits(default.value, kind):
                values[name] = kind(default.value) if kind is float else default.value
            else:
                errors.append(
                    Diagnostic(
                        f"the default of parameter {name!r} must be {_ARTICLES[param.type]}"
                        f" literal, not {_describe_literal(default)}",
                        default.loc,
                    )
                )
        else:
            errors.append(
                Diagnostic(
                    f"parameter {name!r} has no default value; give one with -D {name}=...",
                    param.loc,
                )
            )
    return values


def _describe_literal(value: ast.Value) -> str:
    if isinstance(value, ast.Ref):
        return f"a reference to ${value.name}"
    if isinstance(value, ast.ListValue):
        return "a list"
    return describe(value.value)


def _from_text(text: str, kind: type) -> Any:
    if kind is bool:
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise ValueError(text)
    if kind is int and not re.fullmatch(r"[+-]?[0-9]+", text.strip()):
        raise ValueError(text)  # int() would also take "1_000"
    value = kind(text)
    if kind is float and not math.isfinite(value):
        raise ValueError(text)  # "nan" and "inf" are no literal a spec could write
    return value


def _fits(value: Any, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, str)


# ${name}: the same names as parameters (and $refs) may have, inner '-' included.
_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*)\}")


class _Undefined:
    """What a value that uses an undefined parameter resolves to: already reported, so the
    checks that follow skip it instead of echoing the error."""

    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Any = _Undefined()


class Values:
    """Turns AST values into Python values, substituting parameters."""

    def __init__(
        self, params: dict[str, Any], declared: Mapping[str, ast.Param], errors: list[Diagnostic]
    ) -> None:
        self.params = params
        self.declared = declared  # a declared parameter without a value is reported already
        self.errors = errors

    def get(self, value: ast.Value) -> Any:
        """The value, or :data:`UNDEFINED` when it uses a parameter without a value."""
        if isinstance(value, ast.Ref):
            if value.name not in self.params:
                self._undefined(value.name, f"${value.name}", value.loc)
                return UNDEFINED
            return self.params[value.name]
        if isinstance(value, ast.ListValue):
            items = [self.get(item) for item in value.items]
            return UNDEFINED if any(item is UNDEFINED for item in items) else items
        if isinstance(value.value, str) and not value.word:
            return self._interpolate(value)
        return value.value

    def _undefined(self, name: str, written: str, loc: SourceLocation) -> None:
        if name in self.declared:
            return  # declared without a value (or with a bad one): that error says why
        hint = did_you_mean(name, self.params)
        if not hint:
            hint = f"; declare it with 'param {name}: TYPE = DEFAULT'"
        self.errors.append(Diagnostic(f"undefined parameter {written}{hint}", loc))

    def _interpolate(self, literal: ast.Literal) -> Any:
        undefined = False
        # The raw string as written, to put the caret under "${name}" itself (escapes before
        # it shift the parsed text, never the raw one).
        raw = (literal.loc.line_text or "")[literal.loc.column - 1 :][: literal.loc.length]
        searched = 0

        def substitute(match: re.Match) -> str:
            nonlocal undefined, searched
            name = match.group(1)
            at = raw.find(match.group(0), searched)
            if at >= 0:
                searched = at + len(match.group(0))
            if name not in self.params:
                loc = literal.loc
                if at >= 0:
                    loc = replace(loc, column=loc.column + at, length=len(match.group(0)))
                self._undefined(name, match.group(0), loc)
                undefined = True
                return match.group(0)
            value = self.params[name]
            if isinstance(value, bool):
                return "true" if value else "false"  # as the spec writes it, not Python
            return str(value)

        text = _INTERPOLATION.sub(substitute, literal.value)
        return UNDEFINED if undefined else text


def section_options(
    assigns: list[ast.Assign],
    schema: dict[str, Option],
    section: str,
    values: Values,
    errors: list[Diagnostic],
) -> dict[str, Any]:
    """Check ``key = value`` entries against a section's options; defaults filled in."""
    result = {name: option.default for name, option in schema.items()}
    seen: dict[str, SourceLocation] = {}
    for assign in assigns:
        twice = f"{assign.key!r} is set twice in {section}"
        if not given_once(assign.key, assign.loc, seen, errors, twice):
            continue
        option = schema.get(assign.key)
        if option is None:
            errors.append(
                Diagnostic(unknown(f"{section} option", assign.key, schema, "options"), assign.loc)
            )
            continue
        value = values.get(assign.value)
        if value is UNDEFINED:
            continue
        try:
            result[assign.key] = option.convert(value)
        except OptionValueError as error:
            errors.append(Diagnostic(f"{section} option {assign.key!r} {error}", assign.value.loc))
    return result
