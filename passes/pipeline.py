"""The textual pipeline: ``name,name(opt=1,other='x',flag=true,list=[1,2])``.

Parsing gives :class:`PassSpec` objects — the same objects the spec language makes — and
:func:`build_pipeline` turns them into pass instances. The two phases report separately:
syntax errors come from the parser, unknown names and bad option values from the build, and
both point at the column in the text.

Values: integers and floats (``-1``, ``0.5``, ``1e-3``), strings in single or double quotes
(backslash escapes), ``true`` / ``false``, bare words (``first``: a string), and flat lists
``[a, b]``. Whitespace, newlines included, may appear between any two tokens.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._errors import PipelineError, SourceLocation
from ._infra import Pass
from ._options import format_value
from ._registry import PassRegistry, get_pass

# Longer numbers mean nothing to any option; int() of thousands of digits is refused by Python.
MAX_NUMBER_LENGTH = 100


@dataclass(frozen=True, slots=True)
class PassSpec:
    """One pass of a pipeline as written: its name, the options given, and where they are."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    # Where a spec was written does not change what it means, so equality ignores it.
    location: SourceLocation | None = field(default=None, compare=False)
    option_locations: Mapping[str, SourceLocation] = field(default_factory=dict, compare=False)

    def __str__(self) -> str:
        if not self.options:
            return self.name
        options = ",".join(f"{key}={format_value(value)}" for key, value in self.options.items())
        return f"{self.name}({options})"


def format_pipeline(passes: Iterable[PassSpec | Pass]) -> str:
    """Pipeline text that parses back to the same passes."""
    return ",".join(str(p) for p in passes)


def build_pipeline(
    pipeline: str | Iterable[PassSpec | Pass],
    *,
    registry: PassRegistry | None = None,
    source: str = "pipeline",
) -> list[Pass]:
    """Pass instances for pipeline text or specs; ready-made passes are kept as they are."""
    if isinstance(pipeline, str):
        pipeline = parse_pipeline(pipeline, source=source)
    passes: list[Pass] = []
    for item in pipeline:
        if isinstance(item, Pass):
            passes.append(item)
            continue
        info = get_pass(item.name, item.location, registry=registry)
        passes.append(
            info.create(item.options, item.location, option_locations=item.option_locations)
        )
    return passes


# ------------------------------------------------------------------------------------------------
# Tokens


@dataclass(frozen=True)
class _Token:
    kind: str  # "word", "number", "string", or the punctuation character itself; "end"
    text: str
    value: Any
    offset: int


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_.\-]*)
  | (?P<string>'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")
  | (?P<punct>[,()=\[\]])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"'}


class _Source:
    """The pipeline text, able to turn an offset into a located span."""

    def __init__(self, text: str, name: str) -> None:
        self.text = text
        self.name = name
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def location(self, offset: int, length: int = 1) -> SourceLocation:
        line = 0
        while line + 1 < len(self.line_starts) and self.line_starts[line + 1] <= offset:
            line += 1
        start = self.line_starts[line]
        end = self.text.find("\n", start)
        line_text = self.text[start:] if end < 0 else self.text[start:end]
        return SourceLocation(self.name, line + 1, offset - start + 1, max(length, 1), line_text)

    def error(self, message: str, offset: int, length: int = 1) -> PipelineError:
        return PipelineError(message, location=self.location(offset, length))


def _tokenize(source: _Source) -> list[_Token]:
    text = source.text
    tokens: list[_Token] = []
    offset = 0
    while offset < len(text):
        match = _TOKEN.match(text, offset)
        if match is None:
            if text[offset] in "'\"":
                raise source.error("unterminated string", offset, len(text) - offset)
            raise source.error(f"unexpected character {text[offset]!r}", offset)
        kind = match.lastgroup
        token_text = match.group()
        if kind == "number":
            if len(token_text) > MAX_NUMBER_LENGTH:
                raise source.error(
                    f"number too long ({len(token_text)} characters; at most {MAX_NUMBER_LENGTH})",
                    offset,
                    len(token_text),
                )
            is_float = any(c in token_text for c in ".eE")
            tokens.append(
                _Token(kind, token_text, (float if is_float else int)(token_text), offset)
            )
        elif kind == "word":
            value = {"true": True, "false": False}.get(token_text, token_text)
            tokens.append(_Token(kind, token_text, value, offset))
        elif kind == "string":
            tokens.append(_Token(kind, token_text, _unquote(token_text, source, offset), offset))
        elif kind == "punct":
            tokens.append(_Token(token_text, token_text, None, offset))
        offset = match.end()
    tokens.append(_Token("end", "", None, len(text)))
    return tokens


def _unquote(token: str, source: _Source, offset: int) -> str:
    body, out, i = token[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            escaped = body[i + 1]
            if escaped not in _ESCAPES:
                raise source.error(f"unknown escape '\\{escaped}' in string", offset + 1 + i, 2)
            out.append(_ESCAPES[escaped])
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


# ------------------------------------------------------------------------------------------------
# Parser


def parse_pipeline(text: str, *, source: str = "pipeline") -> list[PassSpec]:
    """The passes of a pipeline text; empty or blank text is the empty pipeline."""
    return _Parser(_Source(text, source)).pipeline()


class _Parser:
    def __init__(self, source: _Source) -> None:
        self.source = source
        self.tokens = _tokenize(source)
        self.position = 0

    # -- token helpers ---------------------------------------------------------------------------

    def peek(self) -> _Token:
        return self.tokens[self.position]

    def advance(self) -> _Token:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def expect(self, kind: str, what: str) -> _Token:
        token = self.peek()
        if token.kind != kind:
            raise self.unexpected(token, what)
        return self.advance()

    def unexpected(self, token: _Token, what: str) -> PipelineError:
        found = "the end of the pipeline" if token.kind == "end" else repr(token.text)
        return self.source.error(f"expected {what}, found {found}", token.offset, len(token.text))

    def span(self, start: _Token, end: _Token) -> SourceLocation:
        return self.source.location(start.offset, end.offset + len(end.text) - start.offset)

    # -- grammar ---------------------------------------------------------------------------------

    def pipeline(self) -> list[PassSpec]:
        specs: list[PassSpec] = []
        if self.peek().kind == "end":
            return specs
        specs.append(self.pass_spec())
        while self.peek().kind == ",":
            self.advance()
            specs.append(self.pass_spec())
        token = self.peek()
        if token.kind != "end":
            raise self.unexpected(token, "',' between passes")
        return specs

    def pass_spec(self) -> PassSpec:
        name = self.expect("word", "a pass name")
        if isinstance(name.value, bool):
            raise self.unexpected(name, "a pass name")
        options: dict[str, Any] = {}
        locations: dict[str, SourceLocation] = {}
        if self.peek().kind == "(":
            self.advance()
            while self.peek().kind != ")":
                key, value, location = self.option()
                if key in options:
                    raise PipelineError(f"option {key!r} is given twice", location=location)
                options[key], locations[key] = value, location
                if self.peek().kind == ",":
                    self.advance()
                elif self.peek().kind != ")":
                    raise self.unexpected(self.peek(), "',' or ')' after an option")
            self.advance()
        location = self.source.location(name.offset, len(name.text))
        return PassSpec(name.text, options, location, locations)

    def option(self) -> tuple[str, Any, SourceLocation]:
        key = self.peek()
        if key.kind != "word" or not key.text.isidentifier():
            raise self.unexpected(key, "an option name")
        self.advance()
        self.expect("=", f"'=' after option {key.text!r}")
        value, last = self.value(key.text)
        return key.text, value, self.span(key, last)

    def value(self, key: str, *, in_list: bool = False) -> tuple[Any, _Token]:
        token = self.peek()
        if token.kind in ("number", "string", "word"):
            self.advance()
            return token.value, token
        if token.kind == "[":
            if in_list:
                raise self.source.error("lists cannot be nested", token.offset)
            self.advance()
            items: list[Any] = []
            while self.peek().kind != "]":
                item, _ = self.value(key, in_list=True)
                items.append(item)
                if self.peek().kind == ",":
                    self.advance()
                elif self.peek().kind != "]":
                    raise self.unexpected(self.peek(), "',' or ']' in a list")
            return items, self.advance()
        raise self.unexpected(token, f"a value for option {key!r}")
