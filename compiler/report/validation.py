"""The validation section of the report page: deviations per model output and per piece
boundary, against the whole model and against torch, with their tolerances.

Deviations come from the build record as :meth:`hcc.deviation.Deviation.as_dict` wrote them; a
record is read, not trusted: a value that is missing or not a number counts as a failure, never
as a pass.
"""

from __future__ import annotations

import math

from .charts import deviation_chart
from .gather import Report
from .text import escape


def validation_section(report: Report) -> str:
    if report.validation is None:
        # A KV-cache build is checked by running its pieces (hcc.llm.runtime), not here.
        if (report.pieces or report.pipeline is not None) and report.interface is None:
            return (
                '<p class="note">Not validated: build with <code>validate = true</code> in the '
                "spec's output section to see deviations here.</p>"
            )
        return ""
    v = report.validation
    tolerance = number(v.get("tolerance"))
    torch_tolerance = number(v.get("torch_tolerance"))
    torch = v.get("torch") or {}
    lines = []
    if v.get("pieces"):
        lines.append(f"pieces chained against the whole model: tolerance {tolerance:g}")
    if torch:
        lines.append(f"ONNX against the torch module: tolerance {torch_tolerance:g}")
    parts = [f'<p class="note">{escape("; ".join(lines))}.</p>']
    outputs: dict[str, dict] = {}
    for d in v.get("pieces") or []:
        outputs.setdefault(str(d.get("name")), {})["whole"] = d
    for d in torch.get("whole") or []:
        outputs.setdefault(str(d.get("name")), {})["torch"] = d
    if outputs:
        rows = "".join(
            f"<tr><td><code>{escape(name)}</code></td>"
            f"{_deviation_cell(pair.get('whole'), tolerance)}"
            f"{_deviation_cell(pair.get('torch'), torch_tolerance)}</tr>"
            for name, pair in outputs.items()
        )
        parts.append(
            '<h3>Per model output</h3><table id="output-deviations"><thead><tr><th>output</th>'
            "<th class=num>pieces vs whole model</th><th class=num>vs torch</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    boundaries = _boundaries(v.get("boundaries") or [], torch.get("pieces") or [])
    if boundaries:
        rows = "".join(
            f"<tr><td><code>{escape(piece)}</code></td><td><code>{escape(tensor)}</code></td>"
            f"<td>{_module_cell(pair['module']) if 'module' in pair else ''}</td>"
            f"{_deviation_cell(pair.get('whole'), tolerance)}"
            f"{_deviation_cell(pair.get('torch'), torch_tolerance)}</tr>"
            for (piece, tensor), pair in boundaries.items()
        )
        against = "torch" if torch else "whole"
        chart = deviation_chart(
            [
                _chart_row(f"{piece}: {tensor}", pair.get(against))
                for (piece, tensor), pair in boundaries.items()
            ],
            torch_tolerance if torch else tolerance,
            title=f"max abs deviation from {'torch' if torch else 'the whole model'} per "
            "piece boundary",
        )
        parts.append(
            "<h3>Per piece boundary</h3>"
            '<table id="boundary-deviations"><thead><tr><th>piece</th><th>boundary tensor</th>'
            "<th>torch module</th><th class=num>pieces vs whole model</th>"
            "<th class=num>vs torch</th></tr></thead>"
            f"<tbody>{rows}</tbody></table><p class=note>Chart: against "
            f"{'torch' if torch else 'the whole model'}, log scale; the dashed line is the "
            f'tolerance.</p><div id="deviation-chart">{chart}</div>'
        )
    elif outputs:
        chart = deviation_chart(
            [_chart_row(name, pair.get("whole")) for name, pair in outputs.items()],
            tolerance,
            title="max abs deviation of the chained pieces per output",
        )
        parts.append(f'<div id="deviation-chart">{chart}</div>')
    over = sum(
        _over(p.get("whole"), tolerance) + _over(p.get("torch"), torch_tolerance)
        for p in [*outputs.values(), *boundaries.values()]
    )
    verdict = (
        f'<p class="bad" id="validation-verdict">{over} deviation{"s" * (over != 1)} over the '
        "tolerance: the build failed its validation.</p>"
        if over
        else '<p class="ok" id="validation-verdict">Every deviation is within its tolerance.</p>'
    )
    return verdict + "".join(parts)


def _over(deviation: dict | None, tolerance: float) -> bool:
    if deviation is None:
        return False
    # Written so that NaN (a damaged record) counts as over.
    return bool(deviation.get("problem")) or not _max_abs(deviation) <= tolerance


def _max_abs(deviation: dict) -> float:
    """The recorded deviation; NaN when it is missing or not a number."""
    try:
        return float(deviation.get("max_abs"))
    except (TypeError, ValueError):
        return math.nan


def _boundaries(whole: list, torch: list) -> dict[tuple[str, str], dict]:
    """Each piece output with its deviation from the whole model and from torch (where either
    was measured), in piece order."""
    found: dict[tuple[str, str], dict] = {}
    for entry in whole:
        if isinstance(entry, dict):
            key = (str(entry.get("piece")), str(entry.get("output")))
            found.setdefault(key, {})["whole"] = entry.get("deviation")
    for entry in torch:
        if isinstance(entry, dict):
            key = (str(entry.get("piece")), str(entry.get("output")))
            pair = found.setdefault(key, {})
            pair["torch"], pair["module"] = entry.get("deviation"), entry.get("module")
    return found


def number(value) -> float:
    """A recorded number; 0 when it is missing or not finite (tolerances, times)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0


def _chart_row(label: str, deviation: dict | None) -> tuple[str, float | None, str]:
    if deviation is None:
        return label, None, ""
    value = _max_abs(deviation)
    problem = str(deviation.get("problem") or ("" if math.isfinite(value) else f"max abs {value}"))
    return label, value, problem


def _deviation_cell(deviation: dict | None, tolerance: float) -> str:
    if deviation is None:
        return '<td class="num note">-</td>'
    problem = deviation.get("problem")
    if problem:
        return f'<td class="num bad">{escape(problem)}</td>'
    value = _max_abs(deviation)
    kind = "bad" if _over(deviation, tolerance) else "ok"
    return f'<td class="num {kind}">{value:.3g}</td>'


def _module_cell(module) -> str:
    if module is None:
        return '<span class="note">no module returns it (not compared)</span>'
    return f"<code>{escape(module or '(root)')}</code>"
