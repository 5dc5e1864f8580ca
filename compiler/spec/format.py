"""``hcc fmt``: print a spec in its one canonical layout, comments kept.

Layout: two-space indents, one entry per line, ``key = value`` with single spaces, a blank line
between top-level sections (includes and parameters stay grouped), the braces of ``model`` and
``output`` left out when empty. Entries keep the order they were written in. Comments stay
attached to the line they were on (trailing) or precede the next thing written after them (own
line). Formatting formatted text changes nothing, and the result means what the input meant.
"""

from __future__ import annotations

import math

from . import ast
from .parser import parse_file, parse_text


def format_text(text: str, source: str = "<spec>") -> str:
    return _Printer(parse_text(text, source)).render()


def format_file(path: str) -> str:
    return _Printer(parse_file(path)).render()


def format_value(value: ast.Value) -> str:
    if isinstance(value, ast.Ref):
        return f"${value.name}"
    if isinstance(value, ast.ListValue):
        return "[" + ", ".join(format_value(v) for v in value.items) + "]"
    raw = value.value
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float) and math.isinf(raw):
        # repr would write "inf", which reads back as a bare word: keep it a number.
        return "1e999" if raw > 0 else "-1e999"
    if isinstance(raw, (int, float)):
        return repr(raw)
    if value.word:
        return raw
    escaped = (
        raw.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    )
    return f'"{escaped}"'


class _Printer:
    """Prints items in source order; comments follow the source lines they were on.

    Every printed line knows the source line it came from. A comment at the end of a source
    line goes after the last printed line made from that source line; other comments are
    printed on lines of their own before the next printed line from a later source line. So a
    comment on a line the layout does not keep (inside a list or a pass's arguments spread
    over lines) becomes a comment of its own: never lost, and in the same place when
    formatted again.
    """

    def __init__(self, spec: ast.SpecFile) -> None:
        self.spec = spec
        self.comments = sorted(spec.comments, key=lambda c: c.line)
        self.lines: list[str] = []
        self.printed: dict[int, int] = {}  # source line -> index of its last printed line

    # Comments ---------------------------------------------------------------------------------

    def _flush_before(self, line: int | None, indent: int) -> None:
        while self.comments and (line is None or self.comments[0].line < line):
            comment = self.comments.pop(0)
            at = self.printed.get(comment.line)
            if not comment.own_line and at is not None:
                self.lines[at] += f"  {comment.text}"
            else:
                self.lines.append("  " * indent + comment.text)

    def emit(self, text: str, indent: int, source_line: int | None) -> None:
        if source_line:
            self._flush_before(source_line, indent)
            self.printed[source_line] = len(self.lines)
        self.lines.append("  " * indent + text)

    def close(self, indent: int, end_line: int) -> None:
        if end_line:
            self._flush_before(end_line, indent + 1)
        self.emit("}", indent, end_line or None)

    # Items ------------------------------------------------------------------------------------

    def render(self) -> str:
        previous = None
        for item in self.spec.items:
            grouped = isinstance(item, (ast.Include, ast.Param)) and type(item) is previous
            if previous is not None and not grouped:
                # The blank line first: comments before a section belong to it.
                self.lines.append("")
            self._flush_before(_line(item), 0)
            getattr(self, f"item_{type(item).__name__}")(item)
            previous = type(item)
        self._flush_before(None, 0)
        while self.lines and not self.lines[0].strip():
            self.lines.pop(0)
        return "\n".join(_squeeze_blank(self.lines)) + "\n"

    def item_Include(self, item: ast.Include) -> None:
        self.emit(f"include {format_value(ast.Literal(item.path, item.loc))}", 0, item.loc.line)

    def item_Param(self, item: ast.Param) -> None:
        text = f"param {item.name}: {item.type}"
        if item.default is not None:
            text += f" = {format_value(item.default)}"
        self.emit(text, 0, item.loc.line)

    def _assign(self, a: ast.Assign, indent: int) -> None:
        self.emit(f"{a.key} = {format_value(a.value)}", indent, a.loc.line)

    def item_ModelSection(self, item: ast.ModelSection) -> None:
        head = f"model {item.name} from {item.kind} {format_value(item.reference)}"
        if not item.options and item.config is None:
            self.emit(head, 0, item.loc.line)
            return
        self.emit(head + " {", 0, item.loc.line)
        # Options and the config block in the order they were written.
        entries: list[tuple[int, int, ast.Assign | None]] = [
            (a.loc.line, a.loc.column, a) for a in item.options
        ]
        if item.config is not None:
            entries.append((item.config_line, 0, None))
        for _, _, entry in sorted(entries, key=lambda e: (e[0], e[1])):
            if entry is not None:
                self._assign(entry, 1)
            elif not item.config:
                self.emit("config {}", 1, item.config_line)
            else:
                self.emit("config {", 1, item.config_line)
                for a in item.config:
                    self._assign(a, 2)
                self.close(1, item.config_end_line)
        self.close(0, item.end_line)

    def item_InputsSection(self, item: ast.InputsSection) -> None:
        self.emit("inputs {", 0, item.loc.line)
        entries: list[ast.InputDecl | ast.Assign] = [*item.inputs, *item.options]
        entries.sort(key=lambda e: (e.loc.line, e.loc.column))
        for entry in entries:
            if isinstance(entry, ast.Assign):
                self._assign(entry, 1)
                continue
            dims = ", ".join(format_value(d) for d in entry.dims)
            text = f"{entry.name}: {entry.dtype}[{dims}]"
            if entry.sizes is not None:
                text += f" = {format_value(entry.sizes)}"
            self.emit(text, 1, entry.loc.line)
        self.close(0, item.end_line)

    def item_ExportSection(self, item: ast.ExportSection) -> None:
        self.emit("export {", 0, item.loc.line)
        # Options and blocks in the order they were written.
        entries: list[ast.Assign | ast.Block] = [*item.options, *item.blocks]
        for entry in sorted(entries, key=lambda e: (e.loc.line, e.loc.column)):
            if isinstance(entry, ast.Assign):
                self._assign(entry, 1)
            elif not entry.entries:
                self.emit(f"{entry.name} {{}}", 1, entry.loc.line)
            else:
                self.emit(f"{entry.name} {{", 1, entry.loc.line)
                for a in entry.entries:
                    self._assign(a, 2)
                self.close(1, entry.end_line)
        self.close(0, item.end_line)

    def item_PipelineSection(self, item: ast.PipelineSection) -> None:
        self.emit("pipeline {", 0, item.loc.line)
        for call in item.passes:
            text = call.name
            if call.args:
                text += (
                    "(" + ", ".join(f"{a.key} = {format_value(a.value)}" for a in call.args) + ")"
                )
            self.emit(text, 1, call.loc.line)
        self.close(0, item.end_line)

    def item_OutputSection(self, item: ast.OutputSection) -> None:
        head = f"output {format_value(item.path)}"
        if not item.options:
            self.emit(head, 0, item.loc.line)
            return
        self.emit(head + " {", 0, item.loc.line)
        for a in item.options:
            self._assign(a, 1)
        self.close(0, item.end_line)


def _line(item) -> int:
    return item.loc.line


def _squeeze_blank(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if not line.strip() and out and not out[-1].strip():
            continue
        out.append(line.rstrip())
    return out
