"""hcc has no model-specific code: no string in compiler/, passes/ or ir/ names a model class.

The class names are every ``class X(...)`` that transformers' modeling files define (models,
their layers, attention and embedding modules: ``LlamaDecoderLayer``, ``GPT2Block``), read from
the installed sources without importing them. Docstrings may cite them as examples; any other
string literal that does is code written for one architecture. transformers' ``Auto*`` classes
are the generic task entry points, not architectures.
"""

from __future__ import annotations

import ast
import os
import re
from functools import cache

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECKED = ("compiler", "passes", "ir")
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@cache
def model_classes() -> frozenset[str]:
    transformers = pytest.importorskip("transformers")
    models = os.path.join(os.path.dirname(transformers.__file__), "models")
    names: set[str] = set()
    for folder, _, files in os.walk(models):
        if os.path.basename(folder) == "auto":
            continue
        for name in files:
            if name.startswith("modeling_") and name.endswith(".py"):
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    names.update(re.findall(r"^class (\w+)\(", f.read(), re.M))
    return frozenset(names)


def model_names_in(path: str, classes: frozenset[str]) -> list[str]:
    """``path:line: Name`` for each non-docstring string literal naming one of ``classes``."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) in docstrings:
                continue
            found += [
                f"{path}:{node.lineno}: {word}"
                for word in WORD.findall(node.value)
                if word in classes
            ]
    return found


def test_no_string_in_the_compiler_names_a_model_class():
    classes = model_classes()
    assert {"LlamaDecoderLayer", "GPT2Block", "BertModel"} <= classes
    found = []
    for top in CHECKED:
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            found += [
                hit
                for name in sorted(files)
                if name.endswith(".py")
                for hit in model_names_in(os.path.join(folder, name), classes)
            ]
    assert found == []


def test_the_scan_finds_a_model_class_in_code_but_not_in_a_docstring(tmp_path):
    source = tmp_path / "planted.py"
    source.write_text(
        '"""Blocks such as GPT2Block are found by pattern."""\n'
        "def layers(model):\n"
        '    """Not LlamaDecoderLayer-specific."""\n'
        '    return [m for m in model if type(m).__name__ == "LlamaDecoderLayer"]\n'
    )
    assert model_names_in(str(source), model_classes()) == [f"{source}:4: LlamaDecoderLayer"]
