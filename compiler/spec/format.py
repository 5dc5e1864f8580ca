"""``hcc fmt``: print a spec in its one canonical layout, comments kept.

Layout: two-space indents, one entry per line, ``key = value`` with single spaces, a blank line
between top-level sections (includes and parameters stay grouped), blocks left out when empty.
Comments stay attached to the line they were on (trailing) or precede the next thing written
after them (own line). Formatting formatted text changes nothing.
"""

from __future__ import annotations

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
    if isinstance(raw, (int, float)):
        return repr(raw)
    if value.word:
        return raw
    escaped = raw.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


class _Printer:
    def __init__(self, spec: ast.SpecFile) -> None:
        self.spec = spec
        self.own = [c for c in spec.comments if c.own_line]
        self.trailing = {c.line: c.text for c in spec.comments if not c.own_line}
        self.lines: list[str] = []

    # Comments ---------------------------------------------------------------------------------

    def _flush_before(self, line: int, indent: int) -> None:
        while self.own and self.own[0].line < line:
            self.lines.append("  " * indent + self.own.pop(0).text)

    def emit(self, text: str, indent: int, source_line: int | None) -> None:
        if source_line is not None:
            self._flush_before(source_line, indent)
            comment = self.trailing.pop(source_line, None)
            if comment is not None:
                text = f"{text}  {comment}"
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
                self._flush_before(_line(item), 0)
                self.lines.append("")
            getattr(self, f"item_{type(item).__name__}")(item)
            previous = type(item)
        for comment in self.own:
            self.lines.append(comment.text)
        for line in sorted(self.trailing):
            self.lines.append(self.trailing[line])
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

    def _assigns(self, assigns: list[ast.Assign], indent: int) -> None:
        for a in assigns:
            self.emit(f"{a.key} = {format_value(a.value)}", indent, a.loc.line)

    def item_ModelSection(self, item: ast.ModelSection) -> None:
        head = f"model {item.name} from {item.kind} {format_value(item.reference)}"
        if not item.options and item.config is None:
            self.emit(head, 0, item.loc.line)
            return
        self.emit(head + " {", 0, item.loc.line)
        self._assigns(item.options, 1)
        if item.config is not None:
            first = item.config[0].loc.line if item.config else None
            if item.config:
                self.emit("config {", 1, None if first is None else first - 0)
                self._assigns(item.config, 2)
                self.emit("}", 1, None)
            else:
                self.emit("config {}", 1, None)
        self.close(0, item.end_line)

    def item_InputsSection(self, item: ast.InputsSection) -> None:
        self.emit("inputs {", 0, item.loc.line)
        for decl in item.inputs:
            dims = ", ".join(format_value(d) for d in decl.dims)
            text = f"{decl.name}: {decl.dtype}[{dims}]"
            if decl.sizes is not None:
                text += f" = {format_value(decl.sizes)}"
            self.emit(text, 1, decl.loc.line)
        self._assigns(item.options, 1)
        self.close(0, item.end_line)

    def item_ExportSection(self, item: ast.ExportSection) -> None:
        self.emit("export {", 0, item.loc.line)
        self._assigns(item.options, 1)
        self.close(0, item.end_line)

    def item_PipelineSection(self, item: ast.PipelineSection) -> None:
        self.emit("pipeline {", 0, item.loc.line)
        for call in item.passes:
            text = call.name
            if call.args:
                text += "(" + ", ".join(f"{a.key} = {format_value(a.value)}" for a in call.args) + ")"
            self.emit(text, 1, call.loc.line)
        self.close(0, item.end_line)

    def item_OutputSection(self, item: ast.OutputSection) -> None:
        head = f"output {format_value(item.path)}"
        if not item.options:
            self.emit(head, 0, item.loc.line)
            return
        self.emit(head + " {", 0, item.loc.line)
        self._assigns(item.options, 1)
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
