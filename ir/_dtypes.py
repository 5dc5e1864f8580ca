"""ONNX element types and their numpy counterparts (no protobuf needed)."""

from __future__ import annotations

import enum

import ml_dtypes
import numpy as np


class DataType(enum.IntEnum):
    """Element types, numbered as in the ONNX standard's TensorProto.DataType."""

    UNDEFINED = 0
    FLOAT = 1
    UINT8 = 2
    INT8 = 3
    UINT16 = 4
    INT16 = 5
    INT32 = 6
    INT64 = 7
    STRING = 8
    BOOL = 9
    FLOAT16 = 10
    DOUBLE = 11
    UINT32 = 12
    UINT64 = 13
    COMPLEX64 = 14
    COMPLEX128 = 15
    BFLOAT16 = 16
    FLOAT8E4M3FN = 17
    FLOAT8E4M3FNUZ = 18
    FLOAT8E5M2 = 19
    FLOAT8E5M2FNUZ = 20
    UINT4 = 21
    INT4 = 22
    FLOAT4E2M1 = 23
    FLOAT8E8M0 = 24
    UINT2 = 25
    INT2 = 26
    FLOAT6E2M3 = 27
    FLOAT6E3M2 = 28

    @property
    def bitwidth(self) -> int:
        return _BITS.get(self, 0)

    def to_numpy(self) -> np.dtype:
        try:
            return _TO_NUMPY[self]
        except KeyError:
            raise TypeError(f"element type {self.name} has no numpy counterpart") from None

    @classmethod
    def from_numpy(cls, dtype: np.dtype) -> DataType:
        dtype = np.dtype(dtype)
        for data_type, np_dtype in _TO_NUMPY.items():
            if np_dtype == dtype:
                return data_type
        if dtype.kind in ("U", "S", "O"):
            return cls.STRING
        raise TypeError(f"numpy dtype {dtype} has no ONNX element type")


def _ml(name: str) -> np.dtype | None:
    return np.dtype(getattr(ml_dtypes, name)) if hasattr(ml_dtypes, name) else None


_TO_NUMPY: dict[DataType, np.dtype] = {
    DataType.FLOAT: np.dtype(np.float32),
    DataType.UINT8: np.dtype(np.uint8),
    DataType.INT8: np.dtype(np.int8),
    DataType.UINT16: np.dtype(np.uint16),
    DataType.INT16: np.dtype(np.int16),
    DataType.INT32: np.dtype(np.int32),
    DataType.INT64: np.dtype(np.int64),
    DataType.BOOL: np.dtype(np.bool_),
    DataType.FLOAT16: np.dtype(np.float16),
    DataType.DOUBLE: np.dtype(np.float64),
    DataType.UINT32: np.dtype(np.uint32),
    DataType.UINT64: np.dtype(np.uint64),
    DataType.COMPLEX64: np.dtype(np.complex64),
    DataType.COMPLEX128: np.dtype(np.complex128),
}
for _member, _name in [
    (DataType.BFLOAT16, "bfloat16"),
    (DataType.FLOAT8E4M3FN, "float8_e4m3fn"),
    (DataType.FLOAT8E4M3FNUZ, "float8_e4m3fnuz"),
    (DataType.FLOAT8E5M2, "float8_e5m2"),
    (DataType.FLOAT8E5M2FNUZ, "float8_e5m2fnuz"),
    (DataType.UINT4, "uint4"),
    (DataType.INT4, "int4"),
    (DataType.FLOAT4E2M1, "float4_e2m1fn"),
    (DataType.FLOAT8E8M0, "float8_e8m0fnu"),
    (DataType.UINT2, "uint2"),
    (DataType.INT2, "int2"),
    (DataType.FLOAT6E2M3, "float6_e2m3fn"),
    (DataType.FLOAT6E3M2, "float6_e3m2fn"),
]:
    _dtype = _ml(_name)
    if _dtype is not None:
        _TO_NUMPY[_member] = _dtype

_BITS: dict[DataType, int] = {
    DataType.BOOL: 8,
    DataType.UINT8: 8,
    DataType.INT8: 8,
    DataType.UINT16: 16,
    DataType.INT16: 16,
    DataType.FLOAT16: 16,
    DataType.BFLOAT16: 16,
    DataType.FLOAT: 32,
    DataType.INT32: 32,
    DataType.UINT32: 32,
    DataType.INT64: 64,
    DataType.UINT64: 64,
    DataType.DOUBLE: 64,
    DataType.COMPLEX64: 64,
    DataType.COMPLEX128: 128,
    DataType.FLOAT8E4M3FN: 8,
    DataType.FLOAT8E4M3FNUZ: 8,
    DataType.FLOAT8E5M2: 8,
    DataType.FLOAT8E5M2FNUZ: 8,
    DataType.FLOAT8E8M0: 8,
    DataType.UINT4: 4,
    DataType.INT4: 4,
    DataType.FLOAT4E2M1: 4,
    DataType.UINT2: 2,
    DataType.INT2: 2,
    DataType.FLOAT6E2M3: 6,
    DataType.FLOAT6E3M2: 6,
}


def data_type(code: int) -> DataType | int:
    """The DataType for an element type code, or the bare int for codes newer than this table."""
    try:
        return DataType(code)
    except ValueError:
        return code
