"""The build report of the bundled specs, opened in headless Chromium: the tree, the pieces, the
chart and the deviations are on the page, the search works, and nothing went wrong in the
browser's console."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import hcc
from hcc.cli import main

SPECS = Path(__file__).resolve().parents[2] / "specs"

# What the page shows, read back through the DOM.
CONTENTS = """(() => {
  const count = (selector) => document.querySelectorAll(selector).length;
  return {
    modules: count('#tree li'),
    open_modules: count('#tree li:not(.hidden)'),
    tree_names: Array.from(document.querySelectorAll('#tree li > details > summary .name, #tree li > .leaf .name')).map(e => e.textContent),
    piece_rows: count('#piece-table tbody tr'),
    piece_bars: count('#piece-chart svg rect'),
    output_rows: count('#output-deviations tbody tr'),
    boundary_rows: count('#boundary-deviations tbody tr'),
    boundary_vs_whole: Array.from(document.querySelectorAll('#boundary-deviations tbody tr')).map(tr => tr.cells[3].textContent),
    tolerance_lines: count('#deviation-chart svg line.tolerance'),
    pass_rows: count('#pass-table tbody tr'),
    interface_rows: count('#interface-table tbody tr'),
    external: count('link[href], script[src], img[src^="http"], iframe'),
  };
})()"""

SEARCH = """((query) => {
  const input = document.getElementById('search');
  input.value = query;
  input.dispatchEvent(new Event('input'));
  const shown = Array.from(document.querySelectorAll('#tree li.match'));
  return {matches: shown.map(li => li.querySelector('.name').textContent),
          hidden: document.querySelectorAll('#tree li.hidden').length};
})"""


def test_gpt2_layer_spec_report_shows_tree_pieces_chart_and_deviations(
    gpt2_build, browser, screenshot
):
    folder, result = gpt2_build
    page = folder / "report.html"
    assert str(page) in result.outputs and str(folder / "gpt2.build.json") in result.outputs
    loaded = browser.open(page)
    assert loaded.errors == []
    png = screenshot("build-report.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    seen = browser.evaluate(CONTENTS)
    # GPT2LMHeadModel, GPT2Model, and 8 modules per block (block, attention and its 2 Conv1D,
    # MLP and its 2 Conv1D and activation) in each of the 2 layers.
    assert seen["modules"] == 2 + 2 * 8
    assert "GPT2Block.1 transformer.h.1" in seen["tree_names"]
    assert seen["piece_rows"] == seen["piece_bars"] == 2
    assert seen["output_rows"] == 1  # linear: pieces against the whole model and against torch
    assert seen["boundary_rows"] == 2 and seen["tolerance_lines"] == 1
    # add_299 crosses the cut and matches the whole model; linear is the model's output.
    assert seen["boundary_vs_whole"] == ["0", "-"]
    assert seen["pass_rows"] == 3  # remove-dead-code, split, internalize-constants
    assert seen["external"] == 0
    found = browser.evaluate(f"{SEARCH}('c_attn')")
    assert found["matches"] == ["Conv1D transformer.h.0.attn.c_attn"] + [
        "Conv1D transformer.h.1.attn.c_attn"
    ]
    assert found["hidden"] > 0
    assert browser.evaluate(f"{SEARCH}('')")["hidden"] == 0
    assert browser.errors() == []


def test_hcc_report_redraws_the_page_the_build_wrote(gpt2_build, tmp_path, capsys):
    folder, _ = gpt2_build
    again = tmp_path / "again.html"
    assert main(["report", str(folder), "-o", str(again)]) == 0
    assert again.read_text() == (folder / "report.html").read_text()
    record = json.loads((folder / "gpt2.build.json").read_text())
    assert [p["name"] for p in record["pipeline"]] == [
        "remove-dead-code",
        "split",
        "internalize-constants",
    ]
    assert record["validation"]["pieces"][0]["max_abs"] == 0.0


@pytest.mark.slow
def test_kv_cache_spec_report_shows_its_interface(tmp_path, browser, screenshot):
    folder = tmp_path / "llama"
    hcc.build(str(SPECS / "llama-kv-cache.hx"), {"max_len": "16"}, output_dir=str(folder))
    assert main(["report", str(folder)]) == 0
    loaded = browser.open(folder / "report.html")
    assert loaded.errors == []
    screenshot("kv-cache-report.png", full_page=True)
    seen = browser.evaluate(CONTENTS)
    manifest = json.loads((folder / "manifest.json").read_text())
    pieces = manifest["pieces"]
    assert seen["piece_rows"] == seen["piece_bars"] == len(pieces) == 6
    assert seen["interface_rows"] == sum(
        len(p["inputs"]) + len(p["outputs"]) for p in pieces.values()
    )
    assert "LlamaDecoderLayer.1 model.layers.1" in seen["tree_names"]
    assert seen["pass_rows"] == 0 and seen["external"] == 0


@pytest.mark.slow
def test_twelve_layer_gpt2_page_is_small_and_opens_cleanly(tmp_path, browser):
    folder = tmp_path / "gpt2-12"
    hcc.build(str(SPECS / "gpt2-layers.hx"), {"layers": "12"}, output_dir=str(folder))
    page = folder / "report.html"
    assert page.stat().st_size < 2 * 1024 * 1024
    loaded = browser.open(page)
    assert loaded.errors == []
    seen = browser.evaluate(CONTENTS)
    assert seen["modules"] == 2 + 12 * 8
    assert seen["piece_rows"] == seen["piece_bars"] == seen["boundary_rows"] == 12
    assert seen["boundary_vs_whole"] == ["0"] * 11 + ["-"]
    # How long it takes to show is measured by benchmarks/report_page.py, not asserted here.
