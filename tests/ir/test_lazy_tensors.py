"""Lazy tensors and file I/O: imported tensors are not decoded, external data is not read on
load, and save streams data into fresh files that are renamed into place."""

from __future__ import annotations

import os
import stat

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import hcc.ir as ir
from hcc.ir import SaveError
from hcc.ir.onnx import ProtoTensor, _files

_ARRAYS = {
    "w_big": np.arange(4096, dtype=np.float32).reshape(64, 64) / 7,
    "w_half": np.linspace(-1, 1, 1024).astype(np.float16),
    "w_int": np.arange(300, dtype=np.int64),
    "w_small": np.array([1.0, 2.0, 3.0, 4.0], np.float32),
}


def _proto() -> onnx.ModelProto:
    inits = [numpy_helper.from_array(a, name) for name, a in _ARRAYS.items()]
    nodes = [
        helper.make_node("MatMul", ["x", "w_big"], ["h"]),
        helper.make_node("Cast", ["w_half"], ["half32"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["half32"], ["s"], keepdims=0),
        helper.make_node("Add", ["h", "s"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 64])],
        initializer=inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


@pytest.fixture
def source(tmp_path) -> str:
    """A model saved by onnx itself with its large tensors in ``weights.data``."""
    folder = tmp_path / "src"
    folder.mkdir()
    path = str(folder / "model.onnx")
    onnx.save(_proto(), path, save_as_external_data=True, location="weights.data")
    return path


def _files_in(folder) -> list[str]:
    return sorted(os.listdir(folder))


def _externals(model) -> list[ir.ExternalTensor]:
    return [
        v.const_value
        for v in model.graph.initializers.values()
        if isinstance(v.const_value, ir.ExternalTensor)
    ]


def _run(path, x):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


# -- laziness -----------------------------------------------------------------------------------


def test_load_maps_nothing(source):
    model = ir.load(source)
    externals = _externals(model)
    assert {t.name for t in externals} == {"w_big", "w_half", "w_int"}
    assert all(t._map is None for t in externals)  # nothing read yet
    assert isinstance(model.graph.initializers["w_small"].const_value, ProtoTensor)
    ir.to_onnx(model)
    assert all(t._map is None for t in externals)


def test_external_values_read_on_demand(source):
    model = ir.load(source)
    for name, array in _ARRAYS.items():
        tensor = model.graph.initializers[name].const_value
        np.testing.assert_array_equal(tensor.numpy(), array)
    assert all(t._map is not None for t in _externals(model))


def test_to_onnx_keeps_external_references(source):
    assert ir.to_onnx(ir.load(source)) == onnx.load(source, load_external_data=False)


def test_proto_tensor_decodes_every_encoding():
    arrays = [
        np.array([[1.5, -2.0]], np.float32),
        np.array([1, -2, 3], np.int8),
        np.array([True, False]),
        np.array([1.5, 2.25], np.float16),
        np.array([1 + 2j], np.complex64),
        np.array([2**40], np.uint64),
        np.array([b"ab", b"c"], dtype=object),
    ]
    for array in arrays:
        for raw in (True, False):
            if array.dtype == object and raw:
                continue
            proto = numpy_helper.from_array(array, "t")
            if not raw and proto.HasField("raw_data"):
                proto = helper.make_tensor(
                    "t", proto.data_type, array.shape, array.reshape(-1).tolist()
                )
            tensor = ProtoTensor(proto)
            assert tensor.shape == array.shape
            np.testing.assert_array_equal(tensor.numpy(), numpy_helper.to_array(proto))
            if array.dtype != object:
                assert tensor.tobytes() == array.tobytes()


# -- saving -------------------------------------------------------------------------------------


def test_save_into_new_folder_is_identical(source, tmp_path):
    out = tmp_path / "out" / "model.onnx"
    out.parent.mkdir()
    model = ir.load(source)
    ir.save(model, out, external_data="weights.data")
    assert _files_in(out.parent) == ["model.onnx", "weights.data"]
    # Same data file name, same offsets: the protos match exactly, data bytes too.
    original = onnx.load(source, load_external_data=False)
    assert onnx.load(str(out), load_external_data=False) == original
    src_data = os.path.join(os.path.dirname(source), "weights.data")
    assert (out.parent / "weights.data").read_bytes() == open(src_data, "rb").read()
    assert onnx.load(str(out)) == onnx.load(source)
    assert all(t._map is None for t in _externals(model))  # copied file to file
    x = np.ones((2, 64), np.float32)
    np.testing.assert_array_equal(_run(out, x), _run(source, x))


def test_save_with_another_data_name(source, tmp_path):
    out = tmp_path / "out" / "renamed.onnx"
    out.parent.mkdir()
    ir.save(ir.load(source), out, external_data="blob.bin")
    assert _files_in(out.parent) == ["blob.bin", "renamed.onnx"]
    saved = onnx.load(str(out), load_external_data=False)
    original = onnx.load(source, load_external_data=False)
    for tensor in original.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "blob.bin"
    assert saved == original


def test_saving_twice_gives_identical_files(source, tmp_path):
    out = tmp_path / "out" / "model.onnx"
    out.parent.mkdir()
    model = ir.load(source)
    ir.save(model, out)
    first = {n: (out.parent / n).read_bytes() for n in _files_in(out.parent)}
    ir.save(model, out)  # replaces model.onnx.data under its alternate name
    ir.save(model, out)  # and back
    third = {n: (out.parent / n).read_bytes() for n in _files_in(out.parent)}
    assert first == third  # nothing appended


def test_refuses_to_overwrite_what_the_model_reads(source):
    folder = os.path.dirname(source)
    model = ir.load(source)
    with pytest.raises(SaveError, match="loaded from"):
        ir.save(model, source)
    with pytest.raises(SaveError, match="reads from"):
        ir.save(model, os.path.join(folder, "weights.data"))
    # Naming the data file the model reads is refused too.
    with pytest.raises(SaveError, match="weights.data"):
        ir.save(model, os.path.join(folder, "other.onnx"), external_data="weights.data")
    assert _files_in(folder) == ["model.onnx", "weights.data"]
    # Beside it, the new model gets its own data file.
    ir.save(model, os.path.join(folder, "other.onnx"))
    assert _files_in(folder) == ["model.onnx", "other.onnx", "other.onnx.data", "weights.data"]


class _Exploding(ir.Tensor):
    def __init__(self):
        super().__init__(ir.DataType.FLOAT, (1024,), name="boom")

    def raw_view(self):
        raise RuntimeError("disk on fire")


def test_failed_save_leaves_no_files(source, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "model.onnx"
    out.write_bytes(b"previous content")
    model = ir.load(source)
    model.graph.add_initializer(ir.Value("boom", const_value=_Exploding()))
    with pytest.raises(RuntimeError, match="disk on fire"):
        ir.save(model, out)
    assert _files_in(folder) == ["model.onnx"]  # no temp files, no data file
    assert out.read_bytes() == b"previous content"


def test_too_large_for_protobuf(monkeypatch, tmp_path):
    monkeypatch.setattr(_files, "PROTOBUF_LIMIT", 100)
    model = ir.from_onnx(_proto())
    with pytest.raises(SaveError, match="2 GB.*external_data"):
        ir.save(model, tmp_path / "model.onnx")
    assert _files_in(tmp_path) == []


def test_embedding_everything(source, tmp_path):
    out = tmp_path / "embedded.onnx"
    ir.save(ir.load(source), out, external_data=False)
    assert _files_in(tmp_path) == ["embedded.onnx", "src"]
    saved = onnx.load(str(out))
    for tensor in saved.graph.initializer:
        assert tensor.data_location == TensorProto.DEFAULT and not tensor.external_data
        np.testing.assert_array_equal(numpy_helper.to_array(tensor), _ARRAYS[tensor.name])


def test_in_memory_model_to_external_data(tmp_path):
    model = ir.from_onnx(_proto())
    # Replace one tensor by an array built by a "pass".
    model.graph.initializers["w_big"].const_value = ir.ArrayTensor(_ARRAYS["w_big"] * 2)
    out = tmp_path / "model.onnx"
    ir.save(model, out, external_data="model.data")
    assert _files_in(tmp_path) == ["model.data", "model.onnx"]
    saved = onnx.load(str(out), load_external_data=False)
    external = {t.name for t in saved.graph.initializer if t.data_location == TensorProto.EXTERNAL}
    assert external == {"w_big", "w_half", "w_int"}  # w_small is under the 1024-byte threshold
    reloaded = ir.load(out)
    np.testing.assert_array_equal(
        reloaded.graph.initializers["w_big"].const_value.numpy(), _ARRAYS["w_big"] * 2
    )
    x = np.ones((2, 64), np.float32)
    expected = x @ (_ARRAYS["w_big"] * 2) + _ARRAYS["w_half"].astype(np.float32).sum()
    np.testing.assert_allclose(_run(out, x), expected, rtol=1e-4)


def test_one_file_per_tensor(source, tmp_path):
    out = tmp_path / "out" / "model.onnx"
    out.parent.mkdir()
    ir.save(ir.load(source), out, external_data="x.data", all_tensors_to_one_file=False)
    assert _files_in(out.parent) == ["model.onnx", "w_big", "w_half", "w_int"]
    assert onnx.load(str(out)) == onnx.load(source)


def test_alignment(tmp_path):
    out = tmp_path / "model.onnx"
    ir.save(ir.from_onnx(_proto()), out, external_data="model.data", align=4096)
    saved = onnx.load(str(out), load_external_data=False)
    for tensor in saved.graph.initializer:
        entries = {e.key: e.value for e in tensor.external_data}
        if entries:
            assert int(entries["offset"]) % 4096 == 0
    loaded = onnx.load(str(out))
    for tensor in loaded.graph.initializer:
        np.testing.assert_array_equal(numpy_helper.to_array(tensor), _ARRAYS[tensor.name])


def test_saved_files_follow_the_umask(source, tmp_path):
    out = tmp_path / "out" / "model.onnx"
    out.parent.mkdir()
    old = os.umask(0o022)
    try:
        ir.save(ir.load(source), out)
    finally:
        os.umask(old)
    for name in _files_in(out.parent):
        assert stat.S_IMODE(os.stat(out.parent / name).st_mode) == 0o644


def test_save_into_missing_folder(tmp_path):
    with pytest.raises(SaveError, match="folder does not exist"):
        ir.save(ir.from_onnx(_proto()), tmp_path / "nope" / "model.onnx")
