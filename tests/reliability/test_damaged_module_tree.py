"""A damaged ``hcc.hierarchy`` module tree is a finding for ``hcc validate`` and no reason for
a pass to fail: the tagging passes fall back to other sources; nothing crashes on it."""

from __future__ import annotations

import pytest
from onnx import helper

from hcc.cli import main
from hcc.passes._tag_rules import ModuleTreeError, parse_module_tree, scopes_by_module_path

from .conftest import tiny_model

DAMAGED = {
    "entry fields of the wrong type": '{"path": 5, "qualified_class": []}',
    "children a number": '{"path": "", "qualified_class": "a.B", "children": 7}',
    "a child a number": '{"path": "", "qualified_class": "a.B", "children": [5]}',
    "a list": "[]",
    "not JSON": "{",
    "nested too deeply": "[" * 100_000 + "]" * 100_000,
}


@pytest.mark.parametrize("text", DAMAGED.values(), ids=list(DAMAGED))
def test_a_damaged_tree_is_one_error_type(text):
    with pytest.raises(ModuleTreeError):
        parse_module_tree(text)


@pytest.mark.parametrize("text", DAMAGED.values(), ids=list(DAMAGED))
def test_passes_ignore_it_and_validate_reports_it(text, tmp_path, capsys):
    model = tiny_model()
    helper.set_model_props(model, {"hcc.hierarchy": text})
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    pipeline = "recover-scopes,propagate-tags,tag-attributes"
    assert main(["opt", str(path), "-o", str(tmp_path / "out.onnx"), "-p", pipeline]) == 0
    assert main(["validate", str(path)]) == 1
    assert "hcc.hierarchy" in capsys.readouterr().out


def test_a_tree_deeper_than_python_s_recursion_limit_is_walked():
    depth = 1500  # more levels than Python lets a recursive walk take
    tree = {"path": "", "qualified_class": "m.Root", "children": []}
    entry = tree
    for i in range(depth):
        child = {
            "path": f"{entry['path']}.c{i}".lstrip("."),
            "qualified_class": f"m.C{i}",
            "children": [],
        }
        entry["children"].append(child)
        entry = child
    scopes = scopes_by_module_path(tree)
    assert len(scopes) == depth + 1
