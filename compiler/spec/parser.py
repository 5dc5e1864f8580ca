"""Parse ``.hx`` text into a :class:`~hcc.spec.ast.SpecFile` with a location on every node.

Syntax errors are collected: after an unexpected token the parser skips it and goes on, so a
file with several mistakes reports them together (up to a limit).
"""

from __future__ import annotations

import functools
import os
from importlib import resources

import lark
from lark import Token, Tree

from ..diagnostics import Diagnostic, SpecError, location_in
from . import ast

MAX_SYNTAX_ERRORS = 10

# What the grammar's terminals are called in messages.
_TOKEN_NAMES = {
    "NAME": "a name",
    "STRING": "a string",
    "SIGNED_NUMBER": "a number",
        "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "EQUAL": "'='",
    "COLON": "':'",
    "DOLLAR": "'$'",
    "$END": "end of file",
}


@functools.lru_cache(maxsize=1)
def _parser() -> lark.Lark:
    grammar = resources.files(__package__).joinpath("hx.lark").read_text(encoding="utf-8")
    return lark.Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True)


def parse_file(path: str) -> ast.SpecFile:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise SpecError.one(f"spec file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError.one(f"cannot read spec file {path}: {error}") from None
    return parse_text(text, path)


def parse_text(text: str, source: str = "<spec>") -> ast.SpecFile:
    """Parse spec text; ``source`` names it in messages (a path, or ``<spec>``)."""
    errors: list[Diagnostic] = []

    def loc(line: int, column: int, length: int = 1):
        return location_in(source, text, line, column, length)

    def on_error(error: lark.exceptions.UnexpectedInput) -> bool:
        # Skipping the bad token lets the parser go on, but the rest of that line usually
        # fails too: report one error per line, and stop at the limit.
        if not errors or errors[-1].location.line != error.line:
            errors.append(_describe(error, loc))
        return len(errors) < MAX_SYNTAX_ERRORS

    try:
        tree = _parser().parse(text, on_error=on_error)
    except lark.exceptions.UnexpectedCharacters as error:
        errors.append(_describe(error, loc))
        raise SpecError(errors) from None
    except lark.exceptions.UnexpectedInput as error:
        # After earlier errors an "unexpected end" is their echo, not news.
        if not errors:
            errors.append(_describe(error, loc))
        raise SpecError(errors) from None
    if errors:
        raise SpecError(errors)
    spec = _Builder(source, text, loc).build(tree)
    spec.comments = _comments(text)
    return spec


def _describe(error: lark.exceptions.UnexpectedInput, loc) -> Diagnostic:
    line, column = error.line, error.column
    if isinstance(error, lark.exceptions.UnexpectedCharacters):
        char = error.char
        if char == '"':
            return Diagnostic("unterminated string", loc(line, column))
        return Diagnostic(f"unexpected character {char!r}", loc(line, column))
    if isinstance(error, lark.exceptions.UnexpectedToken):
        token = error.token
        if token.type == "$END":
            return Diagnostic("unexpected end of file (missing '}'?)", loc(line, max(column, 1)))
        expected = sorted({_TOKEN_NAMES.get(t, _keyword(t)) for t in error.expected})
        shown = ", ".join(expected[:6]) + (", ..." if len(expected) > 6 else "")
        return Diagnostic(
            f"unexpected {str(token)!r}; expected {shown}", loc(line, column, len(str(token)))
        )
    return Diagnostic(str(error).splitlines()[0], loc(line or 1, column or 1))


def _keyword(terminal: str) -> str:
    # Anonymous keyword terminals are named after their text, e.g. PIPELINE -> 'pipeline'.
    return repr(terminal.lower())


def _comments(text: str) -> list[ast.Comment]:
    """Comments with their line, found by a small scan that respects strings."""
    comments = []
    for number, line in enumerate(text.splitlines(), start=1):
        in_string = False
        escaped = False
        for i, char in enumerate(line):
            if in_string:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    in_string = False
            elif char == '"':
                in_string = True
            elif char == "#":
                comments.append(ast.Comment(line[i:].rstrip(), number, not line[:i].strip()))
                break
    return comments


class _Builder:
    """Tree -> AST, with locations taken from tokens."""

    def __init__(self, source: str, text: str, loc) -> None:
        self.source = source
        self.text = text
        self.loc = loc

    def at(self, token: Token):
        return self.loc(token.line, token.column, len(str(token)))

    def at_tree(self, tree: Tree):
        meta = tree.meta
        if getattr(meta, "empty", True):
            return self.loc(1, 1)
        length = meta.end_pos - meta.start_pos if meta.line == meta.end_line else 1
        return self.loc(meta.line, meta.column, length)

    def build(self, tree: Tree) -> ast.SpecFile:
        items = [self.item(child) for child in tree.children]
        return ast.SpecFile(self.source, self.text, items)

    def item(self, tree: Tree):
        return getattr(self, f"item_{tree.data}")(tree)

    def item_include(self, tree: Tree) -> ast.Include:
        (token,) = tree.children
        return ast.Include(_unquote(token), self.at(token))

    def item_param(self, tree: Tree) -> ast.Param:
        name, type_, default = tree.children
        value = self.value(default) if default is not None else None
        return ast.Param(str(name), str(type_), value, self.at(name), self.at(type_))

    def item_model(self, tree: Tree) -> ast.ModelSection:
        name, kind, reference, body = tree.children
        options: list[ast.Assign] = []
        config: list[ast.Assign] | None = None
        if body is not None:
            for child in body.children:
                if child.data == "assign":
                    options.append(self.assign(child))
                else:
                    config = (config or []) + [self.assign(a) for a in child.children]
        return ast.ModelSection(str(name), str(kind), self.value(reference), options, config,
                                self.at(name), self.at(kind), _end(tree))

    def item_inputs(self, tree: Tree) -> ast.InputsSection:
        inputs, options = [], []
        for child in tree.children:
            if child.data == "assign":
                options.append(self.assign(child))
            else:
                inputs.append(self.input_decl(child))
        return ast.InputsSection(inputs, options, self.at_tree(tree), _end(tree))

    def input_decl(self, tree: Tree) -> ast.InputDecl:
        name, dtype, *rest = tree.children
        sizes = rest[-1]
        dims = [self.value(dim) for dim in rest[:-1] if dim is not None]
        return ast.InputDecl(str(name), str(dtype), dims,
                             self.value(sizes) if sizes is not None else None,
                             self.at(name), self.at(dtype))

    def item_export(self, tree: Tree) -> ast.ExportSection:
        return ast.ExportSection([self.assign(a) for a in tree.children], self.at_tree(tree),
                                 _end(tree))

    def item_pipeline(self, tree: Tree) -> ast.PipelineSection:
        passes = []
        for call in tree.children:
            name, args = call.children
            assigns = [self.assign(a) for a in args.children if a is not None] if args else []
            passes.append(ast.PassCall(str(name), assigns, self.at(name)))
        return ast.PipelineSection(passes, self.at_tree(tree), _end(tree))

    def item_output(self, tree: Tree) -> ast.OutputSection:
        path, *assigns = tree.children
        options = [self.assign(a) for a in assigns if a is not None]
        return ast.OutputSection(self.value(path), options, self.at_tree(tree), _end(tree))

    def assign(self, tree: Tree) -> ast.Assign:
        key, value = tree.children
        return ast.Assign(str(key), self.value(value), self.at(key))

    def value(self, node) -> ast.Value:
        kind = node.data
        if kind == "list":
            items = [self.value(c) for c in node.children if c is not None]
            return ast.ListValue(items, self.at_tree(node))
        if kind in ("true", "false"):
            return ast.Literal(kind == "true", self.at_tree(node))
        (token,) = node.children
        if kind == "string":
            return ast.Literal(_unquote(token), self.at(token))
        if kind == "number":
            return ast.Literal(_number(str(token)), self.at(token))
        if kind == "word":
            return ast.Literal(str(token), self.at(token), word=True)
        return ast.Ref(str(token), self.at(token))


def _end(tree: Tree) -> int:
    return 0 if getattr(tree.meta, "empty", True) else tree.meta.end_line


_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def _unquote(token: Token) -> str:
    body = str(token)[1:-1]
    out, i = [], 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            out.append(_ESCAPES.get(body[i + 1], "\\" + body[i + 1]))
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _number(text: str) -> int | float:
    if any(c in text for c in ".eE"):
        return float(text)
    return int(text)


def relative_include(including: str, path: str) -> str:
    """An include path resolved against the folder of the including file."""
    base = os.path.dirname(os.path.abspath(including)) if including != "<spec>" else os.getcwd()
    return os.path.normpath(os.path.join(base, path))
