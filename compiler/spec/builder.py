"""Turn lark's parse tree into the spec's AST (:mod:`hcc.spec.ast`), a location on every node,
and find the comments the grammar skips (the formatter keeps them)."""

from __future__ import annotations

from lark import Token, Tree

from ..diagnostics import SpecError
from . import ast

MAX_LIST_DEPTH = 8
MAX_NUMBER_LENGTH = 100


def find_comments(text: str) -> list[ast.Comment]:
    """Comments with their line, found by a small scan that respects strings.

    Lines are split at '\\n' only, as the parser counts them (``str.splitlines`` would also
    split at '\\r', '\\x0c', '\\x85', ... and put comments on the wrong lines).
    """
    comments = []
    for number, line in enumerate(text.split("\n"), start=1):
        for column, char in code_chars(line):
            if char == "#":
                start = column - 1
                comments.append(
                    ast.Comment(line[start:].rstrip(), number, not line[:start].strip())
                )
    return comments


def code_chars(line: str):
    """``(column, char)`` of the characters of a line outside strings, up to and including
    the ``#`` that starts a comment."""
    in_string = escaped = False
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
        else:
            yield i + 1, char
            if char == "#":
                return


class Builder:
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
        config_line = config_end = 0
        if body is not None:
            for child in body.children:
                if child.data == "assign":
                    options.append(self.assign(child))
                else:
                    # Several config blocks are one: the formatter prints them merged.
                    config = (config or []) + [self.assign(a) for a in child.children]
                    config_line = config_line or child.meta.line
                    config_end = _end(child)
        return ast.ModelSection(
            str(name),
            str(kind),
            self.value(reference),
            options,
            config,
            self.at(name),
            self.at(kind),
            _end(tree),
            config_line,
            config_end,
        )

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
        return ast.InputDecl(
            str(name),
            str(dtype),
            dims,
            self.value(sizes) if sizes is not None else None,
            self.at(name),
            self.at(dtype),
        )

    def item_export(self, tree: Tree) -> ast.ExportSection:
        options, blocks = [], []
        for child in tree.children:
            if child.data == "assign":
                options.append(self.assign(child))
            else:
                name, *entries = child.children
                assigns = [self.assign(a) for a in entries]
                blocks.append(ast.Block(str(name), assigns, self.at(name), _end(child)))
        return ast.ExportSection(options, self.at_tree(tree), _end(tree), blocks)

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

    def value(self, node, depth: int = 0) -> ast.Value:
        kind = node.data
        if kind == "list":
            if depth >= MAX_LIST_DEPTH:
                # Deeper lists mean nothing to any option, and would exhaust Python's stack.
                raise SpecError.one(
                    f"lists may nest at most {MAX_LIST_DEPTH} deep", self.at_tree(node)
                )
            items = [self.value(c, depth + 1) for c in node.children if c is not None]
            return ast.ListValue(items, self.at_tree(node))
        if kind in ("true", "false"):
            return ast.Literal(kind == "true", self.at_tree(node))
        (token,) = node.children
        if kind == "string":
            return ast.Literal(_unquote(token), self.at(token))
        if kind == "number":
            if len(token) > MAX_NUMBER_LENGTH:
                # int() of thousands of digits is slow, then refused by Python; no option
                # means anything that long.
                raise SpecError.one(
                    f"number too long ({len(token)} characters; at most {MAX_NUMBER_LENGTH})",
                    self.at(token),
                )
            return ast.Literal(_number(str(token)), self.at(token))
        if kind == "word":
            return ast.Literal(str(token), self.at(token), word=True)
        return ast.Ref(str(token)[1:], self.at(token))  # the location includes the '$'


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
