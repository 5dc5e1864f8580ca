"""Parse ``.hx`` text into a :class:`~hcc.spec.ast.SpecFile` with a location on every node.

Syntax errors are collected: after an error the parser starts again at the next line that
begins (in column 1) with a section keyword, so a file with mistakes in several sections
reports them together (up to a limit) without echoes of the first mistake. The tree lark
returns becomes the AST in ``builder``.
"""

from __future__ import annotations

import functools
import os
import re
from importlib import resources

import lark
from lark import Token

from ..diagnostics import Diagnostic, SourceLocation, SpecError, did_you_mean
from . import ast
from .builder import Builder, code_chars, find_comments

MAX_SYNTAX_ERRORS = 10

SECTION_KEYWORDS = ("include", "param", "model", "inputs", "export", "pipeline", "output")

# What the grammar's terminals are called in messages.
_TOKEN_NAMES = {
    "NAME": "a name",
    "STRING": "a string",
    "SIGNED_NUMBER": "a number",
    "REF": "a $parameter",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "EQUAL": "'='",
    "COLON": "':'",
    "$END": "end of file",
    "a value": "a value",
}

# A line where parsing can start again after a syntax error: a section keyword in column 1
# that is not a key (``output = ...``) or an input name (``output: ...``).
_RESTART = re.compile(r"({})(?![A-Za-z0-9_-])(?!\s*[=:])".format("|".join(SECTION_KEYWORDS)))


@functools.lru_cache(maxsize=1)
def _parser() -> lark.Lark:
    grammar = resources.files(__package__).joinpath("hx.lark").read_text(encoding="utf-8")
    return lark.Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True)


def read_spec_file(path: str) -> str:
    """The text of the spec file at ``path`` (a regular UTF-8 file), or a :class:`SpecError`."""
    from hcc.ir import LoadError
    from hcc.ir.reading import read_bytes

    if os.path.isdir(path):
        raise SpecError.one(f"spec file {path} is a folder, not a file")
    try:
        data = read_bytes(path, what="spec file")
    except LoadError as error:
        if error.message == "no such file":
            raise SpecError.one(f"spec file not found: {path}") from None
        raise SpecError.one(f"cannot read spec file {path}: {error.message}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        start = data.rfind(b"\n", 0, error.start) + 1
        end = data.find(b"\n", error.start)
        line_text = data[start : end if end >= 0 else len(data)].decode("utf-8", "replace")
        where = SourceLocation(
            path, data.count(b"\n", 0, error.start) + 1, error.start - start + 1, 1, line_text
        )
        raise SpecError.one(
            f"the spec file is not UTF-8 text: byte {data[error.start]:#04x} ({error.reason})",
            where,
        ) from None


def parse_file(path: str) -> ast.SpecFile:
    return parse_text(read_spec_file(path), path)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_text(text: str, source: str = "<spec>") -> ast.SpecFile:
    """Parse spec text; ``source`` names it in messages (a path, or ``<spec>``)."""
    errors: list[Diagnostic] = []
    lines = text.split("\n")  # as lark counts lines: at '\n' only

    def loc(line: int, column: int, length: int = 1) -> SourceLocation:
        # location_in would split the text again for every node: slow on long specs.
        line_text = lines[line - 1].rstrip("\r") if 0 < line <= len(lines) else ""
        return SourceLocation(source, line, column, max(length, 1), line_text)

    surrogate = _LONE_SURROGATE.search(text)
    if surrogate is not None:
        # Only a str from Python can hold one (a spec file is read as UTF-8); no file name,
        # name or message could carry it further, so the quoted line shows U+FFFD instead.
        line = text.count("\n", 0, surrogate.start()) + 1
        column = surrogate.start() - (text.rfind("\n", 0, surrogate.start()) + 1) + 1
        shown = _LONE_SURROGATE.sub("\ufffd", lines[line - 1].rstrip("\r"))
        where = SourceLocation(source, line, column, 1, shown)
        message = "the spec holds a lone surrogate, which is no Unicode text"
        raise SpecError([Diagnostic(message, where)])
    remaining = text
    restart = 1
    while True:
        try:
            tree = _parser().parse(remaining, on_error=_keyword_as_name(remaining))
            break
        except lark.exceptions.UnexpectedInput as error:
            errors.append(_describe(error, text, loc))
            restart = _restart_line(lines, error, after=restart)
            if restart is None or len(errors) >= MAX_SYNTAX_ERRORS:
                break
            # Blank out what came before, keeping the line count, so positions stay true.
            remaining = "\n" * (restart - 1) + "\n".join(lines[restart - 1 :])
    if errors:
        raise SpecError(errors)
    spec = Builder(source, text, loc).build(tree)
    spec.comments = find_comments(text)
    return spec


_KEYWORDS = {*SECTION_KEYWORDS, "from", "config", "true", "false"}


def _keyword_as_name(text: str):
    """An error handler that reads a keyword as a name where it is a key or an input name.

    After a value the lexer may take ``output`` for the keyword (the LALR state after a value
    also ends sections, so keywords are possible there); ``output = 1`` or ``model: int64[2]``
    then makes it a name, as it is everywhere else a name fits.
    """

    def handle(error: lark.exceptions.UnexpectedInput) -> bool:
        if not isinstance(error, lark.exceptions.UnexpectedToken):
            return False
        token = error.token
        if token.type == "$END" or str(token) not in _KEYWORDS:
            return False
        if not text[token.end_pos :].lstrip(" \t\r\n\f").startswith(("=", ":")):
            return False
        parser = error.interactive_parser
        if "NAME" not in parser.accepts():
            return False
        parser.feed_token(Token.new_borrow_pos("NAME", str(token), token))
        return True

    return handle


def _restart_line(
    lines: list[str], error: lark.exceptions.UnexpectedInput, after: int
) -> int | None:
    """The next line after ``error`` where a section starts, or None."""
    line, column = error.line, error.column
    if not isinstance(line, int) or line < 1:
        return None
    # A section keyword that is itself the unexpected token (a block left open before it)
    # starts the next section: parse again from there.
    first = line if column == 1 else line + 1
    for number in range(max(first, after + 1), len(lines) + 1):
        if _RESTART.match(lines[number - 1]):
            return number
    return None


def _describe(error: lark.exceptions.UnexpectedInput, text: str, loc) -> Diagnostic:
    line, column = error.line, error.column
    if isinstance(error, lark.exceptions.UnexpectedCharacters):
        char = error.char
        if char == '"':
            return Diagnostic(
                "unterminated string: a string ends with '\"' on the line it starts on",
                loc(line, column),
            )
        if char == "$":
            return Diagnostic(
                "'$' must be followed by a parameter name, as in $layers", loc(line, column)
            )
        return Diagnostic(f"unexpected character {char!r}", loc(line, column))
    if isinstance(error, lark.exceptions.UnexpectedToken):
        token = error.token
        expected = _expected(error)
        if token.type == "$END":
            return _unexpected_end(text, expected, loc)
        found = str(token)
        where = loc(line, column, len(found))
        sections = [t for t in expected if t.lower() in SECTION_KEYWORDS]
        if token.type == "NAME" and sections:
            hint = did_you_mean(found, SECTION_KEYWORDS)
            if hint:
                return Diagnostic(f"unknown section {found!r}{hint}", where)
            also = " or '{'" if "LBRACE" in expected else ""
            return Diagnostic(
                f"unexpected {found!r}; expected a section ({', '.join(SECTION_KEYWORDS)}){also}",
                where,
            )
        message = f"unexpected {_show_token(token)}; expected {_join(expected)}"
        if found in SECTION_KEYWORDS and column == 1 and "RBRACE" in expected:
            message += " (is a '}' missing before it?)"
        return Diagnostic(message, where)
    return Diagnostic(str(error).splitlines()[0], loc(line or 1, column or 1))


def _expected(error: lark.exceptions.UnexpectedToken) -> set[str]:
    # The parser's own guess (``error.expected``) is the LALR state's lookahead, which after a
    # value lists tokens of unrelated rules; ``accepts()`` tries each token and is exact.
    try:
        return set(error.interactive_parser.accepts())
    except Exception:  # pragma: no cover - older lark without an interactive parser
        return set(error.expected)


def _show_token(token: Token) -> str:
    if token.type == "STRING":
        return f"string {str(token)}"
    if token.type == "SIGNED_NUMBER":
        return f"number {str(token)}"
    return repr(str(token))


_VALUE_STARTS = {"STRING", "SIGNED_NUMBER", "TRUE", "FALSE", "NAME", "REF", "LSQB"}


def _join(terminals: set[str]) -> str:
    """``'=', ':' or a name``: keywords and punctuation first, then kinds of token."""
    if _VALUE_STARTS <= terminals:
        terminals = (terminals - _VALUE_STARTS) | {"a value"}
    named = sorted(_TOKEN_NAMES.get(t, _keyword(t)) for t in terminals if t != "$END")
    named.sort(key=lambda n: (not n.startswith("'"), n))
    if "$END" in terminals:
        named.append("end of file")
    if len(named) > 7:
        named = named[:6] + ["..."]
    if not named:
        return "nothing more"
    return named[0] if len(named) == 1 else ", ".join(named[:-1]) + " or " + named[-1]


def _unexpected_end(text: str, expected: set[str], loc) -> Diagnostic:
    """The file ended inside a block: point at the bracket never closed."""
    opened = _unclosed_bracket(text)
    if opened is not None:
        line, column, char = opened
        return Diagnostic(
            f"unexpected end of file: this {char!r} is never closed", loc(line, column)
        )
    lines = text.split("\n")
    while len(lines) > 1 and not lines[-1].strip():
        lines.pop()
    return Diagnostic(
        f"unexpected end of file; expected {_join(expected)}",
        loc(len(lines), len(lines[-1].rstrip()) + 1),
    )


def _unclosed_bracket(text: str) -> tuple[int, int, str] | None:
    stack: list[tuple[int, int, str]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        for column, char in code_chars(line):
            if char in "{([":
                stack.append((number, column, char))
            elif char in "})]" and stack:
                stack.pop()
    return stack[-1] if stack else None


def _keyword(terminal: str) -> str:
    # Anonymous keyword terminals are named after their text, e.g. PIPELINE -> 'pipeline'.
    return repr(terminal.lower())
