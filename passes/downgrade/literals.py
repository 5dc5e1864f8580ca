"""Plain values at the IR's edges: the array a value always holds (an initializer or a
Constant node's tensor), and an attribute made from a plain Python value."""

from __future__ import annotations

import numpy as np

from hcc.ir import Attr, AttrType, Graph, Value


def make_attr(name: str, value) -> Attr:
    """An attribute from a plain Python value (int, float, str, or a list of ints/floats)."""
    if isinstance(value, Attr):
        return value
    if isinstance(value, Graph):
        return Attr(name, AttrType.GRAPH, value)
    if isinstance(value, bool) or isinstance(value, (int, np.integer)):
        return Attr(name, AttrType.INT, int(value))
    if isinstance(value, float):
        return Attr(name, AttrType.FLOAT, value)
    if isinstance(value, str):
        return Attr(name, AttrType.STRING, value)
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, (int, np.integer)) for v in value):
            return Attr(name, AttrType.INTS, [int(v) for v in value])
        return Attr(name, AttrType.FLOATS, [float(v) for v in value])
    raise TypeError(f"no attribute form for {value!r}")


def constant_array(value: Value | None) -> np.ndarray | None:
    """The array a value always holds: an initializer or a Constant node's tensor."""
    if value is None:
        return None
    if value.const_value is not None and value.producer is None:
        try:
            return value.const_value.numpy()
        except Exception:  # noqa: BLE001 - e.g. external data that is not readable here
            return None
    producer = value.producer
    if producer is None or producer.op_type != "Constant" or producer.domain != "":
        return None
    for name, attr in producer.attributes.items():
        if attr.is_ref:
            return None
        if name == "value" and attr.type == AttrType.TENSOR:
            return attr.value.numpy()
        if name == "value_int":
            return np.asarray(attr.value, dtype=np.int64)
        if name == "value_ints":
            return np.asarray(attr.value, dtype=np.int64)
        if name == "value_float":
            return np.asarray(attr.value, dtype=np.float32)
        if name == "value_floats":
            return np.asarray(attr.value, dtype=np.float32)
    return None
