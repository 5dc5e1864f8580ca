"""Saving with weights='link' hard-links the files external tensors are read from into the
model's folder and keeps their offsets: no tensor byte is copied."""

from __future__ import annotations

import errno
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import hcc.ir as ir
from hcc.ir.errors import SaveError


def _model_reading_elsewhere(folder) -> str:
    """A model in ``folder`` whose weight lives at offset 24 of a raw file beside it."""
    weight = np.arange(6, dtype=np.float32)
    raw = b"\x01" * 24 + weight.tobytes() + b"\x02" * 8
    (folder / "weights.bin").write_bytes(raw)
    tensor = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[6])
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "weights.bin"), ("offset", "24"), ("length", "24")):
        tensor.external_data.add(key=key, value=value)
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [6])],
        [tensor],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    path = folder / "model.onnx"
    onnx.save(model, str(path))
    return str(path)


def _run(path: str) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {"x": np.ones(6, np.float32)})[0]


def test_link_shares_the_source_file_and_keeps_offsets(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "out").mkdir()
    source = _model_reading_elsewhere(tmp_path / "src")
    out = str(tmp_path / "out" / "model.onnx")
    ir.save(ir.load(source), out, external_data="model.onnx.data", weights="link")
    linked = tmp_path / "out" / "weights.bin"
    assert os.path.samefile(linked, tmp_path / "src" / "weights.bin")
    assert not (tmp_path / "out" / "model.onnx.data").exists()  # nothing was copied
    entries = {
        e.key: e.value
        for e in onnx.load(out, load_external_data=False).graph.initializer[0].external_data
    }
    assert entries == {"location": "weights.bin", "offset": "24", "length": "24"}
    np.testing.assert_array_equal(_run(out), np.arange(6, dtype=np.float32) + 1)
    # Saving again into the same folder reuses the link.
    ir.save(ir.load(source), out, external_data="model.onnx.data", weights="link")
    assert sorted(os.listdir(tmp_path / "out")) == ["model.onnx", "weights.bin"]


def test_auto_copies_what_cannot_be_linked_and_link_refuses(tmp_path, monkeypatch):
    (tmp_path / "src").mkdir()
    (tmp_path / "out").mkdir()
    source = _model_reading_elsewhere(tmp_path / "src")
    out = str(tmp_path / "out" / "model.onnx")

    def cross_device(*args, **kwargs):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    with pytest.raises(SaveError, match="cannot hard-link"):
        ir.save(ir.load(source), out, external_data="model.onnx.data", weights="link")
    assert os.listdir(tmp_path / "out") == []  # nothing half-written
    ir.save(ir.load(source), out, external_data="model.onnx.data", weights="auto")
    assert sorted(os.listdir(tmp_path / "out")) == ["model.onnx", "model.onnx.data"]
    np.testing.assert_array_equal(_run(out), np.arange(6, dtype=np.float32) + 1)


def test_an_unknown_weights_mode_is_refused(tmp_path):
    source = _model_reading_elsewhere(tmp_path)
    with pytest.raises(SaveError, match="weights must be one of"):
        ir.save(ir.load(source), str(tmp_path / "b.onnx"), weights="hardlink")
