"""Types of values a model does not record, from onnx's shape inference over the whole graph.

Files written without value_info (hand-made or older exporters) leave intermediate values
untyped; a piece cut at such a value would have an input without a type, which is invalid ONNX.
:func:`infer_types` runs ``onnx.shape_inference`` once over the model's top-level graph and
answers the IR types it found. Weights are never read: tensors above a small size are handed to
inference as external references carrying only dtype and dims; small ones (shape constants,
which make inferred shapes exact) keep their bytes. Symbolic dims stay symbolic.
"""

from __future__ import annotations

import onnx
import onnx.shape_inference

from .._model import Model
from .._nodes import Value
from .._types import Type
from ._proto_tensor import ProtoTensor, set_external_entries, write_header
from ._proto_types import type_from_proto
from .exporter import Exporter

_EMBED_ELEMENTS = 4096  # tensors up to this many elements are shown with their data
_NOWHERE = "hcc-shape-inference-no-data"


class _HeadersOnly:
    """An exporter writer that writes large tensors as external references without data."""

    def wants(self, tensor, initializer: bool) -> bool:
        unresolved = isinstance(tensor, ProtoTensor) and tensor.is_external
        return unresolved or tensor.size > _EMBED_ELEMENTS

    def write(self, tensor, dst, name: str | None) -> None:
        write_header(tensor, dst, name)
        set_external_entries(dst, _NOWHERE, 0, tensor.nbytes)


def infer_types(model: Model, values: list[Value]) -> dict[Value, Type]:
    """Inferred types of ``values`` (values of ``model``'s top-level graph); values inference
    says nothing about are left out. Never raises: inference is best effort."""
    exporter = Exporter(_HeadersOnly())
    try:
        proto = exporter.model(model)
        # The graph's own value_info is what is known already; inference adds the rest.
        inferred = onnx.shape_inference.infer_shapes(
            proto, check_type=False, strict_mode=False, data_prop=True
        )
    except Exception:  # noqa: BLE001 - a model inference cannot handle just stays untyped
        return {}
    graph = inferred.graph
    found = {}
    for info in [*graph.value_info, *graph.output, *graph.input]:
        if info.name and info.type.WhichOneof("value") is not None:
            found.setdefault(info.name, info.type)
    types = {}
    for value in values:
        proto_type = found.get(exporter.name_of(value))
        ir_type = type_from_proto(proto_type) if proto_type is not None else None
        if ir_type is not None:
            types[value] = ir_type
    return types
