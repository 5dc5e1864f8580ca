"""``hcc compare --bisect``: the first module scope whose outputs diverge between two models.

Both models run in onnxruntime on the same generated inputs, with the values that *leave*
each module scope (``graph.values_leaving``) and the computed values that *enter* it exposed as
extra graph outputs (on copies of the models). A scope is an *origin* of divergence when what
leaves it differs beyond tolerance while what enters it does not: the difference was made
inside. Starting at the root, each step goes to the first child (in execution order) that is an
origin or contains one, and stops where no child qualifies; the last scope reached is the most
specific module that introduced the difference. Weights are not compared as inputs: a changed
weight is exactly the kind of difference a module introduces.

Scopes are matched between the models by identity (tag and module path); their values by
tensor name, or by position when the names differ (e.g. after a pass renamed them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import hcc.ir as ir
from hcc.ir import Graph, Model, Scope, Value

from ..deviation import check_tolerance
from ._common import scope_label, scope_tree
from ._ort import deviation, feeds_for, generated_feeds, magnitude, session_with_outputs


@dataclass
class ScopeCheck:
    scope: Scope
    outputs: int  # values compared
    max_abs: float  # worst deviation of a leaving value
    diverges: bool  # some leaving value beyond tolerance
    inputs_diverge: bool  # some computed entering value beyond tolerance
    worst: str = ""  # name (in the first model) of the worst leaving value

    @property
    def origin(self) -> bool:
        return self.diverges and not self.inputs_diverge

    def as_dict(self) -> dict:
        return {
            "tag": self.scope.tag,
            "module": self.scope.module_path,
            "values": self.outputs,
            "max_abs": _plain(self.max_abs),
            "diverges": self.diverges,
            "inputs_diverge": self.inputs_diverge,
            "worst": self.worst,
        }


@dataclass
class BisectResult:
    culprit: Scope | None
    path: list[ScopeCheck]  # root ... culprit
    checks: list[ScopeCheck]  # every scope measured, in execution order
    unmatched: list[Scope] = field(default_factory=list)  # scopes whose values did not pair

    def as_dict(self) -> dict:
        return {
            "culprit": None
            if self.culprit is None
            else {"tag": self.culprit.tag, "module": self.culprit.module_path},
            "path": [c.as_dict() for c in self.path],
            "scopes": [c.as_dict() for c in self.checks],
            "unmatched": [scope_label(s) for s in self.unmatched],
        }

    def format(self) -> str:
        if self.culprit is None:
            diverging = [c for c in self.checks if c.diverges]
            if not diverging:
                return "bisect: no module scope's outputs diverge beyond the tolerance\n"
            return (
                "bisect: values diverge, but no scope has agreeing inputs and diverging "
                f"outputs; first diverging scope: {scope_label(diverging[0].scope)}\n"
            )
        lines = [f"bisect: first diverging module: {scope_label(self.culprit)}"]
        width = max(len(scope_label(c.scope)) for c in self.path)
        for check in self.path:
            lines.append(
                f"  {scope_label(check.scope):<{width}}  max abs {check.max_abs:.3g}"
                f" on {check.worst or '-'}"
            )
        if self.unmatched:
            lines.append(f"  ({len(self.unmatched)} scopes skipped: their values do not pair up)")
        return "\n".join(lines) + "\n"


def _plain(x: float):
    return x if x == x and x not in (float("inf"), float("-inf")) else str(x)


def bisect(
    path_a: str,
    path_b: str,
    *,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    batch: int = 2,
    seq: int = 16,
    seed: int = 0,
) -> BisectResult:
    check_tolerance(atol, "atol")
    check_tolerance(rtol, "rtol")
    model_a, model_b = ir.load(path_a), ir.load(path_b)
    order = _common_scopes(model_a, model_b)
    pairs: dict[Scope, list[tuple[Value, Value]]] = {}
    entering: dict[Scope, list[tuple[Value, Value]]] = {}
    unmatched = []
    for scope in order:
        leaving = _pair(model_a.graph.values_leaving(scope), model_b.graph.values_leaving(scope))
        if leaving is None:
            unmatched.append(scope)
            continue
        pairs[scope] = leaving
        entering[scope] = (
            _pair(_computed(model_a.graph, scope), _computed(model_b.graph, scope)) or []
        )
    names_a = sorted({a.name for ps in (*pairs.values(), *entering.values()) for a, _ in ps})
    names_b = sorted({b.name for ps in (*pairs.values(), *entering.values()) for _, b in ps})
    session_a = session_with_outputs(path_a, names_a)
    session_b = session_with_outputs(path_b, names_b)
    feeds_a = generated_feeds(session_a, model_a, batch=batch, seq=seq, seed=seed)
    feeds_b = feeds_for(session_b, feeds_a)
    values_a = {**feeds_a, **session_a.run(feeds_a)}
    values_b = {**feeds_b, **session_b.run(feeds_b)}

    checks: dict[Scope, ScopeCheck] = {}
    for scope in order:
        if scope not in pairs:
            continue
        worst, worst_name, out_div = _judge(pairs[scope], values_a, values_b, atol, rtol)
        _, _, in_div = _judge(entering[scope], values_a, values_b, atol, rtol)
        checks[scope] = ScopeCheck(scope, len(pairs[scope]), worst, out_div, in_div, worst_name)
    path = _descend(order, checks)
    return BisectResult(path[-1].scope if path else None, path, list(checks.values()), unmatched)


def _common_scopes(a: Model, b: Model) -> list[Scope]:
    """Scopes holding nodes in both models, in the first model's execution order."""
    in_b = {level for node in b.graph for level in node.scope.ancestors(include_self=True)}
    held = {level for node in a.graph for level in node.scope.ancestors(include_self=True)}
    order = [s for s in scope_tree(a) if s in held and s in in_b and not s.is_unknown]
    if not order:
        raise ir.HccError(
            "the two models share no module scope; bisect needs two models of "
            "the same module hierarchy (tagged by hcc)"
        )
    return order


def _computed(graph: Graph, scope: Scope) -> list[Value]:
    """Values entering ``scope`` that some node computed (not graph inputs or weights)."""
    return [v for v in graph.values_entering(scope) if v.producer is not None]


def _pair(a: list[Value], b: list[Value]) -> list[tuple[Value, Value]] | None:
    names_a, names_b = [v.name for v in a], [v.name for v in b]
    if sorted(names_a) == sorted(names_b):
        by_name = {v.name: v for v in b}
        return [(v, by_name[v.name]) for v in a]
    if len(a) == len(b):
        return list(zip(a, b))
    return None


def _judge(pairs, values_a, values_b, atol, rtol) -> tuple[float, str, bool]:
    """Worst max-abs deviation among ``pairs``, its value's name, and whether any pair is
    beyond ``atol + rtol * |reference|`` (a NaN or an infinity in one model only always is)."""
    worst, worst_name, beyond = 0.0, "", False
    for a, b in pairs:
        if a.name not in values_a or b.name not in values_b:
            continue  # not a tensor onnxruntime can return (e.g. a sequence)
        ref = values_a[a.name]
        gap = deviation(a.name, ref, values_b[b.name])
        if gap.max_abs > worst or not worst_name:
            worst, worst_name = gap.max_abs, a.name
        if not gap.within(atol, rtol, magnitude(ref)):
            beyond = True
    return worst, worst_name, beyond


def _descend(order: list[Scope], checks: dict[Scope, ScopeCheck]) -> list[ScopeCheck]:
    """From the roots down: at each level the first scope that is an origin or holds one."""
    holds_origin: set[Scope] = set()
    for scope, check in checks.items():
        if check.origin:
            holds_origin.update(scope.ancestors(include_self=True))
    path: list[ScopeCheck] = []
    parent: Scope | None = None
    while True:
        level = [s for s in order if s.parent == parent and s in checks]
        chosen = next((s for s in level if s in holds_origin), None)
        if chosen is None:
            return path
        path.append(checks[chosen])
        parent = chosen
