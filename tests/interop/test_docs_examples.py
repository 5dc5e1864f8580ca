"""docs/interop.md: its ```python blocks preceded by <!-- test --> run here, in order, in one
namespace, in a folder holding ``tagged.onnx`` (the BERT export), so the page cannot drift."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "interop.md"
BLOCK = re.compile(r"<!-- test -->\n```python\n(.*?)^```\n", re.S | re.M)


def test_the_examples_run(exported, tmp_path, monkeypatch):
    pytest.importorskip("onnx_ir")  # the page shows the onnx-ir adapter
    source = Path(exported("bert").path)
    shutil.copy(source, tmp_path / "tagged.onnx")
    shutil.copy(source.with_name(source.name + ".data"), tmp_path / (source.name + ".data"))
    monkeypatch.chdir(tmp_path)
    blocks = BLOCK.findall(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 4
    namespace: dict = {}
    for code in blocks:
        exec(compile(code, str(DOC), "exec"), namespace)
