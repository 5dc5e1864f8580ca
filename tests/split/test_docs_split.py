"""docs/split.md's Python example runs as written (on a small LLaMA instead of GPT-2)."""

from __future__ import annotations

import re
from pathlib import Path

import hcc.ir as ir

PAGE = Path(__file__).resolve().parents[2] / "docs" / "split.md"


def test_the_python_example_splits_writes_and_validates(llama, tmp_path, monkeypatch):
    (block,) = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)
    ir.save(llama.model, str(tmp_path / "gpt2.onnx"), external_data="gpt2.onnx.data")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, str(PAGE), "exec"), namespace)
    assert (tmp_path / "pieces" / "manifest.json").exists()
    assert [d.max_abs for d in namespace["validate_pieces"]("pieces")] == [0.0]
