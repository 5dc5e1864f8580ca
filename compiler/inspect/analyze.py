"""``hcc analyze``: the module tree of a tagged model with counts per scope.

For every module scope: the nodes tagged with exactly that scope (``own``) and with it or a
submodule (``nodes``), the op histogram of both, and the bytes of the initializers its ops read
with their element types. Given two models (before and after a precision pass), the weight
bytes and element types per module side by side.
A weight read by several modules counts for each of them (that is what each module needs); the
model total counts it once. Coverage says how many nodes carry a scope at all, and which
modules of ``hcc.hierarchy`` hold no node (never executed, or folded away by the exporter).
"""

from __future__ import annotations

import csv
import fnmatch
import io
from dataclasses import dataclass, field

import hcc.ir as ir
from hcc.ir import Model, Scope

from ._common import (
    dump_json,
    histogram,
    human_bytes,
    readable_hierarchy,
    scope_label,
    scope_tree,
    users_scopes,
)

FORMATS = ("summary", "detailed", "json", "csv")


@dataclass
class ScopeStats:
    scope: Scope
    own_nodes: int = 0
    nodes: int = 0
    own_ops: dict[str, int] = field(default_factory=dict)
    ops: dict[str, int] = field(default_factory=dict)
    own_parameter_bytes: int = 0
    parameter_bytes: int = 0
    parameters: int = 0  # elements of those initializers (what "parameter count" means)
    initializers: list[str] = field(default_factory=list)  # read by ops of the subtree
    dtype_bytes: dict[str, int] = field(default_factory=dict)  # parameter_bytes by element type

    def as_dict(self, total_nodes: int) -> dict:
        return {
            "tag": self.scope.tag,
            "module": self.scope.module_path,
            "depth": self.scope.depth,
            "own_nodes": self.own_nodes,
            "nodes": self.nodes,
            "share": round(self.nodes / total_nodes, 4) if total_nodes else 0.0,
            "own_ops": self.own_ops,
            "ops": self.ops,
            "own_parameter_bytes": self.own_parameter_bytes,
            "parameter_bytes": self.parameter_bytes,
            "parameters": self.parameters,
            "initializers": self.initializers,
            "parameter_dtypes": self.dtype_bytes,
        }

    @property
    def dtypes(self) -> str:
        """The element types of the weights, most bytes first: ``float16, int4``."""
        return ", ".join(sorted(self.dtype_bytes, key=lambda t: -self.dtype_bytes[t])) or "-"


@dataclass
class Analysis:
    nodes: int
    tagged: int
    initializers: int
    parameter_bytes: int
    scopes: list[ScopeStats]
    untagged: list[str]
    modules: int  # non-built-in modules in hcc.hierarchy (0 without a hierarchy)
    modules_without_nodes: list[str]  # their labels
    has_hierarchy: bool

    @property
    def coverage(self) -> float:
        return self.tagged / self.nodes if self.nodes else 1.0

    def as_dict(self) -> dict:
        return {
            "nodes": self.nodes,
            "tagged": self.tagged,
            "coverage": round(self.coverage, 4),
            "initializers": self.initializers,
            "parameter_bytes": self.parameter_bytes,
            "hierarchy": self.has_hierarchy,
            "modules": self.modules,
            "modules_without_nodes": self.modules_without_nodes,
            "untagged": self.untagged,
            "scopes": [s.as_dict(self.nodes) for s in self.scopes],
        }


def analyze(model: Model) -> Analysis:
    graph = model.graph
    order = scope_tree(model)
    stats = {scope: ScopeStats(scope) for scope in order}
    own_ops: dict[Scope, list[str]] = {s: [] for s in order}
    all_ops: dict[Scope, list[str]] = {s: [] for s in order}
    untagged = []
    for node in graph:
        if node.scope.is_unknown:
            untagged.append(node.name or node.op_type)
            continue
        stats[node.scope].own_nodes += 1
        own_ops[node.scope].append(node.op_type)
        for level in node.scope.ancestors(include_self=True):
            stats[level].nodes += 1
            all_ops[level].append(node.op_type)
    for scope in order:
        stats[scope].own_ops = histogram(own_ops[scope])
        stats[scope].ops = histogram(all_ops[scope])
    total_bytes = 0
    for name, value in graph.initializers.items():
        size = value.const_value.nbytes
        elements = value.const_value.size
        total_bytes += size
        users = [s for s in users_scopes(value, graph) if not s.is_unknown]
        for scope in users:
            stats[scope].own_parameter_bytes += size
        # Each level once, however many of its submodules read the weight.
        levels = dict.fromkeys(level for s in users for level in s.ancestors(include_self=True))
        dtype = _dtype_name(value.const_value.dtype)
        for level in levels:
            stats[level].parameter_bytes += size
            stats[level].parameters += elements
            stats[level].initializers.append(name)
            stats[level].dtype_bytes[dtype] = stats[level].dtype_bytes.get(dtype, 0) + size
    by_path = readable_hierarchy(model)
    modules, without = 0, []
    if by_path is not None:
        for scope in dict.fromkeys(by_path.values()):
            modules += 1
            if scope not in stats or stats[scope].nodes == 0:
                without.append(scope_label(scope))
    return Analysis(
        nodes=len(graph),
        tagged=len(graph) - len(untagged),
        initializers=len(graph.initializers),
        parameter_bytes=total_bytes,
        scopes=[stats[s] for s in order],
        untagged=untagged,
        modules=modules,
        modules_without_nodes=without,
        has_hierarchy=by_path is not None,
    )


def select(analysis: Analysis, pattern: str | None) -> list[ScopeStats]:
    """The scopes a ``--filter-tag`` keeps.

    A glob (``*``, ``?``, ``[``) is matched against the whole tag; a plain tag keeps that scope
    and everything below it, which is what "show me the encoder" means.
    """
    if not pattern:
        return analysis.scopes
    if any(c in pattern for c in "*?["):
        chosen = [s for s in analysis.scopes if fnmatch.fnmatchcase(s.scope.tag, pattern)]
    else:
        prefix = pattern.rstrip("/")
        chosen = [
            s
            for s in analysis.scopes
            if s.scope.tag == prefix or s.scope.tag.startswith(prefix + "/")
        ]
    if not chosen:
        tags = sorted({s.scope.tag for s in analysis.scopes})
        from hcc.passes._errors import did_you_mean

        raise ir.HccError(f"--filter-tag {pattern!r} matches no scope{did_you_mean(pattern, tags)}")
    return chosen


# -- formats ------------------------------------------------------------------------------------


def render(analysis: Analysis, fmt: str, *, pattern: str | None = None, source: str = "") -> str:
    if fmt not in FORMATS:
        raise ir.HccError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    chosen = select(analysis, pattern)
    if fmt == "json":
        data = analysis.as_dict()
        if pattern:
            data["filter"] = pattern
            data["scopes"] = [s.as_dict(analysis.nodes) for s in chosen]
        return dump_json(data)
    if fmt == "csv":
        return _csv(analysis, chosen)
    head = _headline(analysis, source)
    if fmt == "summary":
        return head + _table(analysis, chosen)
    return head + _detailed(analysis, chosen)


def _headline(analysis: Analysis, source: str) -> str:
    where = f"{source}: " if source else ""
    lines = [
        f"{where}{analysis.nodes} nodes, {analysis.tagged} tagged "
        f"({analysis.coverage:.1%}), {analysis.initializers} initializers "
        f"({human_bytes(analysis.parameter_bytes)})"
    ]
    if analysis.has_hierarchy:
        holding = analysis.modules - len(analysis.modules_without_nodes)
        lines.append(f"modules: {holding} of {analysis.modules} hold nodes")
    else:
        lines.append("modules: no readable hcc.hierarchy; scopes come from the nodes only")
    if analysis.untagged:
        shown = ", ".join(analysis.untagged[:5]) + (" ..." if len(analysis.untagged) > 5 else "")
        lines.append(f"untagged nodes: {shown}")
    return "\n".join(lines) + "\n\n"


def _short_ops(ops: dict[str, int], limit: int = 4) -> str:
    items = list(ops.items())
    text = ", ".join(f"{op} {n}" for op, n in items[:limit])
    return text + (", ..." if len(items) > limit else "")


def _name(stats: ScopeStats) -> str:
    scope = stats.scope
    module = f" ({scope.module_path})" if scope.module_path else ""
    return "  " * scope.depth + scope.class_name + module


def _table(analysis: Analysis, chosen: list[ScopeStats]) -> str:
    rows = [
        (
            _name(s),
            str(s.nodes),
            str(s.own_nodes),
            human_bytes(s.parameter_bytes),
            s.dtypes,
            _short_ops(s.ops),
        )
        for s in chosen
    ]
    header = ("scope", "nodes", "own", "params", "dtypes", "top ops")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    lines = []
    for row in [header, *rows]:
        lines.append(
            f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  "
            f"{row[3]:>{widths[3]}}  {row[4]:<{widths[4]}}  {row[5]}".rstrip()
        )
    return "\n".join(lines) + "\n"


def render_change(
    before: Analysis,
    after: Analysis,
    fmt: str,
    *,
    pattern: str | None = None,
    sources: tuple[str, str] = ("before", "after"),
) -> str:
    """Weight bytes and element types per module of two models (a model before and after
    convert-precision or quantize-weights), matched by tag."""
    if fmt not in ("summary", "json"):
        raise ir.HccError(f"comparing two models supports --format summary or json, not {fmt!r}")
    old = {s.scope.tag: s for s in select(before, pattern)}
    new = {s.scope.tag: s for s in select(after, pattern)}
    tags = list(dict.fromkeys([*old, *new]))
    rows = []
    for tag in tags:
        a, b = old.get(tag), new.get(tag)
        rows.append(
            {
                "tag": tag,
                "depth": (a or b).scope.depth,
                "before_bytes": a.parameter_bytes if a else 0,
                "after_bytes": b.parameter_bytes if b else 0,
                "before_dtypes": a.dtype_bytes if a else {},
                "after_dtypes": b.dtype_bytes if b else {},
            }
        )
    if fmt == "json":
        return dump_json(
            {
                "before": sources[0],
                "after": sources[1],
                "parameter_bytes": [before.parameter_bytes, after.parameter_bytes],
                "scopes": rows,
            }
        )
    lines = [
        f"{sources[0]} -> {sources[1]}: weights {human_bytes(before.parameter_bytes)} -> "
        f"{human_bytes(after.parameter_bytes)}"
        f" ({_ratio(after.parameter_bytes, before.parameter_bytes)})",
        "",
    ]
    table = [("scope", "before", "after", "ratio", "dtypes")]
    for row, tag in zip(rows, tags):
        scope = (old.get(tag) or new.get(tag)).scope
        kinds = lambda d: ", ".join(sorted(d, key=lambda t: -d[t])) or "-"  # noqa: E731
        table.append(
            (
                "  " * scope.depth + scope.class_name,
                human_bytes(row["before_bytes"]),
                human_bytes(row["after_bytes"]),
                _ratio(row["after_bytes"], row["before_bytes"]),
                f"{kinds(row['before_dtypes'])} -> {kinds(row['after_dtypes'])}",
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    for r in table:
        lines.append(
            f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  "
            f"{r[3]:>{widths[3]}}  {r[4]}".rstrip()
        )
    return "\n".join(lines) + "\n"


def _ratio(after: int, before: int) -> str:
    return f"{after / before:.3f}x" if before else "-"


def _dtype_name(dtype) -> str:
    return dtype.name.lower() if isinstance(dtype, ir.DataType) else f"type {dtype}"


def _detailed(analysis: Analysis, chosen: list[ScopeStats]) -> str:
    blocks = []
    for s in chosen:
        share = s.nodes / analysis.nodes if analysis.nodes else 0.0
        lines = [
            scope_label(s.scope),
            f"  nodes: {s.nodes} ({share:.1%} of the model), {s.own_nodes} tagged with exactly "
            "this scope",
            f"  ops: {_short_ops(s.ops, limit=len(s.ops)) or '-'}",
        ]
        if s.own_nodes != s.nodes:
            lines.append(f"  own ops: {_short_ops(s.own_ops, limit=len(s.own_ops)) or '-'}")
        lines.append(
            f"  parameters: {human_bytes(s.parameter_bytes)} in {len(s.initializers)} "
            f"initializers ({human_bytes(s.own_parameter_bytes)} read by own ops)"
        )
        blocks.append("\n".join(lines))
    text = "\n\n".join(blocks) + "\n"
    if analysis.modules_without_nodes:
        text += "\nmodules without nodes:\n" + "".join(
            f"  {label}\n" for label in analysis.modules_without_nodes
        )
    return text


CSV_COLUMNS = (
    "tag",
    "module",
    "depth",
    "nodes",
    "own_nodes",
    "share",
    "parameter_bytes",
    "own_parameter_bytes",
    "initializers",
    "ops",
    "dtypes",
)


def _csv(analysis: Analysis, chosen: list[ScopeStats]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for s in chosen:
        share = s.nodes / analysis.nodes if analysis.nodes else 0.0
        writer.writerow(
            [
                s.scope.tag,
                s.scope.module_path,
                s.scope.depth,
                s.nodes,
                s.own_nodes,
                f"{share:.4f}",
                s.parameter_bytes,
                s.own_parameter_bytes,
                len(s.initializers),
                ";".join(f"{op}:{n}" for op, n in s.ops.items()),
                ";".join(f"{t}:{n}" for t, n in s.dtype_bytes.items()),
            ]
        )
    return out.getvalue()
