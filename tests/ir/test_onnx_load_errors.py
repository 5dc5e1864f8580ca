"""Bad input files give one-line LoadErrors that name the file."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import hcc.ir as ir
from hcc.ir import LoadError


def _model(initializer: TensorProto | None = None) -> onnx.ModelProto:
    inits = [initializer] if initializer is not None else []
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
        initializer=inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def _external(location: str, offset: int = 0, length: int = 16) -> TensorProto:
    tensor = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4])
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        tensor.external_data.add(key=key, value=value)
    return tensor


def _write(path, proto: onnx.ModelProto) -> str:
    with open(path, "wb") as f:
        f.write(proto.SerializeToString())
    return str(path)


def _load_error(path) -> str:
    with pytest.raises(LoadError) as info:
        ir.load(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def test_missing_file(tmp_path):
    assert "no such file" in _load_error(tmp_path / "absent.onnx")


def test_directory_instead_of_file(tmp_path):
    assert "directory" in _load_error(tmp_path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    assert "empty" in _load_error(path)


def test_truncated_file(tmp_path):
    weights = numpy_helper.from_array(np.arange(64, dtype=np.float32), "w")
    blob = _model(weights).SerializeToString()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(blob[: len(blob) // 2])
    assert "not" in _load_error(path)


def test_corrupt_file(tmp_path):
    blob = bytearray(_model().SerializeToString())
    blob[0:4] = b"\xff\xff\xff\xff"
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(bytes(blob))
    assert "not a valid ONNX model" in _load_error(path)


@pytest.mark.parametrize(
    "text", [b"hello world\n", b"ir_version: 8\ngraph {}\n", b'{"json": true}', b"\x00\x00\x00"]
)
def test_not_an_onnx_model(tmp_path, text):
    path = tmp_path / "text.onnx"
    path.write_bytes(text)
    assert "ONNX model" in _load_error(path)


def test_valid_protobuf_but_no_graph(tmp_path):
    path = _write(tmp_path / "nograph.onnx", onnx.ModelProto(ir_version=8))
    assert "not an ONNX model" in _load_error(path)


def test_external_data_escaping_with_dotdot(tmp_path):
    (tmp_path / "outside.data").write_bytes(b"\0" * 16)
    folder = tmp_path / "m"
    folder.mkdir()
    path = _write(folder / "model.onnx", _model(_external("../outside.data")))
    assert "leaves the model's folder" in _load_error(path)


def test_external_data_absolute_path(tmp_path):
    data = tmp_path / "abs.data"
    data.write_bytes(b"\0" * 16)
    path = _write(tmp_path / "model.onnx", _model(_external(str(data))))
    assert "absolute" in _load_error(path)


def test_external_data_symlink_pointing_outside(tmp_path):
    (tmp_path / "secret.data").write_bytes(b"\0" * 16)
    folder = tmp_path / "m"
    folder.mkdir()
    os.symlink(tmp_path / "secret.data", folder / "link.data")
    path = _write(folder / "model.onnx", _model(_external("link.data")))
    assert "outside" in _load_error(path)


def test_external_data_file_missing(tmp_path):
    path = _write(tmp_path / "model.onnx", _model(_external("absent.data")))
    assert "not found" in _load_error(path)


def test_external_data_too_short(tmp_path):
    (tmp_path / "short.data").write_bytes(b"\0" * 20)
    path = _write(tmp_path / "model.onnx", _model(_external("short.data", offset=8, length=16)))
    assert "has 20 bytes" in _load_error(path)


def test_external_data_malformed_offset(tmp_path):
    (tmp_path / "w.data").write_bytes(b"\0" * 16)
    tensor = _external("w.data")
    tensor.external_data[1].value = "twelve"
    path = _write(tmp_path / "model.onnx", _model(tensor))
    assert "malformed" in _load_error(path)


def test_unchecked_without_external_data(tmp_path):
    """With load_external_data=False the references are kept, not checked, and not readable."""
    path = _write(tmp_path / "model.onnx", _model(_external("absent.data")))
    model = ir.load(path, load_external_data=False)
    tensor = model.graph.initializers["w"].const_value
    assert not isinstance(tensor, ir.ExternalTensor)
    with pytest.raises(LoadError):
        tensor.numpy()
    assert ir.to_onnx(model) == onnx.load(path, load_external_data=False)
    with pytest.raises(ir.SaveError):
        ir.save(model, tmp_path / "copy.onnx")
