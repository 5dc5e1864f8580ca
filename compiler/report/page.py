"""The report as one HTML page: inline style, script and SVG, nothing fetched.

Sections, each left out when the build has nothing for it: the module tree, the pieces, the
validation, the pass pipeline and the KV-cache interface. Every piece of text from the model or
the build passes through :func:`.text.escape`.
"""

from __future__ import annotations

from .assets import SCRIPT, STYLE
from .charts import bar_chart
from .gather import Module, Report
from .text import escape, human_bytes, human_count, shape_text
from .validation import number, validation_section

OPEN_DEPTH = 2  # tree levels shown open when the page loads
DTYPE_COLOURS = {
    "float": "f32",
    "double": "f32",
    "float16": "f16",
    "bfloat16": "bf16",
    "int8": "int8",
    "uint8": "int8",
    "int4": "int4",
    "uint4": "int4",
}


def render(report: Report) -> str:
    sections = [
        ("tree", "Module tree", _tree(report)),
        ("pieces", "Pieces", _pieces(report)),
        ("validation", "Validation", validation_section(report)),
        ("pipeline", "Pass pipeline", _pipeline(report)),
        ("interface", "KV-cache interface", _interface(report)),
    ]
    sections = [s for s in sections if s[2]]
    nav = "".join(f'<a href="#{key}">{title}</a>' for key, title, _ in sections)
    body = "".join(
        f'<section id="{key}"><h2>{title}</h2>{html}</section>' for key, title, html in sections
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # No request leaves the page: a report opened from disk must not phone anywhere.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
        f"<title>hcc build report: {escape(report.title)}</title>"
        f"<style>{STYLE}</style></head><body>"
        f"<h1>hcc build report: {escape(report.title)}</h1>{_facts(report)}{_totals(report)}"
        f"<nav>{nav}</nav>{_warnings(report)}{body}"
        f"<script>{SCRIPT}</script></body></html>\n"
    )


def _facts(report: Report) -> str:
    items = "".join(f"<li>{escape(k)}: <b>{escape(v)}</b></li>" for k, v in report.facts)
    return f'<ul class="facts">{items}</ul>'


def _totals(report: Report) -> str:
    t = report.totals
    if not t:
        return ""
    cells = [
        ("nodes", str(t["nodes"])),
        ("tagged", f"{t['tagged'] / t['nodes']:.1%}" if t["nodes"] else "-"),
        ("parameters", human_count(t["parameters"])),
        ("weights", human_bytes(t["bytes"])),
    ]
    if report.pieces:
        cells.append(("pieces", str(len(report.pieces))))
    if report.pipeline:
        cells.append(("pass time", _ms(sum(p.get("seconds") or 0 for p in report.pipeline))))
    return (
        '<div class="totals">'
        + "".join(f"<div>{escape(label)}<b>{escape(value)}</b></div>" for label, value in cells)
        + "</div>"
    )


def _warnings(report: Report) -> str:
    if not report.warnings:
        return ""
    items = "".join(f"<li>{escape(w)}</li>" for w in report.warnings)
    return f'<ul class="note">{items}</ul>'


# -- the module tree ---------------------------------------------------------------------------


def _tree(report: Report) -> str:
    if not report.tree:
        if report.totals.get("nodes"):
            return (
                '<p class="note">No node carries a module scope (an ONNX file not exported by '
                "hcc): there is no module tree to show. <code>hcc export</code> records "
                "one.</p>"
            )
        return ""
    note = f'<p class="note">{escape(report.tree_note)}</p>' if report.tree_note else ""
    head = (
        '<div class="leaf head"><span>module</span><span class="num">nodes</span>'
        '<span class="num">params</span><span class="num">weights</span>'
        "<span>weight types</span></div>"
    )
    items = "".join(_module(m, 0) for m in report.tree)
    return (
        f'{note}<input id="search" type="search" placeholder="search modules by name" '
        f'aria-label="search modules by name"> <span id="search-count" class="note"></span>'
        f"{head}<ul>{items}</ul>"
    ).join(['<div id="tree">', "</div>"])


def _module(module: Module, depth: int) -> str:
    search = f"{module.name} {module.path} {module.tag}".lower()
    path = f' <span class="path">{escape(module.path)}</span>' if module.path else ""
    row = (
        f'<span class="name" title="{escape(module.tag)}">{escape(module.name)}{path}</span>'
        f'<span class="num">{module.nodes}</span>'
        f'<span class="num" title="{module.parameters}">{human_count(module.parameters)}</span>'
        f'<span class="num">{human_bytes(module.bytes)}</span>{_mix(module.dtypes)}'
    )
    attrs = f'data-name="{escape(search)}"'
    if not module.children:
        return f'<li {attrs}><div class="leaf">{row}</div></li>'
    opened = " open" if depth < OPEN_DEPTH else ""
    children = "".join(_module(c, depth + 1) for c in module.children)
    return (
        f"<li {attrs}><details{opened}><summary>{row}</summary><ul>{children}</ul></details></li>"
    )


def _mix(dtypes: dict[str, int]) -> str:
    """A stacked bar of weight bytes per element type, named in its tooltip."""
    total = sum(dtypes.values())
    if not total:
        return '<span class="types"><span class="mix"></span>none</span>'
    ordered = sorted(dtypes.items(), key=lambda item: -item[1])
    title = ", ".join(f"{kind} {size / total:.0%}" for kind, size in ordered)
    spans = "".join(
        f'<span style="width:{100 * size / total:.2f}%;'
        f'background:var(--{DTYPE_COLOURS.get(kind, "other")})"></span>'
        for kind, size in ordered
    )
    names = ", ".join(kind for kind, _ in ordered)
    return (
        f'<span class="types" title="{escape(title)}"><span class="mix">{spans}</span>'
        f"{escape(names)}</span>"
    )


# -- pieces ------------------------------------------------------------------------------------


def _pieces(report: Report) -> str:
    if not report.pieces:
        return ""
    rows = []
    for index, piece in enumerate(report.pieces):
        rows.append(
            f"<tr><td class=num>{index}</td><td><code>{escape(piece.name)}</code><br>"
            f'<span class="note">{escape(piece.file)}</span></td>'
            f"<td class=num>{'' if piece.nodes is None else piece.nodes}</td>"
            f"<td class=num>{'' if piece.copied is None else piece.copied}</td>"
            f"<td class=num>{human_count(piece.parameters)}</td>"
            f"<td class=num>{human_bytes(piece.bytes)}</td>"
            f"<td>{_values(piece.inputs)}</td><td>{_values(piece.outputs)}</td></tr>"
        )
    chart = bar_chart(
        [(p.name, p.bytes) for p in report.pieces],
        human_bytes,
        title="weight bytes per piece",
    )
    note = f'<p class="note">{escape(report.pieces_note)}</p>' if report.pieces_note else ""
    return (
        '<table id="piece-table"><thead><tr><th class=num>#</th><th>piece</th>'
        "<th class=num>nodes</th><th class=num>copied helpers</th><th class=num>params</th>"
        "<th class=num>weights</th><th>inputs</th><th>outputs</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{note}"
        f'<h3>Weight bytes per piece</h3><div id="piece-chart">{chart}</div>'
    )


def _values(values: list[dict]) -> str:
    return "<br>".join(
        f"<code>{escape(v.get('name', ''))}</code> {escape(shape_text(v))}" for v in values
    )


# -- the pass pipeline -------------------------------------------------------------------------


def _pipeline(report: Report) -> str:
    if report.pipeline is None:
        return ""
    if not report.pipeline:
        return '<p class="note">No passes ran.</p>'
    longest = max(number(p.get("seconds")) for p in report.pipeline) or 1.0
    rows = []
    for index, p in enumerate(report.pipeline, 1):
        seconds = number(p.get("seconds"))
        before, after = p.get("nodes_before"), p.get("nodes_after")
        nodes = f"{before} → {after}" if before is not None else ""
        rows.append(
            f"<tr><td class=num>{index}</td><td><code>{escape(p.get('name', ''))}</code></td>"
            f"<td class=num>{_ms(seconds)}</td>"
            f'<td><span class="timebar" style="width:{120 * seconds / longest:.0f}px"></span></td>'
            f"<td>{'yes' if p.get('changed') else 'no'}</td><td class=num>{escape(nodes)}</td>"
            f"<td>{escape(p.get('ops') or '')}</td></tr>"
        )
    return (
        '<table id="pass-table"><thead><tr><th class=num>#</th><th>pass</th><th class=num>time'
        "</th><th></th><th>changed</th><th class=num>nodes before → after</th>"
        f"<th>ops added / removed</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


# -- KV-cache interface ------------------------------------------------------------------------


def _interface(report: Report) -> str:
    interface = report.interface
    if not interface:
        return ""
    facts = "".join(f"<li>{escape(k)}: <b>{escape(v)}</b></li>" for k, v in interface["facts"])
    rows = []
    for name, entry in interface["pieces"].items():
        for direction in ("inputs", "outputs"):
            for value in entry.get(direction) or []:
                if not isinstance(value, dict):
                    continue
                rows.append(
                    f"<tr><td><code>{escape(name)}</code></td><td>{direction[:-1]}</td>"
                    f"<td><code>{escape(value.get('name', ''))}</code></td>"
                    f"<td>{escape(value.get('dtype', ''))}</td>"
                    f"<td>{escape(shape_text(value).partition('[')[2][:-1])}</td></tr>"
                )
    layout = interface.get("layout")
    note = (
        f'<p class="note">Cache tensors are laid out {escape(layout)} '
        "(b batch, h kv heads, s positions, d head dim).</p>"
        if layout
        else ""
    )
    return (
        f'<ul class="facts">{facts}</ul>{note}<table id="interface-table"><thead><tr>'
        "<th>piece</th><th></th><th>name</th><th>dtype</th><th>shape</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
