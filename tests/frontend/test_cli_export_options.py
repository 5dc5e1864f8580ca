"""``hcc export`` options a deployment needs (seed 002's command line): example shapes, an
opset and IR version that the file really has, the extra files, and how much it says."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from hcc.cli import main
from hcc.frontend import sources
from hcc.frontend.load import ModelSource, load_module
from hcc.frontend.sources import SourceError
from hcc.spec.resolve import load_spec_text

TINY = dict(
    num_hidden_layers=1, hidden_size=32, num_attention_heads=2, intermediate_size=64, vocab_size=100
)
SET = [arg for key, value in TINY.items() for arg in ("--set", f"{key}={value}")]


@pytest.fixture(scope="module")
def opset14(tmp_path_factory):
    """One export at opset 14 with every extra file and -v (the export costs seconds)."""
    folder = tmp_path_factory.mktemp("export-options")
    out = folder / "bert.onnx"
    capture = pytest.MonkeyPatch()
    import io
    import sys

    stdout, stderr = io.StringIO(), io.StringIO()
    capture.setattr(sys, "stdout", stdout)
    capture.setattr(sys, "stderr", stderr)
    try:
        code = main(
            [
                "export",
                "bert",
                str(out),
                *SET,
                "--opset",
                "14",
                "--with-report",
                "--with-graphml",
                "--hierarchy-json",
                "-v",
            ]
        )
    finally:
        capture.undo()
    return code, out, stdout.getvalue(), stderr.getvalue()


def test_opset_14_is_really_opset_14_and_passes_the_full_checker(opset14):
    code, out, _, _ = opset14
    assert code == 0
    proto = onnx.load(str(out))
    assert {o.domain: o.version for o in proto.opset_import}[""] == 14
    onnx.checker.check_model(str(out), full_check=True)
    tags = [{p.key: p.value for p in n.metadata_props}.get("hcc.tag") for n in proto.graph.node]
    assert None not in tags  # lowering kept every scope


def test_opset_14_model_equals_torch(opset14):
    _, out, _, _ = opset14
    module = sources.from_config("bert", TINY, seed=0)
    ids = np.random.default_rng(1).integers(0, 100, (3, 9)).astype(np.int64)
    mask = np.ones_like(ids)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    with torch.no_grad():
        want = module(
            input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)
        ).last_hidden_state.numpy()
    assert np.max(np.abs(got - want)) <= 1e-5


def test_extra_files_go_beside_the_model_named_after_it(opset14):
    _, out, stdout, stderr = opset14
    folder = out.parent
    tree = json.loads((folder / "bert.hierarchy.json").read_text())
    assert tree["class"] == "BertModel" and tree["children"]
    assert (folder / "bert.graphml").exists() and (folder / "bert.onnxdata").exists()
    report = (folder / "bert.report.md").read_text()
    assert "opset 14 (asked for)" in report and "BertSelfAttention" in report
    # -v lists every file written and times each step on stderr.
    assert stdout.splitlines()[0].startswith(f"wrote {out} (") and "opset 14, IR 10" in stdout
    for name in ("bert.hierarchy.json", "bert.graphml", "bert.onnxdata", "bert.report.md"):
        assert f"wrote {folder / name}\n" in stdout
    assert "exporting bert " in stderr and " s\n" in stderr


def test_an_onnx_file_is_lowered_to_the_opset_asked(opset14, tmp_path, capsys):
    _, out, _, _ = opset14
    lower = tmp_path / "lower.onnx"
    assert main(["export", str(out), str(lower), "--opset-version", "13", "-q"]) == 0
    assert capsys.readouterr().out == ""  # -q: nothing on success
    assert {o.domain: o.version for o in onnx.load(str(lower)).opset_import}[""] == 13
    onnx.checker.check_model(str(lower), full_check=True)


def test_an_opset_above_the_models_is_refused(opset14, tmp_path, capsys):
    _, out, _, _ = opset14
    assert main(["export", str(out), "-o", str(tmp_path / "x.onnx"), "--opset", "17"]) == 2
    assert "lowers opsets, never raises them" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


def test_an_unreachable_opset_is_refused_before_exporting(tmp_path, capsys):
    assert main(["export", "bert", str(tmp_path / "x.onnx"), *SET, "--opset", "12"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "opset 12 is out of reach" in err
    assert "lowers to opset 13 at the lowest" in err
    assert not list(tmp_path.iterdir())


def test_ir_version_below_10_is_written_with_a_warning(opset14, tmp_path, capsys):
    _, out, _, _ = opset14
    target = tmp_path / "ir9.onnx"
    assert main(["export", str(out), str(target), "--ir-version", "9"]) == 0
    assert onnx.load(str(target)).ir_version == 9
    assert "IR version 9 has no node metadata" in capsys.readouterr().err


def test_ir_version_cannot_be_raised(opset14, tmp_path, capsys):
    _, out, _, _ = opset14
    assert main(["export", str(out), str(tmp_path / "x.onnx"), "--ir-version", "11"]) == 2
    assert "never raises them" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["a.onnx", "-o", "b.onnx"], "two outputs given"),
        ([], "no output: hcc export SOURCE OUT.onnx"),
        (["x.onnx", "--input-shape", "2xa"], "a shape is sizes joined by 'x' or ','"),
        (["x.onnx", "--input-shape", "0x4"], "sizes are from 1 to"),
        (["x.onnx", "--input-shape", "x=65536x65536"], "values in one example input; at most"),
        (["x.onnx", "--input-shape", "2x3x4"], "without a name the shape is BATCHxSEQ"),
        (["x.onnx", "--input-shape", "2x8", "--batch", "2"], "say the same; give one"),
        (["x.onnx", "--input-shape", "a b=2x3"], "is not an input name"),
        (["x.onnx", "-v", "-q"], "not allowed with argument"),
    ],
)
def test_bad_export_options_are_one_error(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["export", "bert", *argv]) == 2
    assert message in capsys.readouterr().err


def test_named_input_shapes_size_the_example_inputs():
    source = ModelSource(
        "config", "bert", TINY, shapes={"input_ids": [3, 8], "attention_mask": [3, 8]}
    )
    loaded = load_module(source)
    assert tuple(loaded.kwargs["input_ids"].shape) == (3, 8)
    assert set(loaded.dynamic_shapes["input_ids"]) == {0, 1}  # still dynamic


def test_batch_and_seq_shorthand_and_a_batch_of_one_fixed():
    loaded = load_module(ModelSource("config", "bert", TINY, batch=1, seq=12))
    assert tuple(loaded.kwargs["input_ids"].shape) == (1, 12)
    # The exporter cannot keep a size-1 axis dynamic: batch is fixed, seq stays dynamic.
    assert set(loaded.dynamic_shapes["input_ids"]) == {1}


def test_a_shape_of_the_wrong_rank_names_the_inputs_dimensions():
    with pytest.raises(SourceError, match=r"'input_ids' has 2 dimensions \(batchxseq\), not 3"):
        load_module(ModelSource("config", "bert", TINY, shapes={"input_ids": [2, 3, 4]}))


def test_spec_export_section_takes_opset_and_ir_version():
    spec = load_spec_text('model m from config "bert"\nexport { opset = 14  ir_version = 9 }\n')
    assert (spec.export.opset, spec.export.ir_version) == (14, 9)
