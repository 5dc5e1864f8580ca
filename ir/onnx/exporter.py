"""IR -> ModelProto.

Every message is rebuilt from the IR, so edits made by passes show up in the output. The
bookkeeping the importer left in ``proto_extras`` (see :mod:`.importer`) restores field presence
and the rarely used fields; verbatim fallbacks are used only while the IR object they describe
is unchanged.

Tensor data placement is delegated: without a writer (``to_onnx``) imported tensors are copied
as they came (external tensors stay references to their files); :func:`hcc.ir.onnx.save` passes a
writer that streams large tensors into a data file.
"""

from __future__ import annotations

from collections.abc import Iterator

from onnx import GraphProto, ModelProto, NodeProto

from .._attributes import AttrType, SparseTensor
from .._graph import Graph
from .._model import Function, Model
from .._nodes import Node, Value
from .._tensors import ExternalTensor, Tensor
from ._legacy_tags import INLINE_FLAG, fold_into_model
from ._legacy_tags import position as legacy_position
from ._proto_attrs import AttrWriter
from ._proto_tensor import write_embedded, write_external_ref
from ._proto_types import TypeCodec
from ._value_info import fingerprint, write_metadata, write_opsets, write_value_info


class Exporter(AttrWriter):
    def __init__(self, writer=None) -> None:
        self.types = TypeCodec()
        self.writer = writer
        self._fresh: dict[int, str] = {}
        self._taken: set[str] | None = None
        self._model: Model | None = None

    # -- names ----------------------------------------------------------------------------------

    def name_of(self, value: Value | None) -> str:
        if value is None:
            return ""
        name = value.name
        if name:
            return name
        if not value._uses and value._producer is not None:
            return ""  # an omitted optional output
        if value.proto_extras.get("empty_name"):
            return ""
        return self._fresh_name(value)

    def _fresh_name(self, value: Value) -> str:
        """A unique name for a value a pass left unnamed (the IR is not modified)."""
        fresh = self._fresh.get(id(value))
        if fresh is not None:
            return fresh
        if self._taken is None:
            self._taken = _all_names(self._model) if self._model is not None else set()
        n = len(self._fresh)
        while f"_hcc_v{n}" in self._taken:
            n += 1
        fresh = f"_hcc_v{n}"
        self._taken.add(fresh)
        self._fresh[id(value)] = fresh
        return fresh

    # -- tensors --------------------------------------------------------------------------------

    def tensor(self, tensor: Tensor, dst, name: str | None, initializer: bool) -> None:
        writer = self.writer
        if writer is not None:
            if writer.wants(tensor, initializer):
                writer.write(tensor, dst, name)
            else:
                write_embedded(tensor, dst, name)
        elif isinstance(tensor, ExternalTensor):
            write_external_ref(tensor, dst, name)
        else:
            write_embedded(tensor, dst, name)

    def sparse(self, sparse: SparseTensor, dst, presence, initializer: bool) -> None:
        has_values, has_indices = presence if presence is not None else (True, True)
        if has_values:
            self.tensor(sparse.values, dst.values, None, initializer)
        if has_indices:
            self.tensor(sparse.indices, dst.indices, None, initializer)
        dst.dims.extend(sparse.dims)

    # -- nodes ----------------------------------------------------------------------------------

    def node(self, node: Node, dst: NodeProto) -> None:
        name_of = self.name_of
        dst.input.extend([name_of(v) for v in node._inputs])
        dst.output.extend([name_of(v) for v in node._outputs])
        extras = node.proto_extras
        present = extras.get("present", ()) if extras else ()
        if node.name or "name" in present:
            dst.name = node.name
        if node.op_type or "op_type" in present:
            dst.op_type = node.op_type
        if node.domain or "domain" in present:
            dst.domain = node.domain
        if node.overload or "overload" in present:
            dst.overload = node.overload
        if node.doc_string or "doc_string" in present:
            dst.doc_string = node.doc_string
        attributes = node.attributes.values()
        if extras and "attribute_list" in extras:
            attributes = _kept_list(extras["attribute_list"], node.attributes)
        for attr in attributes:
            self.attr(attr, dst.attribute.add())
        if node.metadata_props:
            write_metadata(node.metadata_props, dst.metadata_props, extras)
        if extras and "device_configurations" in extras:
            for raw in extras["device_configurations"]:
                dst.device_configurations.add().ParseFromString(raw)

    # -- graphs ---------------------------------------------------------------------------------

    def value_info(self, value: Value, dst, overrides, kind: str, index: int) -> None:
        if overrides:
            kept = overrides.get((kind, index))
            if kept is not None and kept[0] is value and kept[1] == fingerprint(value):
                dst.ParseFromString(kept[2])
                return
        write_value_info(value, dst, self.types, self.name_of(value))

    def graph(self, graph: Graph, dst: GraphProto) -> None:
        extras = graph.proto_extras
        present = extras.get("present", ()) if extras else ()
        if graph.name or "name" in present:
            dst.name = graph.name
        if graph.doc_string or "doc_string" in present:
            dst.doc_string = graph.doc_string
        overrides = extras.get("value_info_overrides") if extras else None
        for i, value in enumerate(graph.inputs):
            self.value_info(value, dst.input.add(), overrides, "input", i)

        initializers = list(graph.initializers.values())
        for index, value in extras.get("extra_initializers", ()) if extras else ():
            initializers.insert(min(index, len(initializers)), value)
        for value in initializers:
            self.tensor(value.const_value, dst.initializer.add(), self.name_of(value), True)

        if graph.sparse_initializers:
            presence = {id(s): p for s, p in extras.get("sparse_presence", ())}
            for sparse in graph.sparse_initializers:
                self.sparse(sparse, dst.sparse_initializer.add(), presence.get(id(sparse)), False)

        node = self.node
        add = dst.node.add
        for n in graph._nodes:
            node(n, add())

        for i, value in enumerate(graph.outputs):
            self.value_info(value, dst.output.add(), overrides, "output", i)
        for i, value in enumerate(graph.value_info):
            self.value_info(value, dst.value_info.add(), overrides, "value_info", i)
        if extras and "quantization_annotation" in extras:
            for raw in extras["quantization_annotation"]:
                dst.quantization_annotation.add().ParseFromString(raw)
        if graph.metadata_props:
            write_metadata(graph.metadata_props, dst.metadata_props, extras)

    def function(self, function: Function, dst) -> None:
        extras = function.proto_extras
        present = extras.get("present", ()) if extras else ()
        if function.name or "name" in present:
            dst.name = function.name
        graph = function.graph
        dst.input.extend([self.name_of(v) for v in graph.inputs])
        dst.output.extend([self.name_of(v) for v in graph.outputs])
        dst.attribute.extend(function.attributes)
        defaults = function.attribute_defaults.values()
        if extras and "attribute_proto_list" in extras:
            defaults = _kept_list(extras["attribute_proto_list"], function.attribute_defaults)
        for attr in defaults:
            self.attr(attr, dst.attribute_proto.add())
        for n in graph._nodes:
            self.node(n, dst.node.add())
        if function.doc_string or "doc_string" in present:
            dst.doc_string = function.doc_string
        write_opsets(function.opset_imports, dst.opset_import, extras)
        if function.domain or "domain" in present:
            dst.domain = function.domain
        if function.overload or "overload" in present:
            dst.overload = function.overload
        overrides = graph.proto_extras.get("value_info_overrides")
        for i, value in enumerate(graph.value_info):
            self.value_info(value, dst.value_info.add(), overrides, "value_info", i)
        if function.metadata_props:
            write_metadata(function.metadata_props, dst.metadata_props, extras)

    # -- the model ------------------------------------------------------------------------------

    def model(self, model: Model) -> ModelProto:
        self._model = model
        dst = ModelProto()
        extras = model.proto_extras
        present = extras.get("present", ())
        if model.ir_version or "ir_version" in present:
            dst.ir_version = model.ir_version
        write_opsets(model.opset_imports, dst.opset_import, extras)
        for field in ("producer_name", "producer_version", "domain", "model_version", "doc_string"):
            value = getattr(model, field)
            if value or field in present:
                setattr(dst, field, value)
        graph = model.graph
        if not ("graph" in extras.get("absent", ()) and _is_empty(graph)):
            self.graph(graph, dst.graph)
        if model.metadata_props:
            write_metadata(model.metadata_props, dst.metadata_props, extras)
        for raw in extras.get("training_info", ()):
            dst.training_info.add().ParseFromString(raw)
        functions = model.functions.values()
        if "function_list" in extras:
            functions = _kept_functions(extras["function_list"], model.functions)
        for function in functions:
            self.function(function, dst.functions.add())
        for raw in extras.get("configuration", ()):
            dst.configuration.add().ParseFromString(raw)
        fold_into_model(dst, legacy_position(model), keep_inline=bool(extras.get(INLINE_FLAG)))
        return dst


def _kept_list(kept: list, current: dict) -> list:
    """A list the file had with repeated names, while the dict built from it is unchanged."""
    if {id(a) for a in current.values()} <= {id(a) for a in kept} and all(
        a.name in current for a in kept
    ):
        return kept
    return list(current.values())


def _kept_functions(kept: list, current: dict) -> list:
    if {id(f) for f in current.values()} <= {id(f) for f in kept} and all(
        f.identifier in current for f in kept
    ):
        return kept
    return list(current.values())


def _is_empty(graph: Graph) -> bool:
    return not (graph._nodes or graph.inputs or graph.outputs or graph.initializers or graph.name)


def _all_names(model: Model) -> set[str]:
    names: set[str] = set()
    for graph in model.graphs():
        for value in graph.values():
            names.add(value.name)
        for value in graph.outputs:
            names.add(value.name)
        for node in graph.nodes:
            for value in node.inputs:
                if value is not None:
                    names.add(value.name)
    return names


def iter_tensors(model: Model) -> Iterator[Tensor]:
    """Every tensor the model holds: initializers, sparse parts and attribute tensors."""
    for graph in model.graphs():
        for value in graph.initializers.values():
            yield value.const_value
        for _, value in graph.proto_extras.get("extra_initializers", ()):
            yield value.const_value
        for sparse in graph.sparse_initializers:
            yield sparse.values
            yield sparse.indices
        for node in graph.nodes:
            yield from _attr_tensors(node.attributes.values())
    for function in model.functions.values():
        yield from _attr_tensors(function.attribute_defaults.values())


def _attr_tensors(attrs) -> Iterator[Tensor]:
    for attr in attrs:
        value = attr.value
        if value is None:
            continue
        kind = attr.type
        if kind == AttrType.TENSOR:
            yield value
        elif kind == AttrType.TENSORS:
            yield from value
        elif kind == AttrType.SPARSE_TENSOR:
            yield value.values
            yield value.indices
        elif kind == AttrType.SPARSE_TENSORS:
            for sparse in value:
                yield sparse.values
                yield sparse.indices


def to_onnx(model: Model) -> ModelProto:
    return Exporter().model(model)
