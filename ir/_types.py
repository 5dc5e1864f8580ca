"""Types of values: tensors with (partly symbolic) shapes, sequences, maps, optionals, opaque.

Types are frozen value objects. A dimension is an ``int`` (known size), a ``str`` (a symbolic
name such as ``"batch"``) or ``None`` (unknown). ``shape=None`` means the rank is unknown.
``denotation`` and ``dim_denotations`` carry ONNX's optional semantic labels so nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._dtypes import DataType

Dim = int | str | None


@dataclass(frozen=True)
class TensorType:
    dtype: DataType | int
    shape: tuple[Dim, ...] | None = None
    denotation: str | None = None
    dim_denotations: tuple[str | None, ...] | None = None

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    def __str__(self) -> str:
        name = self.dtype.name.lower() if isinstance(self.dtype, DataType) else f"dtype{self.dtype}"
        if self.shape is None:
            return f"{name}[...]"
        dims = ",".join("?" if d is None else str(d) for d in self.shape)
        return f"{name}[{dims}]"


@dataclass(frozen=True)
class SparseTensorType(TensorType):
    def __str__(self) -> str:
        return "sparse " + super().__str__()


@dataclass(frozen=True)
class SequenceType:
    elem: Type | None
    denotation: str | None = None

    def __str__(self) -> str:
        return f"seq({self.elem})"


@dataclass(frozen=True)
class OptionalType:
    elem: Type | None
    denotation: str | None = None

    def __str__(self) -> str:
        return f"optional({self.elem})"


@dataclass(frozen=True)
class MapType:
    key: DataType | int
    value: Type | None
    denotation: str | None = None

    def __str__(self) -> str:
        key = self.key.name.lower() if isinstance(self.key, DataType) else str(self.key)
        return f"map({key},{self.value})"


@dataclass(frozen=True)
class OpaqueType:
    domain: str
    name: str
    denotation: str | None = None

    def __str__(self) -> str:
        return f"opaque({self.domain}.{self.name})"


Type = TensorType | SparseTensorType | SequenceType | OptionalType | MapType | OpaqueType
