"""hcc report DIR and hcc analyze --format html: what they write, what they refuse, and names
that would be markup shown as text."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from hcc.cli import main

TINY_MLP = Path(__file__).resolve().parents[2] / "specs" / "models" / "tiny_mlp.onnx"

# A class segment and a module path a hostile (or merely odd) model could carry.
ODD_CLASS = 'Block<svg onload="window.pwned=1">\'&\x1b'  # no "/": that separates tag levels
ODD_PATH = 'blocks.<img src=x onerror="window.pwned=2">\u2028é'


def _odd_model(path: Path) -> None:
    weight = numpy_helper.from_array(np.ones((4, 4), np.float32), "w</td><td>")
    node = helper.make_node("MatMul", ["x", weight.name], ["y"], name="mm")
    for key, value in (("hcc.tag", f"/Toy/{ODD_CLASS}"), ("hcc.module", ODD_PATH)):
        entry = node.metadata_props.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph(
        [node],
        "odd",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 10
    onnx.save(model, path)


def test_odd_names_are_shown_as_text_not_run_as_markup(tmp_path, browser, capsys):
    model = tmp_path / "odd.onnx"
    _odd_model(model)
    page = tmp_path / "odd.html"
    assert main(["analyze", str(model), "--format", "html", "-o", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert "<svg onload" not in text and "<img" not in text and "\x1b" not in text
    assert browser.open(page).errors == []
    assert browser.evaluate("window.pwned === undefined")
    names = browser.evaluate(
        "Array.from(document.querySelectorAll('#tree .name')).map(e => e.textContent)"
    )
    shown_class = ODD_CLASS.replace("\x1b", "\\x1b")
    shown_path = ODD_PATH.replace("\u2028", "\\u2028")
    assert f"{shown_class} {shown_path}" in names


def test_analyze_html_shows_the_tree_of_any_model(tmp_path, capsys):
    assert main(["analyze", str(TINY_MLP), "--format", "html"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("<!DOCTYPE html>") and out.count("<li ") == 3
    assert "MLPBlock.1" in out and 'id="pieces"' not in out


def test_analyze_html_refuses_a_second_model_or_a_filter(capsys):
    assert main(["analyze", str(TINY_MLP), str(TINY_MLP), "--format", "html"]) == 2
    assert main(["analyze", str(TINY_MLP), "--format", "html", "--filter-tag", "x"]) == 2
    err = capsys.readouterr().err
    assert err.count("hcc: error: --format html shows one whole model") == 2


def test_report_of_a_plain_folder_and_its_refusals(tmp_path, capsys):
    folder = tmp_path / "build"
    folder.mkdir()
    assert main(["report", str(folder)]) == 2
    assert "holds no .onnx model and no manifest.json" in capsys.readouterr().err
    shutil.copy(TINY_MLP, folder / "mlp.onnx")
    assert main(["report", str(folder)]) == 0
    page = (folder / "report.html").read_text()
    assert "TinyMLP" in page and 'id="pipeline"' not in page  # no build record: no passes
    # The page may not replace what it is drawn from.
    assert main(["report", str(folder), "-o", str(folder / "mlp.onnx")]) == 2
    assert "refusing to write" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert main(["report", str(folder / "mlp.onnx")]) == 2
    err = capsys.readouterr().err
    assert "no such folder" in err and "not a folder" in err
    shutil.copy(TINY_MLP, folder / "other.onnx")
    assert main(["report", str(folder)]) == 2
    assert "holds 2 models" in capsys.readouterr().err


def test_report_survives_a_damaged_record_and_refuses_a_damaged_manifest(tmp_path, capsys):
    folder = tmp_path / "build"
    folder.mkdir()
    shutil.copy(TINY_MLP, folder / "mlp.onnx")
    (folder / "mlp.build.json").write_text("{not json")
    assert main(["report", str(folder)]) == 0  # the record only adds sections
    (folder / "mlp.build.json").write_text(json.dumps({"format": "hcc.build/1", "pipeline": 3}))
    assert main(["report", str(folder)]) == 0
    (folder / "manifest.json").write_text(json.dumps({"format": "hcc.pieces/1", "pieces": 1}))
    assert main(["report", str(folder)]) == 2
    assert "damaged manifest" in capsys.readouterr().err
    (folder / "manifest.json").write_text("[]")
    assert main(["report", str(folder)]) == 2
    assert "not an hcc manifest" in capsys.readouterr().err


def test_deviations_over_the_tolerance_and_nan_are_shown_as_failures(tmp_path):
    from hcc.report import report_folder

    folder = tmp_path / "build"
    folder.mkdir()
    shutil.copy(TINY_MLP, folder / "mlp.onnx")

    def deviation(name, max_abs, problem=""):
        return {"name": name, "max_abs": max_abs, "problem": problem}

    record = {
        "format": "hcc.build/1",
        "model": "mlp",
        "pipeline": [],
        "validation": {
            "tolerance": 1e-3,
            "torch_tolerance": 1e-4,
            "pieces": [deviation("y", 0.5), deviation("z", "nan"), deviation("w", 0.0)],
            "boundaries": [{"piece": "B.0", "output": "h", "deviation": deviation("h", 1e-9)}],
            "torch": None,
        },
    }
    (folder / "mlp.build.json").write_text(json.dumps(record))
    page = report_folder(str(folder))
    assert "2 deviations over the tolerance: the build failed its validation." in page
    assert page.count('class="num bad"') == 2 and 'class="num ok">0<' in page
    record["validation"]["pieces"] = [deviation("y", 1e-3)]
    (folder / "mlp.build.json").write_text(json.dumps(record))
    assert "Every deviation is within its tolerance." in report_folder(str(folder))


def test_a_model_without_scopes_says_it_has_no_tree(tmp_path, capsys):
    proto = onnx.load(str(TINY_MLP))
    for node in proto.graph.node:
        del node.metadata_props[:]
    del proto.metadata_props[:]
    model = tmp_path / "plain.onnx"
    onnx.save(proto, str(model))
    assert main(["analyze", str(model), "--format", "html"]) == 0
    assert "No node carries a module scope" in capsys.readouterr().out


def test_a_build_that_fails_validation_still_writes_its_page(tmp_path, monkeypatch):
    import hcc
    import hcc.ir as ir
    import hcc.validate
    from hcc.deviation import deviation

    def off_by_half(manifest, whole, **options):
        return [deviation("y", np.zeros(2), np.full(2, 0.5))]

    monkeypatch.setattr(hcc.validate, "validate_pieces", off_by_half)
    out = tmp_path / "out"
    spec = (
        f'model mlp from onnx "{TINY_MLP}"\n'
        'pipeline {\n  split(by = "*/MLPBlock.*")\n}\n'
        f'output "{out}" {{\n  reports = [html]\n  validate = true\n}}\n'
    )
    try:
        hcc.build(spec)
    except ir.HccError as error:
        assert "validation failed: output 'y' deviates by 0.5" in str(error)
    else:
        raise AssertionError("the build passed its validation")
    page = (out / "report.html").read_text()
    assert "1 deviation over the tolerance: the build failed its validation." in page
