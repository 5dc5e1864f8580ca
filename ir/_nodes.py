"""Values and nodes, and the use-def links between them.

Use-def information is kept current by the mutation methods of :class:`Node`, :class:`Value`
and :class:`~hcc.ir._graph.Graph` (``Node.replace_input_with``, ``Value.replace_all_uses_with``,
``Graph.append`` / ``insert_before`` / ``remove`` ...); code outside ``hcc.ir`` changes a graph
only through them, never by assigning to private fields.

Every node has exactly one :class:`Scope`. Setting ``node.scope`` also writes the standard
storage (``metadata_props`` keys ``hcc.tag``, ``hcc.module`` and ``namespace``), so the stored
tags and the IR's scopes cannot drift apart.

``proto_extras`` on each IR object is owned by :mod:`hcc.ir.onnx`: it records details of the
file format that the IR does not model (field presence, rarely used fields) so export is
lossless. Passes leave it alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ._attributes import Attr, AttrType
from ._dtypes import DataType
from ._scope import MODULE_KEY, NAMESPACE_KEY, TAG_KEY, Scope, namespace_of
from ._tensors import Tensor
from ._types import TensorType, Type

if TYPE_CHECKING:
    from ._graph import Graph


class Value:
    """A tensor (or sequence, map, ...) flowing between nodes.

    A value is produced by at most one node output (``producer``/``index``), or is a graph input
    or initializer (then ``producer`` is None). ``uses`` lists every (node, input index) that
    reads it, in the order the uses were made; nodes of subgraphs that read an outer value are
    listed too. An initializer has ``const_value`` set.
    """

    __slots__ = (
        "name",
        "type",
        "doc_string",
        "metadata_props",
        "const_value",
        "meta",
        "proto_extras",
        "_producer",
        "_index",
        "_uses",
        "__weakref__",
    )

    def __init__(
        self,
        name: str = "",
        type: Type | None = None,
        *,
        const_value: Tensor | None = None,
        doc_string: str = "",
        metadata_props: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.type = type
        self.doc_string = doc_string
        self.metadata_props: dict[str, str] = dict(metadata_props or {})
        self.const_value = const_value
        self.meta: dict[str, Any] = {}
        self.proto_extras: dict[str, Any] = {}
        self._producer: Node | None = None
        self._index: int | None = None
        self._uses: dict[tuple[Node, int], None] = {}

    # -- def-use --------------------------------------------------------------------------------

    @property
    def producer(self) -> Node | None:
        return self._producer

    @property
    def index(self) -> int | None:
        """Which output of the producer this value is."""
        return self._index

    @property
    def uses(self) -> list[tuple[Node, int]]:
        return list(self._uses)

    def consumers(self) -> list[Node]:
        """Nodes reading this value, each once, in order of first use."""
        return list(dict.fromkeys(node for node, _ in self._uses))

    def has_uses(self) -> bool:
        return bool(self._uses)

    def replace_all_uses_with(self, other: Value, *, graph_outputs: bool = True) -> None:
        """Make every reader of this value read ``other`` instead.

        With ``graph_outputs`` the replacement also happens in the output lists of graphs
        (the owning graph and any subgraph) that list this value.
        """
        if other is self:
            return
        for node, idx in list(self._uses):
            node.replace_input_with(idx, other)
        if graph_outputs:
            graph = self.graph
            if graph is not None:
                for g in graph.root().subgraphs(include_self=True):
                    g.outputs[:] = [other if v is self else v for v in g.outputs]

    @property
    def graph(self) -> Graph | None:
        """The graph that defines this value, when known."""
        if self._producer is not None:
            return self._producer.graph
        return self.meta.get("_graph")

    # -- convenience ----------------------------------------------------------------------------

    @property
    def dtype(self) -> DataType | int | None:
        if isinstance(self.type, TensorType):
            return self.type.dtype
        if self.const_value is not None:
            return self.const_value.dtype
        return None

    @property
    def shape(self) -> tuple | None:
        if isinstance(self.type, TensorType):
            return self.type.shape
        if self.const_value is not None:
            return self.const_value.shape
        return None

    @property
    def is_initializer(self) -> bool:
        return self.const_value is not None and self._producer is None

    def scopes_of_uses(self) -> list[Scope]:
        """Every distinct scope that reads this value (an initializer's owners), in order."""
        return list(dict.fromkeys(node.scope for node, _ in self._uses))

    def __repr__(self) -> str:
        return f"Value({self.name!r}, {self.type})"


class Node:
    """One operator call: inputs, outputs, attributes, and the scope it came from."""

    __slots__ = (
        "domain",
        "op_type",
        "overload",
        "name",
        "doc_string",
        "attributes",
        "metadata_props",
        "meta",
        "proto_extras",
        "_inputs",
        "_outputs",
        "_graph",
        "_scope",
        "__weakref__",
    )

    def __init__(
        self,
        domain: str,
        op_type: str,
        inputs: Sequence[Value | None] = (),
        *,
        attributes: Iterable[Attr] | dict[str, Attr] = (),
        outputs: Sequence[Value] | None = None,
        num_outputs: int = 1,
        name: str = "",
        overload: str = "",
        doc_string: str = "",
        metadata_props: dict[str, str] | None = None,
        scope: Scope | None = None,
    ) -> None:
        self.domain = domain
        self.op_type = op_type
        self.overload = overload
        self.name = name
        self.doc_string = doc_string
        if isinstance(attributes, dict):
            attributes = attributes.values()
        self.attributes: dict[str, Attr] = {a.name: a for a in attributes}
        self.metadata_props: dict[str, str] = dict(metadata_props or {})
        self.meta: dict[str, Any] = {}
        self.proto_extras: dict[str, Any] = {}
        self._graph: Graph | None = None
        if outputs is None:
            outputs = [Value() for _ in range(num_outputs)]
        # Check before registering anything, so a refused node leaves no uses behind.
        for value in outputs:
            if value._producer is not None:
                raise ValueError(f"value {value.name!r} already has a producer")
        self._inputs: list[Value | None] = []
        for value in inputs:
            self._inputs.append(value)
            if value is not None:
                value._uses[(self, len(self._inputs) - 1)] = None
        self._outputs: list[Value] = []
        for i, value in enumerate(outputs):
            value._producer, value._index = self, i
            self._outputs.append(value)
        self._claim_subgraphs()
        self._scope = Scope.unknown()
        if scope is not None:
            self.scope = scope

    # -- scope ----------------------------------------------------------------------------------

    @property
    def scope(self) -> Scope:
        return self._scope

    @scope.setter
    def scope(self, scope: Scope) -> None:
        if not isinstance(scope, Scope):
            raise TypeError(f"a node's scope must be a Scope, not {type(scope).__name__}")
        self._scope = scope
        if scope.is_unknown:
            for key in (TAG_KEY, MODULE_KEY, NAMESPACE_KEY):
                self.metadata_props.pop(key, None)
        else:
            self.metadata_props[TAG_KEY] = scope.tag
            self.metadata_props[MODULE_KEY] = scope.module_path
            self.metadata_props[NAMESPACE_KEY] = namespace_of(scope)

    def _set_scope_quietly(self, scope: Scope) -> None:
        """Set the scope without touching metadata (the importer: it already holds the tags)."""
        self._scope = scope

    # -- inputs and outputs ---------------------------------------------------------------------

    @property
    def inputs(self) -> tuple[Value | None, ...]:
        return tuple(self._inputs)

    @property
    def outputs(self) -> tuple[Value, ...]:
        return tuple(self._outputs)

    @property
    def graph(self) -> Graph | None:
        return self._graph

    def replace_input_with(self, index: int, value: Value | None) -> None:
        old = self._inputs[index]
        if old is value:
            return
        if old is not None:
            old._uses.pop((self, index), None)
        self._inputs[index] = value
        if value is not None:
            value._uses[(self, index)] = None

    def set_inputs(self, values: Sequence[Value | None]) -> None:
        """Replace the whole input list."""
        self._detach_inputs()
        self._inputs = list(values)
        for i, value in enumerate(self._inputs):
            if value is not None:
                value._uses[(self, i)] = None

    def append_input(self, value: Value | None) -> None:
        self._inputs.append(value)
        if value is not None:
            value._uses[(self, len(self._inputs) - 1)] = None

    def append_output(self, value: Value | None = None) -> Value:
        value = value if value is not None else Value()
        if value._producer is not None:
            raise ValueError(f"value {value.name!r} already has a producer")
        value._producer, value._index = self, len(self._outputs)
        self._outputs.append(value)
        return value

    def _detach_inputs(self) -> None:
        for i, value in enumerate(self._inputs):
            if value is not None:
                value._uses.pop((self, i), None)

    def _attach_inputs(self) -> None:
        for i, value in enumerate(self._inputs):
            if value is not None:
                value._uses[(self, i)] = None

    def _claim_subgraphs(self) -> None:
        """Point the ``parent`` of every subgraph in the attributes at this node."""
        for sub in self.subgraphs():
            sub.parent = self

    # -- attributes and subgraphs ---------------------------------------------------------------

    def attr(self, name: str, default: Any = None) -> Any:
        """The value of attribute ``name``, or ``default`` if the node has none."""
        attribute = self.attributes.get(name)
        return default if attribute is None else attribute.value

    def subgraphs(self) -> Iterator[Graph]:
        for attribute in self.attributes.values():
            if attribute.type == AttrType.GRAPH and attribute.value is not None:
                yield attribute.value
            elif attribute.type == AttrType.GRAPHS:
                yield from attribute.value

    def __repr__(self) -> str:
        domain = f"{self.domain}::" if self.domain else ""
        return f"Node({self.name!r}, {domain}{self.op_type}, scope={self._scope.tag!r})"
