"""ModelProto -> IR.

Everything a pass may edit becomes real IR data. What the IR does not model is kept in the
objects' ``proto_extras`` so that :mod:`.exporter` reproduces the file exactly:

``present``   optional fields the file set to their default value ('' or 0), which the canonical
              export would leave out;
``absent``    fields the canonical export would write but the file left out;
``metadata``  (dict, entries) when metadata_props had duplicate keys or unset key/value fields;
``type``      (IR type, bytes) for a TypeProto that is not in canonical form;
``raw``       (snapshot, bytes) for an attribute too odd to rebuild (re-emitted while unchanged);
other keys    serialized bytes of rarely used messages (training_info, configuration,
              device_configurations, quantization_annotation).

Names are resolved lexically: a subgraph reading an outer name gets the outer graph's Value
object. A name used before the node that defines it (unsorted graphs) gets a placeholder Value
that the defining node then adopts as its output.
"""

from __future__ import annotations

from onnx import GraphProto, ModelProto, TensorProto

from .._attributes import AttrType, SparseTensor
from .._graph import Graph
from .._model import Function, Model
from .._nodes import Node, Value
from .._scope import MODULE_KEY, TAG_KEY, Scope
from ._legacy_tags import INLINE_FLAG, had_inline_metadata, unfold_from_model
from ._proto_attrs import AttrReader, text
from ._proto_tensor import EXTERNAL, ImportedExternalTensor, ProtoTensor
from ._proto_types import TypeCodec
from ._value_info import fingerprint, value_info_bytes


def _present_defaults(proto, *fields: str) -> tuple[str, ...]:
    """Which of ``fields`` (optional scalars) are set explicitly to their default value."""
    return tuple(f for f in fields if not getattr(proto, f) and proto.HasField(f))


class _Scope:
    """Names visible in one graph while it is being read."""

    __slots__ = ("names", "later", "pending")

    def __init__(self, later: set[str]) -> None:
        self.names: dict[str, Value] = {}
        self.later = later  # names some node of this graph defines
        self.pending: dict[str, Value] = {}  # used before their defining node


class Importer(AttrReader):
    def __init__(self, base_dir: str | None) -> None:
        self.base_dir = base_dir
        self.types = TypeCodec()
        self.scopes: list[_Scope] = []
        # Values that already took their name/type/doc/metadata from some ValueInfoProto.
        self.described: set[int] = set()

    # -- names --------------------------------------------------------------------------------

    def resolve(self, name: str) -> Value:
        for scope in reversed(self.scopes):
            value = scope.names.get(name)
            if value is not None:
                return value
            if name in scope.later:
                value = scope.pending.get(name)
                if value is None:
                    value = scope.pending[name] = Value(name)
                return value
        # Defined nowhere (a dangling reference): one Value shared by all its readers.
        value = Value(name)
        self.scopes[-1].names[name] = value
        return value

    # -- small pieces ---------------------------------------------------------------------------

    def metadata(self, entries, owner) -> dict[str, str]:
        if not len(entries):
            return {}
        result: dict[str, str] = {}
        canonical = True
        for entry in entries:
            key = text(entry.key, "metadata key")
            if key in result or not (entry.HasField("key") and entry.HasField("value")):
                canonical = False
            result[key] = text(entry.value, f"metadata {key!r} value")
        if not canonical:
            owner.proto_extras["metadata"] = (
                dict(result),
                [entry.SerializeToString() for entry in entries],
            )
        return result

    def opsets(self, entries, owner) -> dict[str, int]:
        result: dict[str, int] = {}
        canonical = True
        for entry in entries:
            domain = text(entry.domain, "opset domain")
            if domain in result or not (entry.HasField("domain") and entry.HasField("version")):
                canonical = False
            result[domain] = entry.version
        if not canonical:
            owner.proto_extras["opset_import"] = (
                dict(result),
                [entry.SerializeToString() for entry in entries],
            )
        return result

    def tensor(self, proto: TensorProto):
        if proto.data_location == EXTERNAL and self.base_dir is not None:
            return ImportedExternalTensor(proto, self.base_dir)
        return ProtoTensor(proto)

    def sparse(self, proto) -> tuple[SparseTensor, tuple[bool, bool]]:
        sparse = SparseTensor(self.tensor(proto.values), self.tensor(proto.indices), proto.dims)
        return sparse, (proto.HasField("values"), proto.HasField("indices"))

    def describe(self, value: Value, info, graph: Graph, kind: str, index: int) -> None:
        """Apply a ValueInfoProto to ``value``; later, differing mentions are kept verbatim."""
        if id(value) in self.described:
            raw = info.SerializeToString()
            if value_info_bytes(value, self.types) != raw:
                overrides = graph.proto_extras.setdefault("value_info_overrides", {})
                overrides[(kind, index)] = (value, fingerprint(value), raw)
            return
        self.described.add(id(value))
        extras = value.proto_extras
        if info.HasField("type"):
            ir_type, raw_type = self.types.decode(info.type)
            value.type = ir_type
            if raw_type is not None:
                extras["type"] = (ir_type, raw_type)
        doc = text(info.doc_string, "doc string")
        if doc:
            value.doc_string = doc
        elif info.HasField("doc_string"):
            extras["present"] = ("doc_string",)
        if not info.HasField("name"):
            extras["absent"] = ("name",)
        if len(info.metadata_props):
            value.metadata_props = self.metadata(info.metadata_props, value)

    # -- nodes ----------------------------------------------------------------------------------

    def node(self, proto) -> Node:
        inputs = [self.resolve(text(n, "value name")) if n else None for n in proto.input]
        attributes = [self.attr(a) for a in proto.attribute]
        scope = self.scopes[-1]
        outputs = []
        for name in proto.output:
            if not name:
                outputs.append(Value(""))  # an omitted optional output
                continue
            text(name, "value name")
            value = scope.pending.pop(name, None) if scope.pending else None
            if value is None:
                value = Value(name)
            outputs.append(value)
        op_type = text(proto.op_type, "op type")
        name = text(proto.name, "node name")
        domain = text(proto.domain, "domain")
        overload = text(proto.overload, "overload")
        doc = text(proto.doc_string, "doc string")
        node = Node(
            domain,
            op_type,
            inputs,
            outputs=outputs,
            name=name,
            overload=overload,
            doc_string=doc,
        )
        # Register the outputs only now: a node's subgraphs cannot see its own outputs.
        names = scope.names
        for value in outputs:
            if value.name:
                names[value.name] = value
        attr_map = {}
        for attr in attributes:
            if attr.name in attr_map:
                node.proto_extras["attribute_list"] = attributes
            attr_map[attr.name] = attr
            if attr.type == AttrType.GRAPH and attr.value is not None:
                attr.value.parent = node
            elif attr.type == AttrType.GRAPHS:
                for graph in attr.value or ():
                    graph.parent = node
        node.attributes = attr_map
        present = _present_defaults(proto, "name", "op_type", "domain", "overload", "doc_string")
        if present:
            node.proto_extras["present"] = present
        if len(proto.metadata_props):
            metadata = self.metadata(proto.metadata_props, node)
            node.metadata_props = metadata
            tag = metadata.get(TAG_KEY)
            if tag is not None:
                try:
                    node._set_scope_quietly(Scope.from_tag(tag, metadata.get(MODULE_KEY)))
                except (ValueError, TypeError):
                    pass  # an unreadable tag: the node keeps the unknown scope
        if len(proto.device_configurations):
            node.proto_extras["device_configurations"] = [
                c.SerializeToString() for c in proto.device_configurations
            ]
        return node

    # -- graphs ---------------------------------------------------------------------------------

    def graph(self, proto: GraphProto) -> Graph:
        graph = Graph(
            name=text(proto.name, "graph name"), doc_string=text(proto.doc_string, "doc string")
        )
        extras = graph.proto_extras
        present = _present_defaults(proto, "name", "doc_string")
        if present:
            extras["present"] = present
        scope = _Scope({o for n in proto.node for o in n.output})
        self.scopes.append(scope)
        try:
            self._graph_body(proto, graph, scope)
        finally:
            self.scopes.pop()
        return graph

    def _graph_body(self, proto: GraphProto, graph: Graph, scope: _Scope) -> None:
        names = scope.names
        extras = graph.proto_extras
        inputs_by_name: dict[str, Value] = {}
        for i, info in enumerate(proto.input):
            value = _named(info.name)
            self.describe(value, info, graph, "input", i)
            value.meta["_graph"] = graph
            graph.inputs.append(value)
            if value.name:
                names[value.name] = value
                inputs_by_name.setdefault(value.name, value)

        extra_initializers = []
        for i, tensor_proto in enumerate(proto.initializer):
            name = text(tensor_proto.name, "initializer name")
            tensor = self.tensor(tensor_proto)
            value = inputs_by_name.get(name)
            if value is None or value.const_value is not None:
                value = _named(name)
            value.const_value = tensor
            value.meta["_graph"] = graph
            if not name or name in graph.initializers:
                # Unnamed or repeated initializers (malformed, but kept): outside the dict.
                extra_initializers.append((i, value))
                continue
            graph.initializers[name] = value
            if name not in inputs_by_name:
                names[name] = value
        if extra_initializers:
            extras["extra_initializers"] = extra_initializers

        for sparse_proto in proto.sparse_initializer:
            sparse, presence = self.sparse(sparse_proto)
            graph.sparse_initializers.append(sparse)
            if presence != (True, True):
                extras.setdefault("sparse_presence", []).append((sparse, presence))
            name = sparse.values.name
            if name and name not in names:
                value = Value(name)
                value.meta["_graph"] = graph
                value.meta["sparse_initializer"] = sparse
                names[name] = value

        append = graph.append
        node = self.node
        for node_proto in proto.node:
            append(node(node_proto))

        for i, info in enumerate(proto.value_info):
            value = names.get(info.name)
            if value is None:
                # value_info about a name this graph does not define: keep it as a loose Value.
                value = _named(info.name)
            self.describe(value, info, graph, "value_info", i)
            graph.value_info.append(value)

        for i, info in enumerate(proto.output):
            value = self.resolve(info.name) if info.name else _named("")
            self.describe(value, info, graph, "output", i)
            graph.outputs.append(value)

        if len(proto.quantization_annotation):
            extras["quantization_annotation"] = [
                a.SerializeToString() for a in proto.quantization_annotation
            ]
        if len(proto.metadata_props):
            graph.metadata_props = self.metadata(proto.metadata_props, graph)

    # -- functions and the model ----------------------------------------------------------------

    def function(self, proto) -> Function:
        graph = Graph()
        scope = _Scope({o for n in proto.node for o in n.output})
        saved, self.scopes = self.scopes, [scope]  # a function body sees only its own names
        try:
            for name in proto.input:
                value = _named(name)
                value.meta["_graph"] = graph
                graph.inputs.append(value)
                if name:
                    scope.names[name] = value
            for node_proto in proto.node:
                graph.append(self.node(node_proto))
            for i, info in enumerate(proto.value_info):
                value = scope.names.get(info.name) or _named(info.name)
                self.describe(value, info, graph, "value_info", i)
                graph.value_info.append(value)
            for name in proto.output:
                graph.outputs.append(
                    self.resolve(text(name, "function output name")) if name else _named("")
                )
        finally:
            self.scopes = saved
        function = Function(
            text(proto.domain, "function domain"),
            text(proto.name, "function name"),
            graph,
            overload=proto.overload,
            attributes=list(proto.attribute),
            attribute_defaults=[],
            doc_string=text(proto.doc_string, "doc string"),
        )
        defaults = [self.attr(a) for a in proto.attribute_proto]
        function.attribute_defaults = {a.name: a for a in defaults}
        if len(function.attribute_defaults) != len(defaults):
            function.proto_extras["attribute_proto_list"] = defaults
        function.opset_imports = self.opsets(proto.opset_import, function)
        if len(proto.metadata_props):
            function.metadata_props = self.metadata(proto.metadata_props, function)
        present = _present_defaults(proto, "name", "domain", "overload", "doc_string")
        if present:
            function.proto_extras["present"] = present
        return function

    def model(self, proto: ModelProto) -> Model:
        if proto.HasField("graph"):
            graph = self.graph(proto.graph)
        else:
            graph = Graph()
        functions = [self.function(f) for f in proto.functions]
        model = Model(
            graph,
            ir_version=proto.ir_version,
            producer_name=proto.producer_name,
            producer_version=proto.producer_version,
            domain=proto.domain,
            model_version=proto.model_version,
            doc_string=text(proto.doc_string, "doc string"),
            functions=functions,
        )
        extras = model.proto_extras
        if not proto.HasField("graph"):
            extras["absent"] = ("graph",)
        if len(model.functions) != len(functions):
            extras["function_list"] = functions
        model.opset_imports = self.opsets(proto.opset_import, model)
        if len(proto.metadata_props):
            model.metadata_props = self.metadata(proto.metadata_props, model)
        present = _present_defaults(
            proto,
            "ir_version",
            "producer_name",
            "producer_version",
            "domain",
            "model_version",
            "doc_string",
        )
        if present:
            extras["present"] = present
        if len(proto.training_info):
            extras["training_info"] = [t.SerializeToString() for t in proto.training_info]
        if len(proto.configuration):
            extras["configuration"] = [c.SerializeToString() for c in proto.configuration]
        if had_inline_metadata(proto):
            extras[INLINE_FLAG] = True
        unfold_from_model(model)
        return model


def _named(name: str) -> Value:
    value = Value(text(name, "value name"))
    if not name:
        # The file really has an empty name here: the exporter must not invent one.
        value.proto_extras["empty_name"] = True
    return value


def from_onnx(proto: ModelProto, *, base_dir: str | None = None) -> Model:
    return Importer(base_dir).model(proto)
