"""The build report (``reports = [report]``): a Markdown page about one ``hcc build``.

It lists the source and export settings, every pass with its time and what it changed (node
count, op types added or removed, untagged nodes), the resulting model's tag coverage and
largest modules, the pieces of a split with their boundaries, the validation deviations and
the files written. :class:`ChangeLog` is the pass-manager instrument that records the changes.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass

from hcc.ir import Model
from hcc.passes import Instrument

from ._common import human_bytes, scope_label
from .analyze import analyze


@dataclass(frozen=True)
class Census:
    nodes: int
    initializers: int
    untagged: int
    ops: Counter

    @classmethod
    def of(cls, model: Model) -> Census:
        graph = model.graph
        return cls(
            len(graph),
            len(graph.initializers),
            sum(1 for n in graph if n.scope.is_unknown),
            Counter(n.op_type for n in graph),
        )


@dataclass(frozen=True)
class PassChange:
    name: str
    before: Census
    after: Census

    def op_delta(self) -> str:
        delta = Counter(self.after.ops)
        delta.subtract(self.before.ops)
        parts = [
            f"{'+' if n > 0 else '-'}{abs(n)} {op}"
            for op, n in sorted(delta.items(), key=lambda item: (-abs(item[1]), item[0]))
            if n
        ]
        return ", ".join(parts[:6]) + (" ..." if len(parts) > 6 else "")


class ChangeLog(Instrument):
    """Counts nodes, initializers, untagged nodes and op types around every pass.

    Put it before ``Timings`` in the instrument list, so its counting is not timed.
    """

    def __init__(self) -> None:
        self.records: list[PassChange] = []
        self._before: Census | None = None

    def before_pass(self, pass_, model: Model) -> None:
        self._before = Census.of(model)

    def after_pass(self, pass_, result) -> None:
        before = self._before if self._before is not None else Census.of(result.model)
        self.records.append(PassChange(pass_.info().name, before, Census.of(result.model)))
        self._before = None


def build_report(
    spec, model: Model, *, timings=(), changes=(), outputs=(), deviations=(), torch=None
) -> str:
    """The Markdown text; ``spec`` is the resolved BuildSpec, the rest what the build made."""
    out = spec.output
    lines = [f"# Build report: {out.name}", ""]
    lines += _settings(spec)
    lines += _pipeline(spec, list(timings), list(changes))
    lines += _result(model)
    lines += _pieces(os.path.join(out.directory, "manifest.json"), outputs)
    lines += _validation(list(deviations), out.tolerance)
    lines += _torch_validation(torch, getattr(out, "torch_tolerance", 0.0))
    if outputs:
        lines += ["## Files", ""]
        lines += [f"- `{os.path.relpath(p, out.directory)}`" for p in outputs]
        lines.append("")
    return "\n".join(lines)


def _settings(spec) -> list[str]:
    source = spec.source
    lines = [f"- spec: `{spec.path}`" if spec.path else "- spec: (text)"]
    if len(spec.files) > 1:
        lines.append(f"- includes: {', '.join(f'`{f}`' for f in spec.files[1:])}")
    extra = f", task {source.task}, seed {source.seed}" if source.kind != "onnx" else ""
    lines.append(f"- model: {spec.model_name} from {source.kind} `{source.reference}`{extra}")
    if source.overrides:
        lines.append("- config: " + ", ".join(f"{k} = {v}" for k, v in source.overrides.items()))
    tagging = "recover-scopes, tag-auxiliary, propagate-tags" if spec.tagging else "off"
    if source.kind == "onnx":
        lines.append(f"- tagging on load: {tagging}")
    else:
        opset = spec.export.opset or "exporter's default"
        lines.append(f"- export: {spec.export.exporter}, opset {opset}; tagging: {tagging}")
    lines.append(f"- output: `{spec.output.directory}`")
    return lines + [""]


def _pipeline(spec, timings: list, changes: list[PassChange]) -> list[str]:
    lines = ["## Pipeline", ""]
    if not timings:
        return lines + ["No passes ran (empty pipeline).", ""]
    lines += [
        "| # | pass | ms | changed | nodes | ops added / removed | untagged |",
        "|---:|---|---:|---|---|---|---:|",
    ]
    for index, timing in enumerate(timings):
        change = changes[index] if index < len(changes) else None
        nodes = f"{change.before.nodes} → {change.after.nodes}" if change else ""
        delta = change.op_delta() if change else ""
        untagged = str(change.after.untagged) if change else ""
        lines.append(
            f"| {index + 1} | `{timing.name}` | {timing.seconds * 1e3:.2f} | "
            f"{'yes' if timing.changed else 'no'} | {nodes} | {delta} | {untagged} |"
        )
    total = sum(t.seconds for t in timings) * 1e3
    lines += ["", f"Total pass time: {total:.2f} ms.", ""]
    return lines


def _result(model: Model) -> list[str]:
    analysis = analyze(model)
    lines = ["## Model", ""]
    lines.append(
        f"- {analysis.nodes} nodes, {analysis.initializers} initializers "
        f"({human_bytes(analysis.parameter_bytes)})"
    )
    lines.append(
        f"- tag coverage: {analysis.tagged} of {analysis.nodes} nodes ({analysis.coverage:.1%})"
    )
    if analysis.has_hierarchy:
        holding = analysis.modules - len(analysis.modules_without_nodes)
        lines.append(f"- modules holding nodes: {holding} of {analysis.modules}")
        for label in analysis.modules_without_nodes[:10]:
            lines.append(f"  - no nodes: `{label}`")
    top = [s for s in analysis.scopes if s.scope.depth <= 2]
    if top:
        lines += ["", "| scope | nodes | own | weights |", "|---|---:|---:|---:|"]
        for s in top:
            indent = "&nbsp;&nbsp;" * s.scope.depth
            lines.append(
                f"| {indent}`{scope_label(s.scope)}` | {s.nodes} | {s.own_nodes} | "
                f"{human_bytes(s.parameter_bytes)} |"
            )
        deeper = len(analysis.scopes) - len(top)
        if deeper:
            lines.append("")
            lines.append(f"{deeper} deeper scopes not shown (`hcc analyze` lists them all).")
    return lines + [""]


def _pieces(manifest_path: str, outputs) -> list[str]:
    # Only a manifest this build wrote: an older one may lie in the same folder.
    if os.path.abspath(manifest_path) not in {os.path.abspath(p) for p in outputs}:
        return []
    try:
        with open(manifest_path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return []
    lines = [
        "## Pieces",
        "",
        "| # | piece | file | nodes | copied | inputs | outputs | scopes |",
        "|---:|---|---|---:|---:|---:|---:|---|",
    ]
    for index, entry in enumerate(manifest.get("pieces", [])):
        scopes = ", ".join(f"`{s}`" for s in entry.get("scopes", [])[:3])
        more = len(entry.get("scopes", [])) - 3
        scopes += f" +{more}" if more > 0 else ""
        lines.append(
            f"| {index} | {entry['name']} | `{entry['file']}` | {entry.get('nodes', '')} "
            f"| {entry.get('copied_nodes', 0)} | {len(entry.get('inputs', []))} | "
            f"{len(entry.get('outputs', []))} | {scopes} |"
        )
    return lines + [""]


def _torch_validation(torch, tolerance: float) -> list[str]:
    """The deviations from the torch module (hcc.torch_reference.TorchValidation)."""
    if torch is None:
        return []
    lines = [
        "## Validation against torch",
        "",
        f"The same inputs through the torch module and onnxruntime (tolerance {tolerance:g}):",
        "",
        "| what | output | torch module | max abs deviation |",
        "|---|---|---|---:|",
    ]
    lines += [f"| whole model | `{d.name}` | (root) | {d.describe()} |" for d in torch.whole]
    for check in torch.pieces:
        module = "not compared" if check.module is None else f"`{check.module or '(root)'}`"
        value = check.deviation.describe() if check.deviation is not None else ""
        lines.append(f"| piece {check.piece} | `{check.output}` | {module} | {value} |")
    return lines + [""]


def _validation(deviations: list, tolerance: float) -> list[str]:
    if not deviations:
        return []
    lines = [
        "## Validation",
        "",
        f"Pieces chained in onnxruntime against the whole model (tolerance {tolerance:g}):",
        "",
        "| output | max abs deviation |",
        "|---|---:|",
    ]
    lines += [f"| `{d.name}` | {d.max_abs:.3g} |" for d in deviations]
    return lines + [""]
