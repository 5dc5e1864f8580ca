"""Tensors: in-memory arrays, lazily mapped external data, and ONNX raw-data packing."""

from __future__ import annotations

import os

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hcc.ir import ArrayTensor, DataType, ExternalTensor, LoadError, _tensors
from hcc.ir._tensors import array_to_raw, raw_to_array, safe_external_path


def test_array_tensor_infers_its_element_type():
    tensor = ArrayTensor(np.arange(6, dtype=np.int64).reshape(2, 3), name="idx")
    assert tensor.dtype == DataType.INT64
    assert tensor.shape == (2, 3) and tensor.size == 6 and tensor.nbytes == 48
    assert tensor.tobytes() == np.arange(6, dtype="<i8").tobytes()
    assert bytes(tensor.raw_view()) == tensor.tobytes()


def test_scalar_tensor():
    tensor = ArrayTensor(np.float32(2.5))
    assert tensor.shape == () and tensor.size == 1 and tensor.nbytes == 4


def test_big_endian_arrays_are_written_little_endian():
    tensor = ArrayTensor(np.array([1, 2], dtype=">i4"))
    assert tensor.tobytes() == b"\x01\x00\x00\x00\x02\x00\x00\x00"


def test_nbytes_of_sub_byte_types_is_packed():
    # Five int4 values fill two and a half bytes: three, rounded up.
    tensor = ArrayTensor(np.array([1, 2, 3, 4, 5], dtype=ml_dtypes.int4), DataType.INT4)
    assert tensor.nbytes == 3 == len(tensor.tobytes())


def test_nbytes_of_string_tensors_counts_their_contents():
    assert ArrayTensor(np.array([b"ab", b"c"], dtype=object)).nbytes == 3
    assert ArrayTensor(np.array(["é"])).nbytes == 2  # UTF-8


# -- external data --------------------------------------------------------------------------------


@pytest.fixture
def weights(tmp_path):
    data = np.arange(8, dtype=np.float32)
    (tmp_path / "weights.bin").write_bytes(b"\xff" * 4 + data.tobytes())
    return tmp_path, data


def test_external_tensor_maps_only_when_bytes_are_asked_for(weights, monkeypatch):
    folder, data = weights
    maps = []
    real_mmap = _tensors.mmap.mmap
    monkeypatch.setattr(_tensors.mmap, "mmap", lambda *a, **k: maps.append(1) or real_mmap(*a, **k))

    tensor = ExternalTensor("weights.bin", str(folder), DataType.FLOAT, (2, 4), offset=4)
    # Shape, size and byte count come from the record, not from the file's contents.
    assert (tensor.shape, tensor.nbytes, tensor.length) == ((2, 4), 32, 32)
    assert maps == []

    view = tensor.raw_view()
    assert len(maps) == 1 and bytes(view) == data.tobytes()
    np.testing.assert_array_equal(tensor.numpy(), data.reshape(2, 4))
    assert len(maps) == 1  # one map per tensor, reused
    del view
    tensor.release()
    assert tensor.tobytes() == data.tobytes() and len(maps) == 2


def test_external_tensor_refuses_to_read_past_the_file(weights):
    folder, _ = weights
    with pytest.raises(LoadError, match="has 36 bytes"):
        ExternalTensor("weights.bin", str(folder), DataType.FLOAT, (9,), offset=4)


@pytest.mark.parametrize(
    "location, reason",
    [
        ("../secret.bin", "leaves the model's folder"),
        ("sub/../../secret.bin", "leaves the model's folder"),
        ("/etc/passwd", "absolute"),
        ("", "empty location"),
        ("missing.bin", "not found"),
    ],
)
def test_unsafe_external_locations_are_refused(tmp_path, location, reason):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (tmp_path / "secret.bin").write_bytes(b"0" * 16)
    with pytest.raises(LoadError, match=reason):
        safe_external_path(str(model_dir), location)


def test_a_symlink_out_of_the_folder_is_refused(tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (tmp_path / "secret.bin").write_bytes(b"0" * 16)
    os.symlink(tmp_path / "secret.bin", model_dir / "weights.bin")
    with pytest.raises(LoadError, match="symlink"):
        safe_external_path(str(model_dir), "weights.bin")


def test_a_file_in_a_subfolder_is_fine(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "w.bin").write_bytes(b"\0" * 4)
    assert safe_external_path(str(tmp_path), "data/w.bin").endswith(os.path.join("data", "w.bin"))


# -- raw data packing ------------------------------------------------------------------------------


def test_int4_packs_low_nibble_first():
    # ONNX packs element 0 in the low four bits: [1, -1, 2] -> 0xF1, 0x02.
    assert array_to_raw(np.array([1, -1, 2], dtype=ml_dtypes.int4), DataType.INT4) == b"\xf1\x02"
    # A plain int64 list packs the same (each element converted, not its eight bytes).
    assert array_to_raw(np.array([1, -1, 2], dtype=np.int64), DataType.INT4) == b"\xf1\x02"


def test_string_tensors_have_no_raw_form():
    with pytest.raises(ValueError, match="string"):
        array_to_raw(np.array([b"a"], dtype=object), DataType.STRING)


_SUB_BYTE = {
    DataType.INT4: (-8, 7),
    DataType.UINT4: (0, 15),
    DataType.INT2: (-2, 1),
    DataType.UINT2: (0, 3),
}


@given(
    st.sampled_from(sorted(_SUB_BYTE)),
    st.lists(st.integers(0, 3), min_size=0, max_size=3).map(tuple),
    st.data(),
)
def test_sub_byte_pack_unpack_round_trip(dtype, shape, data):
    low, high = _SUB_BYTE[dtype]
    size = int(np.prod(shape)) if shape else 1
    values = data.draw(st.lists(st.integers(low, high), min_size=size, max_size=size))
    array = np.array(values, dtype=np.int64).reshape(shape).astype(dtype.to_numpy())

    raw = array_to_raw(array, dtype)

    assert len(raw) == (size * dtype.bitwidth + 7) // 8
    back = raw_to_array(raw, dtype, shape)
    assert back.dtype == dtype.to_numpy() and back.shape == shape
    np.testing.assert_array_equal(back.astype(np.int64), array.astype(np.int64))


@given(st.lists(st.floats(allow_nan=False, width=32), max_size=10))
def test_float_raw_round_trip(values):
    array = np.array(values, dtype=np.float32)
    back = raw_to_array(array_to_raw(array, DataType.FLOAT), DataType.FLOAT, array.shape)
    np.testing.assert_array_equal(back, array)
