"""``hcc validate MODEL``: is the file valid ONNX, is every node tagged, do the tags agree with
the module tree stored beside them; ``--repair`` re-runs the tagging passes.

Checks, each reported as ok / FAIL (errors) or note (warnings that do not fail validation):

* ``onnx checker``: onnx's own checker on the file (with shape inference under
  ``--check-consistency``);
* ``ir invariants``: hcc's verifier (SSA, use-def, stored tags agree with scopes, ...);
* ``tag coverage``: every node, subgraphs included, carries a scope;
* ``hierarchy``: ``hcc.hierarchy`` is present and is a module tree;
* ``tags match hierarchy``: a node's module path names a module of the tree that is not a
  torch.nn built-in, and its tag is the one the tag rules give that module.

``--check-consistency`` adds: ``single root`` (all tags under the tree's root), ``namespace
metadata`` (the viewer grouping key agrees with the tag), ``initializer scopes`` (each
initializer's ``hcc.scopes`` lists exactly the scopes whose ops read it) and ``module coverage``
(modules of the tree that hold no node, a note).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import hcc.ir as ir
from hcc.ir import Model, Scope, namespace_of

from ._common import SCOPES_KEY, hierarchy_scopes, hierarchy_tree, load_model, users_scopes

TAGGING_PIPELINE = "recover-scopes,tag-auxiliary,propagate-tags"
SHOWN = 5  # problems listed per check; the count says how many there are


@dataclass
class Check:
    name: str
    problems: list[str] = field(default_factory=list)
    severity: str = "error"  # a warning is reported but does not fail validation
    summary: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        return {
            "check": self.name,
            "ok": self.ok,
            "severity": self.severity,
            "summary": self.summary,
            "problems": self.problems,
        }


@dataclass
class Report:
    path: str
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.ok or c.severity != "error" for c in self.checks)

    def as_dict(self) -> dict:
        return {"model": self.path, "ok": self.ok, "checks": [c.as_dict() for c in self.checks]}

    def format(self) -> str:
        lines = []
        for check in self.checks:
            if check.ok:
                mark = "ok  "
            else:
                mark = "FAIL" if check.severity == "error" else "note"
            summary = f": {check.summary}" if check.summary else ""
            lines.append(f"{mark}  {check.name}{summary}")
            for problem in check.problems[:SHOWN]:
                lines.append(f"        {problem}")
            if len(check.problems) > SHOWN:
                lines.append(f"        ... and {len(check.problems) - SHOWN} more")
        verdict = "valid" if self.ok else "INVALID"
        lines.append(f"{self.path}: {verdict}")
        return "\n".join(lines) + "\n"


def validate_file(path: str, *, consistency: bool = False) -> Report:
    model = load_model(path)
    checks = [_onnx_checker(path, full=consistency)]
    checks += validate_model(model, consistency=consistency)
    return Report(str(path), checks)


def validate_model(model: Model, *, consistency: bool = False) -> list[Check]:
    """The checks that need only the IR (everything but onnx's checker)."""
    from hcc.ir.verifier import check as verify

    checks = [Check("ir invariants", verify(model))]
    nodes = list(_tagged_nodes(model))
    untagged = [f"{_node(n)} has no scope" for n in nodes if n.scope.is_unknown]
    checks.append(
        Check(
            "tag coverage",
            untagged,
            summary=f"{len(nodes) - len(untagged)} of {len(nodes)} nodes tagged",
        )
    )
    tree_check, by_path = _hierarchy(model)
    checks.append(tree_check)
    if by_path is not None:
        checks.append(Check("tags match hierarchy", _against_tree(nodes, by_path)))
    if consistency:
        checks += _consistency(model, nodes, by_path)
    return checks


def _onnx_checker(path: str, *, full: bool) -> Check:
    from hcc.ir.onnx.schemas import check_model

    try:
        check_model(str(path), full_check=full)
    except Exception as error:  # onnx raises ValidationError and shape inference errors
        first = str(error).strip().splitlines()
        return Check("onnx checker", [first[0] if first else type(error).__name__])
    return Check("onnx checker", summary="with shape inference" if full else "")


def _tagged_nodes(model: Model):
    """Nodes that should carry a scope: the main graph and its subgraphs (function bodies
    are shared code, not module calls)."""
    return model.graph.all_nodes()


def _node(node: ir.Node) -> str:
    return f"{node.op_type} node {node.name!r}" if node.name else f"an unnamed {node.op_type} node"


def _hierarchy(model: Model) -> tuple[Check, dict[str, Scope] | None]:
    try:
        tree = hierarchy_tree(model)
    except ir.HccError as error:
        return Check("hierarchy", [str(error)]), None
    if tree is None:
        return Check(
            "hierarchy",
            ["no hcc.hierarchy metadata: tags cannot be checked against a module tree"],
            severity="warning",
        ), None
    try:
        by_path = hierarchy_scopes(tree)
    except (KeyError, TypeError, ValueError) as error:
        return Check(
            "hierarchy", [f"the module tree is malformed ({type(error).__name__}: {error})"]
        ), None
    return Check("hierarchy", summary=f"{len(by_path)} modules with scopes"), by_path


def _against_tree(nodes, by_path: dict[str, Scope]) -> list[str]:
    problems = []
    for node in nodes:
        scope = node.scope
        if scope.is_unknown:
            continue  # reported by tag coverage
        expected = by_path.get(scope.module_path)
        if expected is None:
            problems.append(
                f"{_node(node)}: module {scope.module_path!r} (tag {scope.tag}) is "
                "not a module of the hierarchy, or is a torch.nn built-in"
            )
        elif expected.tag != scope.tag:
            problems.append(
                f"{_node(node)}: tag {scope.tag} but module {scope.module_path!r} is {expected.tag}"
            )
    return problems


def _consistency(model: Model, nodes, by_path: dict[str, Scope] | None) -> list[Check]:
    checks = []
    if by_path:
        root = next(iter(by_path.values())).root_scope
        stray = [
            f"{_node(n)}: tag {n.scope.tag} is not under {root.tag}"
            for n in nodes
            if not n.scope.is_unknown and n.scope.root_scope != root
        ]
        checks.append(Check("single root", stray))
        wrong = []
        for node in nodes:
            stored = node.metadata_props.get(ir.NAMESPACE_KEY)
            expected = by_path.get(node.scope.module_path)
            if stored is None or expected is None or expected.tag != node.scope.tag:
                continue  # absent, or already reported as a tag problem
            if stored != namespace_of(expected):
                wrong.append(f"{_node(node)}: namespace {stored!r} does not match its tag")
        checks.append(Check("namespace metadata", wrong))
    checks += _initializer_scopes(model)
    if by_path:
        held = {level for n in nodes for level in n.scope.ancestors(include_self=True)}
        idle = [
            f"{s.tag} ({s.module_path or 'root'}) holds no node"
            for s in dict.fromkeys(by_path.values())
            if s not in held
        ]
        checks.append(
            Check(
                "module coverage",
                idle,
                severity="warning",
                summary=f"{len(set(by_path.values())) - len(idle)} of "
                f"{len(set(by_path.values()))} modules hold nodes",
            )
        )
    return checks


def _initializer_scopes(model: Model) -> list[Check]:
    """Stored ``hcc.scopes`` that disagree with the readers are errors; initializers without
    the key are a note (the model did not go through propagate-tags)."""
    wrong, missing = [], []
    for graph in model.graph.subgraphs(include_self=True):
        for name, value in graph.initializers.items():
            actual = {s.tag for s in users_scopes(value, graph) if not s.is_unknown}
            text = value.const_value.metadata_props.get(SCOPES_KEY)
            if text is None:
                if actual:
                    missing.append(f"initializer {name!r} has no {SCOPES_KEY}")
                continue
            try:
                stored = set(json.loads(text))
            except (ValueError, TypeError):
                wrong.append(f"initializer {name!r}: {SCOPES_KEY} is not a JSON list")
                continue
            if stored != actual:
                wrong.append(
                    f"initializer {name!r}: {SCOPES_KEY} lists {sorted(stored)} "
                    f"but it is read by {sorted(actual)}"
                )
    checks = [Check("initializer scopes", wrong)]
    if missing:
        checks.append(
            Check(
                "initializer scopes recorded",
                missing,
                severity="warning",
                summary="run propagate-tags (or --repair) to record them",
            )
        )
    return checks


# -- repair ---------------------------------------------------------------------------------------


def repair(model: Model) -> list[str]:
    """Re-tag ``model`` in place; returns what changed, one line per kind of change.

    Nodes whose tag disagrees with the module tree lose it first, so the tagging passes give
    them a new one (from the exporter's records when present, else from their neighbours);
    then every node whose module is in the tree takes the tree's scope, which rewrites its
    stored ``hcc.tag``/``hcc.module``/``namespace`` consistently.
    """
    from hcc.passes import run

    before = _snapshot(model)
    by_path = None
    try:
        tree = hierarchy_tree(model)
        by_path = hierarchy_scopes(tree) if tree is not None else None
    except (ir.HccError, KeyError, TypeError, ValueError):
        pass  # no usable tree: the passes still tag what they can
    cleared = 0
    if by_path is not None:
        for node in model.graph.all_nodes():
            expected = by_path.get(node.scope.module_path)
            if not node.scope.is_unknown and (expected is None or expected.tag != node.scope.tag):
                node.scope = Scope.unknown()
                cleared += 1
    run(model, TAGGING_PIPELINE)
    if by_path is not None:
        for node in model.graph.all_nodes():
            expected = by_path.get(node.scope.module_path)
            if expected is not None and expected.tag == node.scope.tag:
                node.scope = expected
    after = _snapshot(model)
    retagged = sum(1 for key in after["nodes"] if after["nodes"][key] != before["nodes"].get(key))
    rescoped = sum(1 for key in after["inits"] if after["inits"][key] != before["inits"].get(key))
    changes = []
    if cleared:
        changes.append(f"{_count(cleared, 'node')} had tags outside the module tree")
    changes.append(f"{_count(retagged, 'node')} got new tag metadata")
    changes.append(f"{_count(rescoped, 'initializer')} got new {SCOPES_KEY}")
    return changes


def repair_file(path: str, output: str, *, consistency: bool = False) -> tuple[list[str], Report]:
    """Repair the model at ``path`` into ``output`` and validate the result: the changes made,
    and the report on the written file. The caller has checked that ``output`` is not an input
    (:func:`hcc.outputs.refuse_inputs`)."""
    model = load_model(path)
    changes = repair(model)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    ir.save(model, output, external_data=f"{os.path.basename(output)}.data")
    return changes, validate_file(output, consistency=consistency)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _snapshot(model: Model) -> dict:
    keys = (ir.TAG_KEY, ir.MODULE_KEY, ir.NAMESPACE_KEY)
    nodes = {id(n): tuple(n.metadata_props.get(k) for k in keys) for n in model.graph.all_nodes()}
    inits = {
        (id(g), name): v.const_value.metadata_props.get(SCOPES_KEY)
        for g in model.graph.subgraphs(include_self=True)
        for name, v in g.initializers.items()
    }
    return {"nodes": nodes, "inits": inits}
