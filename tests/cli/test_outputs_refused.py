"""No output may be an input: every command refuses, before any work, an output (or a file it
writes beside it) that is, or links to, a file it reads; and the files it does write are its
own (data named after the output, no guessable temporaries)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import hcc
from hcc.cli import main


def _weight(path: Path) -> np.ndarray:
    return numpy_helper.to_array(onnx.load(str(path)).graph.initializer[0])


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def _refused(capsys, folder: Path, *argv: str) -> str:
    before = _digests(folder)
    code = main(list(argv))
    _, err = capsys.readouterr()
    assert code == 2, err
    assert err.startswith("hcc: error: refusing to write"), err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert _digests(folder) == before  # nothing written, nothing replaced
    return err


@pytest.fixture
def model(tmp_path, matmul) -> Path:
    return matmul.save(tmp_path / "m.onnx", location="m.onnx.data")


# -- the output is the input -------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["analyze", "{m}", "-o", "{m}"],
        ["json", "dag", "{m}", "-o", "{m}"],
        ["json", "hierarchy", "{m}", "-o", "{data}"],
        ["compare", "{m}", "{m}", "--no-run", "-o", "{m}"],
        ["opt", "{m}", "-o", "{data}"],
        ["validate", "{m}", "--repair", "-o", "{data}"],
        ["combine", "{m}", "-o", "{data}"],
    ],
)
def test_an_output_that_is_an_input_or_its_data_is_refused(capsys, model, argv):
    data = model.parent / "m.onnx.data"
    argv = [a.format(m=model, data=data) for a in argv]
    _refused(capsys, model.parent, *argv)


def test_compare_refuses_to_write_over_its_second_model(capsys, tmp_path, model, matmul):
    other = matmul.save(tmp_path / "b" / "b.onnx", location="b.onnx.data", scale=2.0)
    _refused(capsys, other.parent, "compare", str(model), str(other), "--no-run", "-o", str(other))


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_an_output_linked_to_an_input_is_refused(capsys, model, link):
    data = model.parent / "m.onnx.data"
    out = model.parent / "report.txt"
    if link == "symlink":
        out.symlink_to(data)
    else:
        os.link(data, out)
    _refused(capsys, model.parent, "analyze", str(model), "-o", str(out))


def test_graphml_refuses_to_replace_the_data_file_of_its_input(capsys, tmp_path, matmul):
    """The sidecar of out.graphml is out.onnxdata: a model reading out.onnxdata would silently
    compute with the GraphML's bytes afterwards."""
    model = matmul.save(tmp_path / "out.onnx", location="out.onnxdata", scale=3.0)
    err = _refused(capsys, tmp_path, "graphml", str(model), "-o", str(tmp_path / "out.graphml"))
    assert "out.onnxdata" in err
    np.testing.assert_array_equal(_weight(model), matmul.weight(3.0))


def test_a_spec_graphml_report_may_not_replace_the_data_its_source_reads(tmp_path, matmul):
    model = matmul.save(tmp_path / "src.onnx", location="mlp.onnxdata")
    spec = (
        f'model mlp from onnx "{model}"\n\npipeline {{\n  remove-dead-code\n}}\n\n'
        'output "x" {\n  reports = [graphml]\n}\n'
    )
    before = _digests(tmp_path)
    with pytest.raises(hcc.ir.HccError, match="refusing to write.*mlp.onnxdata"):
        hcc.build(spec, output_dir=str(tmp_path))
    assert _digests(tmp_path) == before


def test_a_build_may_not_write_over_its_spec(tmp_path, matmul):
    model = matmul.save(tmp_path / "src.onnx", location="src.onnx.data")
    spec = tmp_path / "mlp.ir.txt"
    spec.write_text(
        f'model mlp from onnx "{model}"\n\npipeline {{\n  remove-dead-code\n}}\n\n'
        'output "x" {\n  reports = [ir]\n}\n'
    )
    before = _digests(tmp_path)
    with pytest.raises(hcc.ir.HccError, match="refusing to write.*mlp.ir.txt"):
        hcc.build(str(spec), output_dir=str(tmp_path))
    assert _digests(tmp_path) == before


def test_an_output_that_is_a_fifo_is_refused_without_blocking(capsys, model):
    fifo = model.parent / "out.json"
    os.mkfifo(fifo)
    code = main(["json", "dag", str(model), "-o", str(fifo)])
    _, err = capsys.readouterr()
    assert code == 2 and "not a regular file" in err


# -- the files a command writes are its own ----------------------------------------------------


def test_opt_beside_its_source_writes_its_own_data_file(capsys, model):
    out = model.parent / "m.opt.onnx"
    code = main(["opt", str(model), "-o", str(out), "-p", "remove-dead-code"])
    assert code == 0, capsys.readouterr().err
    assert (model.parent / "m.opt.onnx.data").exists()
    np.testing.assert_array_equal(_weight(out), _weight(model))


def test_two_opt_outputs_in_one_folder_keep_their_own_weights(capsys, tmp_path, matmul):
    a = matmul.save(tmp_path / "a" / "model.onnx", location="model.onnx.data", scale=1.0)
    b = matmul.save(tmp_path / "b" / "model.onnx", location="model.onnx.data", scale=2.0)
    out = tmp_path / "out"
    assert main(["opt", str(a), "-o", str(out / "one.onnx")]) == 0
    assert main(["opt", str(b), "-o", str(out / "two.onnx")]) == 0
    np.testing.assert_array_equal(_weight(out / "one.onnx"), _weight(a))
    np.testing.assert_array_equal(_weight(out / "two.onnx"), _weight(b))


def test_a_planted_temporary_name_cannot_redirect_a_write(capsys, model, tmp_path):
    """hcc used to write NAME.tmp-PID: anyone able to guess the PID could plant a symlink
    there and have hcc overwrite a file of their choosing."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = model.parent / "dag.json"
    (model.parent / f"dag.json.tmp-{os.getpid()}").symlink_to(victim)
    assert main(["json", "dag", str(model), "-o", str(out)]) == 0
    assert victim.read_text() == "precious"
    assert out.read_text().startswith("{")


def test_fmt_write_through_a_link_rewrites_the_spec_and_keeps_the_link(capsys, tmp_path):
    spec = tmp_path / "real.hx"
    spec.write_text('model   m from config "bert"\n')
    link = tmp_path / "link.hx"
    link.symlink_to(spec)
    assert main(["fmt", "--write", str(link)]) == 0, capsys.readouterr().err
    assert link.is_symlink()
    assert spec.read_text() == 'model m from config "bert"\n'


def test_a_split_rebuilt_in_its_folder_names_the_data_its_pieces_read(tmp_path):
    """Rebuilding pieces over themselves writes their shared data under the alternate name
    (the old pieces read the other one); the manifest, written in the same group, says which."""
    import json

    from hcc.ir.onnx import data_files

    tiny_mlp = Path(__file__).resolve().parents[2] / "specs" / "models" / "tiny_mlp.onnx"
    folder = tmp_path / "pieces"
    spec = (
        f'model m from onnx "{tiny_mlp}"\npipeline {{\n  split(by = "*/MLPBlock.*")\n}}\n'
        f'output "{folder}" {{ validate = true }}\n'
    )
    names = []
    for _ in range(3):
        hcc.build(spec)
        manifest = json.loads((folder / "manifest.json").read_text())
        read = {os.path.basename(p) for model in folder.glob("*.onnx") for p in data_files(model)}
        assert read == {manifest["weights"]}
        names.append(manifest["weights"])
        assert sorted(p.name for p in folder.iterdir() if ".data" in p.name) == [names[-1]]
    assert names == ["m.weights.data", "m.weights.data.alt", "m.weights.data"]
