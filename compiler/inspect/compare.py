"""``hcc compare A B``: what differs between two models, per module scope and numerically.

Structure: for every module scope of either model, the nodes tagged with exactly that scope,
their op histogram and the bytes of the weights they read; a scope is listed when any of these
differ (a difference shows once, at the scope that holds it). Weights present in both models
under one name are compared byte for byte and reported with the scopes that read them.

Numbers: both models run in onnxruntime on the same generated inputs; every output (paired by
name, else by position) gets its max-abs, mean-abs and max-relative deviation; a NaN or an
infinity on one side only, or a shape or dtype that differ, is a problem (``hcc compare`` prints
the comparison and fails).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import hcc.ir as ir
from hcc.ir import Model, Scope

from ..deviation import compare_outputs as compare_arrays
from ._common import dump_json, scope_label, users_scopes
from ._ort import Deviation, Session, feeds_for, generated_feeds
from .analyze import ScopeStats, analyze


@dataclass
class ScopeDiff:
    scope: Scope
    nodes: tuple[int, int]  # own nodes in A, in B (0: absent)
    ops: dict[str, tuple[int, int]]  # only the op types whose counts differ
    parameter_bytes: tuple[int, int]  # read by own ops

    def as_dict(self) -> dict:
        return {
            "tag": self.scope.tag,
            "module": self.scope.module_path,
            "nodes": list(self.nodes),
            "ops": {k: list(v) for k, v in self.ops.items()},
            "parameter_bytes": list(self.parameter_bytes),
        }


@dataclass
class Comparison:
    paths: tuple[str, str]
    nodes: tuple[int, int]
    scopes: list[ScopeDiff]
    only_in_a: list[str]  # initializer names
    only_in_b: list[str]
    changed_weights: dict[str, list[str]]  # name -> scope labels reading it (in A)
    outputs: list[Deviation] = field(default_factory=list)
    bisect: object | None = None  # a BisectResult when asked for

    @property
    def problems(self) -> list[str]:
        """Outputs that cannot be compared numerically (NaN, shapes, dtypes): a failure."""
        return [f"output {d.name!r}: {d.problem}" for d in self.outputs if d.problem]

    @property
    def same_structure(self) -> bool:
        return not self.scopes and not self.only_in_a and not self.only_in_b

    def as_dict(self) -> dict:
        data = {
            "a": self.paths[0],
            "b": self.paths[1],
            "nodes": list(self.nodes),
            "scopes": [s.as_dict() for s in self.scopes],
            "initializers_only_in_a": self.only_in_a,
            "initializers_only_in_b": self.only_in_b,
            "changed_weights": self.changed_weights,
            "outputs": [d.as_dict() for d in self.outputs],
        }
        if self.bisect is not None:
            data["bisect"] = self.bisect.as_dict()
        return data

    def format(self) -> str:
        a, b = self.paths
        lines = [f"A: {a} ({self.nodes[0]} nodes)", f"B: {b} ({self.nodes[1]} nodes)", ""]
        if self.same_structure:
            lines.append("structure: same scopes, op counts and weight names")
        else:
            lines.append(f"structure: {len(self.scopes)} scopes differ")
            for diff in self.scopes:
                ops = ", ".join(f"{op} {x}->{y}" for op, (x, y) in diff.ops.items())
                lines.append(
                    f"  {scope_label(diff.scope)}: nodes {diff.nodes[0]}->"
                    f"{diff.nodes[1]}"
                    + (f"; {ops}" if ops else "")
                    + _bytes_change(diff.parameter_bytes)
                )
            for label, names in (("only in A", self.only_in_a), ("only in B", self.only_in_b)):
                if names:
                    lines.append(f"  initializers {label}: {_few(names)}")
        if self.changed_weights:
            lines.append(f"weights with other values: {len(self.changed_weights)}")
            for name, scopes in self.changed_weights.items():
                lines.append(f"  {name} (read by {', '.join(scopes) or 'no op'})")
        if self.outputs:
            lines += ["", "outputs (max abs / mean abs / max rel deviation):"]
            width = max(len(d.name) for d in self.outputs)
            for d in self.outputs:
                if d.problem:
                    lines.append(f"  {d.name:<{width}}  FAIL: {d.problem}")
                else:
                    lines.append(
                        f"  {d.name:<{width}}  {d.max_abs:.3g} / {d.mean_abs:.3g} / {d.max_rel:.3g}"
                    )
        text = "\n".join(lines) + "\n"
        if self.bisect is not None:
            text += "\n" + self.bisect.format()
        return text


def _bytes_change(pair: tuple[int, int]) -> str:
    return "" if pair[0] == pair[1] else f"; weight bytes {pair[0]}->{pair[1]}"


def _few(names: list[str], limit: int = 6) -> str:
    return ", ".join(names[:limit]) + (
        f" (+{len(names) - limit} more)" if len(names) > limit else ""
    )


def compare_structure(a: Model, b: Model, paths: tuple[str, str] = ("A", "B")) -> Comparison:
    stats_a = {s.scope: s for s in analyze(a).scopes}
    stats_b = {s.scope: s for s in analyze(b).scopes}
    empty = ScopeStats(Scope.unknown())
    diffs = []
    for scope in [*stats_a, *(s for s in stats_b if s not in stats_a)]:
        x, y = stats_a.get(scope, empty), stats_b.get(scope, empty)
        ops = {
            op: (x.own_ops.get(op, 0), y.own_ops.get(op, 0))
            for op in dict.fromkeys([*x.own_ops, *y.own_ops])
            if x.own_ops.get(op, 0) != y.own_ops.get(op, 0)
        }
        present = (scope in stats_a) == (scope in stats_b)
        if ops or not present or x.own_parameter_bytes != y.own_parameter_bytes:
            diffs.append(
                ScopeDiff(
                    scope,
                    (x.own_nodes, y.own_nodes),
                    ops,
                    (x.own_parameter_bytes, y.own_parameter_bytes),
                )
            )
    inits_a, inits_b = a.graph.initializers, b.graph.initializers
    changed = {}
    for name, value in inits_a.items():
        other = inits_b.get(name)
        if other is not None and not _same_tensor(value.const_value, other.const_value):
            changed[name] = [scope_label(s) for s in users_scopes(value, a.graph)]
    return Comparison(
        paths,
        (len(a.graph), len(b.graph)),
        diffs,
        [n for n in inits_a if n not in inits_b],
        [n for n in inits_b if n not in inits_a],
        changed,
    )


def _same_tensor(x: ir.Tensor, y: ir.Tensor) -> bool:
    if x.dtype != y.dtype or x.shape != y.shape:
        return False
    return x.raw_view() == y.raw_view()


def compare_outputs(
    path_a: str, path_b: str, model_a: Model, *, batch: int = 2, seq: int = 16, seed: int = 0
) -> list[Deviation]:
    # onnxruntime's default optimization level: the models as a user would run them.
    session_a = Session(path_a, optimization="all", what="model A")
    session_b = Session(path_b, optimization="all", what="model B")
    feeds = generated_feeds(session_a, model_a, batch=batch, seq=seq, seed=seed)
    out_a = session_a.run(feeds)
    out_b = session_b.run(feeds_for(session_b, feeds))
    return compare_arrays(out_a, out_b, ("A", "B"))


def compare(
    path_a: str,
    path_b: str,
    *,
    run: bool = True,
    bisect: bool = False,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    batch: int = 2,
    seq: int = 16,
    seed: int = 0,
) -> Comparison:
    from ._common import load_model

    model_a, model_b = load_model(path_a), load_model(path_b)
    result = compare_structure(model_a, model_b, (str(path_a), str(path_b)))
    if run or bisect:
        result.outputs = compare_outputs(
            str(path_a), str(path_b), model_a, batch=batch, seq=seq, seed=seed
        )
    if bisect:
        from .bisect import bisect as run_bisect

        result.bisect = run_bisect(
            str(path_a), str(path_b), atol=atol, rtol=rtol, batch=batch, seq=seq, seed=seed
        )
    return result


def render(result: Comparison, fmt: str) -> str:
    if fmt == "json":
        return dump_json(result.as_dict())
    return result.format()
