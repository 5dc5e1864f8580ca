"""hcc.ir.files, the one writer, and the model saving built on it: a destination is the old
file or the complete new one, temporaries never survive, a saved model owns its data file."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import hcc.ir as ir
from hcc.ir import SaveError, files

REPO = Path(__file__).resolve().parents[2]


def _model_proto(scale: float = 1.0) -> onnx.ModelProto:
    weight = np.arange(64 * 64, dtype=np.float32).reshape(64, 64) * scale
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])],
        [numpy_helper.from_array(weight, "w")],
    )
    return helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 18)])


def _save_external(path: Path, scale: float = 1.0, location: str = "model.onnx.data") -> Path:
    onnx.save(_model_proto(scale), str(path), save_as_external_data=True, location=location)
    return path


def _weight(path: Path) -> np.ndarray:
    return numpy_helper.to_array(onnx.load(str(path)).graph.initializer[0])


def _listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


# -- the writer ---------------------------------------------------------------------------------


def test_write_text_replaces_the_file_with_ordinary_permissions(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    files.write_text(path, "new ✓")
    assert path.read_text(encoding="utf-8") == "new ✓"
    assert _listing(tmp_path) == ["out.txt"]
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask  # not mkstemp's 0600


def test_a_replaced_file_keeps_its_permissions(tmp_path):
    path = tmp_path / "private.onnx"
    path.write_text("old")
    path.chmod(0o600)
    files.write_text(path, "new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_destination_name_near_the_length_limit_can_be_written(tmp_path):
    path = tmp_path / ("m" * 250 + ".onnx")
    files.write_text(path, "x")
    assert _listing(tmp_path) == [path.name]


def test_a_symlink_at_the_destination_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "out.txt"
    link.symlink_to(victim)
    files.write_text(link, "new")
    assert victim.read_text() == "keep me"
    assert not link.is_symlink() and link.read_text() == "new"


@pytest.mark.parametrize("kind", ["folder", "fifo", "link to a device"])
def test_a_destination_that_is_not_a_regular_file_is_refused(tmp_path, kind):
    """``-o /dev/stdout`` is a link to a pipe or terminal: replacing the link itself would
    take /dev/stdout away from every program on the machine."""
    path = tmp_path / "out"
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/null")
    with pytest.raises(SaveError, match="folder|not a regular file"):
        files.write_text(path, "x")
    assert _listing(tmp_path) == ["out"]
    assert kind != "link to a device" or os.readlink(path) == "/dev/null"


def test_a_failed_group_removes_every_temporary_and_keeps_old_files(tmp_path):
    (tmp_path / "a").write_text("old a")
    with pytest.raises(RuntimeError, match="midway"):
        with files.FileGroup() as group:
            group.add_text(tmp_path / "a", "new a")
            group.add_text(tmp_path / "b", "new b")
            raise RuntimeError("midway")
    assert _listing(tmp_path) == ["a"]
    assert (tmp_path / "a").read_text() == "old a"


def test_one_group_cannot_write_a_file_twice(tmp_path):
    with files.FileGroup() as group:
        group.add_text(tmp_path / "a", "1")
        with pytest.raises(SaveError, match="twice"):
            group.add_text(tmp_path / "." / "a", "2")
    assert _listing(tmp_path) == []


def test_a_signal_during_the_renames_waits_until_the_group_is_in_place(tmp_path, monkeypatch):
    """SIGTERM between the data file's rename and the model's would leave a mismatched pair;
    it takes effect once both are in place."""
    real_replace = os.replace
    calls = []

    def replace_then_signal(src, dst):
        real_replace(src, dst)
        calls.append(dst)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(files.os, "replace", replace_then_signal)
    with pytest.raises(files.Interrupted) as caught:
        with files.stop_on_signals():
            with files.FileGroup() as group:
                group.add_text(tmp_path / "data", "d")
                group.add_text(tmp_path / "model", "m")
                group.commit()
    assert caught.value.exit_code == 128 + signal.SIGTERM
    assert _listing(tmp_path) == ["data", "model"]


def test_a_signal_before_the_renames_removes_the_temporaries(tmp_path):
    (tmp_path / "model").write_text("old")
    with pytest.raises(files.Interrupted):
        with files.stop_on_signals():
            with files.FileGroup() as group:
                group.add_text(tmp_path / "model", "new")
                os.kill(os.getpid(), signal.SIGTERM)
                group.commit()
    assert _listing(tmp_path) == ["model"]
    assert (tmp_path / "model").read_text() == "old"


def test_a_second_signal_during_cleanup_still_removes_every_temporary(tmp_path, monkeypatch):
    real_remove = files.remove_quietly

    def remove_then_signal(path):
        os.kill(os.getpid(), signal.SIGINT)  # the impatient second Ctrl-C
        real_remove(path)

    with pytest.raises(files.Interrupted):
        with files.stop_on_signals():
            with files.FileGroup() as group:
                for name in ("a", "b", "c"):
                    group.add_text(tmp_path / name, name)
                monkeypatch.setattr(files, "remove_quietly", remove_then_signal)
                os.kill(os.getpid(), signal.SIGTERM)
    assert _listing(tmp_path) == []


def test_no_hand_made_writer_is_left_in_the_source_tree():
    """Every file is written through hcc.ir.files: a predictable ``NAME.tmp-PID`` can be
    planted as a symlink by someone else, and a copy of the rename dance drifts from the one
    that syncs and cleans up on signals."""
    offenders = []
    for package in ("compiler", "passes", "ir"):
        for path in sorted((REPO / package).rglob("*.py")):
            if path == REPO / "ir" / "files.py":
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                code = line.split("#", 1)[0]
                if (
                    re.search(r"tmp-|os\.replace\(|os\.rename\(|mkstemp|O_CREAT", code)
                    or re.search(r"(?<!files)\.write_(text|bytes)\(", code)
                    or re.search(r"(?<![\w.])open\([^)]*[\"'][wax]b?\+?[\"']", code)
                ):
                    offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == []


# -- saved models own their data file -----------------------------------------------------------


def test_a_saved_model_names_its_data_file_after_itself(tmp_path):
    source = _save_external(tmp_path / "in.onnx", location="weights.bin")
    out = tmp_path / "out" / "result.onnx"
    out.parent.mkdir()
    ir.save(ir.load(source), out)
    assert _listing(out.parent) == ["result.onnx", "result.onnx.data"]
    np.testing.assert_array_equal(_weight(out), _weight(source))


def test_a_transformed_model_can_be_saved_beside_its_source(tmp_path):
    source = _save_external(tmp_path / "model.onnx")
    before = (tmp_path / "model.onnx.data").read_bytes()
    ir.save(ir.load(source), tmp_path / "model.opt.onnx")
    assert (tmp_path / "model.onnx.data").read_bytes() == before
    np.testing.assert_array_equal(_weight(tmp_path / "model.opt.onnx"), _weight(source))


def test_two_outputs_in_one_folder_do_not_share_a_data_file(tmp_path):
    # Two exports, each with the usual model.onnx.data beside it.
    (tmp_path / "src1").mkdir()
    (tmp_path / "src2").mkdir()
    a = _save_external(tmp_path / "src1" / "model.onnx", scale=1.0)
    b = _save_external(tmp_path / "src2" / "model.onnx", scale=2.0)
    out = tmp_path / "out"
    out.mkdir()
    ir.save(ir.load(a), out / "one.onnx")
    ir.save(ir.load(b), out / "two.onnx")
    np.testing.assert_array_equal(_weight(out / "one.onnx"), _weight(a))
    np.testing.assert_array_equal(_weight(out / "two.onnx"), _weight(b))


def test_replacing_a_model_alternates_its_data_file_and_removes_the_old_one(tmp_path):
    a = _save_external(tmp_path / "a.onnx", scale=1.0, location="a.data")
    b = _save_external(tmp_path / "b.onnx", scale=2.0, location="b.data")
    out = tmp_path / "out.onnx"
    ir.save(ir.load(a), out)
    assert (tmp_path / "out.onnx.data").exists()
    ir.save(ir.load(b), out)
    # The old model read out.onnx.data: the new data went beside it, then the old was removed.
    assert not (tmp_path / "out.onnx.data").exists()
    assert (tmp_path / "out.onnx.data.alt").exists()
    np.testing.assert_array_equal(_weight(out), _weight(b))
    ir.save(ir.load(a), out)
    assert not (tmp_path / "out.onnx.data.alt").exists()
    np.testing.assert_array_equal(_weight(out), _weight(a))


def test_replacing_a_model_by_one_without_external_data_removes_its_old_data(tmp_path):
    out = tmp_path / "out.onnx"
    ir.save(ir.load(_save_external(tmp_path / "a.onnx", location="a.data")), out)
    assert (tmp_path / "out.onnx.data").exists()
    ir.save(ir.from_onnx(_model_proto(2.0)), out)  # all in memory: embedded
    assert not (tmp_path / "out.onnx.data").exists()
    np.testing.assert_array_equal(_weight(out), np.arange(64 * 64).reshape(64, 64) * 2.0)


def test_an_interrupted_model_rename_leaves_the_old_pair_intact(tmp_path, monkeypatch):
    a = _save_external(tmp_path / "a.onnx", scale=1.0, location="a.data")
    b = _save_external(tmp_path / "b.onnx", scale=2.0, location="b.data")
    out = tmp_path / "out.onnx"
    ir.save(ir.load(a), out)
    real_replace = os.replace

    def fail_on_model(src, dst):
        if dst == str(out):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", fail_on_model)
    with pytest.raises(SaveError, match="No space left"):
        ir.save(ir.load(b), out)
    monkeypatch.undo()
    np.testing.assert_array_equal(_weight(out), _weight(a))
    assert _listing(tmp_path) == [
        "a.data",
        "a.onnx",
        "b.data",
        "b.onnx",
        "out.onnx",
        "out.onnx.data",
    ]


# -- several models written by one call ---------------------------------------------------------


def test_models_written_together_replace_their_shared_data_under_the_alternate_name(tmp_path):
    a = ir.load(_save_external(tmp_path / "a.onnx", scale=1.0, location="a.data"))
    b = ir.load(_save_external(tmp_path / "b.onnx", scale=2.0, location="b.data"))
    out = tmp_path / "out"
    out.mkdir()
    ir.save_many(
        [(a, "one.onnx"), (a, "two.onnx")],
        out,
        external_data="w.data",
        texts={"manifest.json": '{"weights": "w.data"}\n'},
    )
    assert _listing(out) == ["manifest.json", "one.onnx", "two.onnx", "w.data"]
    assert ir.onnx.shared_data_name(out, ["one.onnx", "two.onnx"], "w.data") == "w.data.alt"
    ir.save_many(
        [(b, "one.onnx"), (b, "two.onnx")],
        out,
        external_data="w.data.alt",
        texts={"manifest.json": '{"weights": "w.data.alt"}\n'},
    )
    # The old pieces read w.data: the new data went beside it, then the old one was removed.
    assert _listing(out) == ["manifest.json", "one.onnx", "two.onnx", "w.data.alt"]
    for name in ("one.onnx", "two.onnx"):
        np.testing.assert_array_equal(_weight(out / name), _weight(tmp_path / "b.onnx"))


def test_a_manifest_text_is_told_the_data_files_the_models_read(tmp_path):
    a = ir.from_onnx(_model_proto())  # one 16 KiB weight, in memory
    seen = []

    def manifest(data):
        seen.append(data)
        return json.dumps({"weights": data.written}) + "\n"

    for folder, threshold in (("big", 1024), ("embedded", 1 << 30)):
        out = tmp_path / folder
        out.mkdir()
        ir.save_many(
            [(a, "one.onnx")],
            out,
            external_data="w.data",
            size_threshold=threshold,
            texts={"manifest.json": manifest},
        )
    # Above the threshold the weight goes to w.data; with every tensor embedded none is written.
    assert [(d.written, d.linked) for d in seen] == [(["w.data"], []), ([], [])]
    assert json.loads((tmp_path / "embedded" / "manifest.json").read_text()) == {"weights": []}
    assert _listing(tmp_path / "embedded") == ["manifest.json", "one.onnx"]


def test_a_failed_save_of_several_models_writes_no_manifest(tmp_path):
    a = ir.load(_save_external(tmp_path / "a.onnx", location="a.data"))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(SaveError, match="same path"):
        ir.save_many([(a, "one.onnx")], out, texts={"one.onnx": "{}"})
    with pytest.raises(SaveError, match="plain file name"):
        ir.save_many([(a, "one.onnx")], out, texts={"../manifest.json": "{}"})
    assert _listing(out) == []


# -- progress of the weights -------------------------------------------------------------------


def test_save_reports_the_weight_bytes_written_against_the_total(tmp_path):
    model = ir.from_onnx(_model_proto())
    calls: list[tuple[int, int]] = []
    ir.save(model, tmp_path / "m.onnx", external_data="m.data", progress=lambda *c: calls.append(c))
    size = os.path.getsize(tmp_path / "m.data")
    assert calls[0] == (0, size) and calls[-1] == (size, size) == (64 * 64 * 4, 64 * 64 * 4)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_save_many_counts_a_shared_weight_once(tmp_path):
    model = ir.from_onnx(_model_proto())
    calls: list[tuple[int, int]] = []
    ir.save_many(
        [(model, "a.onnx"), (model, "b.onnx")],
        tmp_path,
        external_data="w.data",
        progress=lambda *c: calls.append(c),
    )
    assert calls[0] == (0, 64 * 64 * 4) and calls[-1] == (64 * 64 * 4,) * 2
