"""Models and their model-local functions: the top of the IR."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ._attributes import Attr
from ._graph import Graph

if TYPE_CHECKING:
    from ._nodes import Node, Value


class Function:
    """A model-local function: a graph body plus its identity, attributes and opset imports.

    ``attributes`` names the attributes a call may set (without defaults); ``attribute_defaults``
    holds those declared with a default value.
    """

    def __init__(
        self,
        domain: str,
        name: str,
        graph: Graph,
        *,
        overload: str = "",
        attributes: Sequence[str] = (),
        attribute_defaults: Iterable[Attr] = (),
        opset_imports: dict[str, int] | None = None,
        doc_string: str = "",
        metadata_props: dict[str, str] | None = None,
    ) -> None:
        self.domain = domain
        self.name = name
        self.overload = overload
        self.graph = graph
        self.attributes: list[str] = list(attributes)
        self.attribute_defaults: dict[str, Attr] = {a.name: a for a in attribute_defaults}
        self.opset_imports: dict[str, int] = dict(opset_imports or {})
        self.doc_string = doc_string
        self.metadata_props: dict[str, str] = dict(metadata_props or {})
        self.meta: dict[str, Any] = {}
        self.proto_extras: dict[str, Any] = {}

    @property
    def identifier(self) -> tuple[str, str, str]:
        return (self.domain, self.name, self.overload)

    @property
    def inputs(self) -> list[Value]:
        return self.graph.inputs

    @property
    def outputs(self) -> list[Value]:
        return self.graph.outputs

    def __repr__(self) -> str:
        return f"Function({self.domain}::{self.name}, {len(self.graph)} nodes)"


class Model:
    """A whole model: the main graph, functions, opset imports and model-level metadata."""

    def __init__(
        self,
        graph: Graph,
        *,
        ir_version: int = 10,
        opset_imports: dict[str, int] | None = None,
        producer_name: str = "",
        producer_version: str = "",
        domain: str = "",
        model_version: int = 0,
        doc_string: str = "",
        metadata_props: dict[str, str] | None = None,
        functions: Iterable[Function] = (),
    ) -> None:
        self.graph = graph
        self.ir_version = ir_version
        self.opset_imports: dict[str, int] = dict(opset_imports or {})
        self.producer_name = producer_name
        self.producer_version = producer_version
        self.domain = domain
        self.model_version = model_version
        self.doc_string = doc_string
        self.metadata_props: dict[str, str] = dict(metadata_props or {})
        self.functions: dict[tuple[str, str, str], Function] = {}
        for function in functions:
            self.functions[function.identifier] = function
        self.meta: dict[str, Any] = {}
        self.proto_extras: dict[str, Any] = {}

    def graphs(self) -> Iterator[Graph]:
        """The main graph, function bodies and all their subgraphs."""
        yield from self.graph.subgraphs(include_self=True)
        for function in self.functions.values():
            yield from function.graph.subgraphs(include_self=True)

    def all_nodes(self) -> Iterator[Node]:
        for graph in self.graphs():
            yield from graph.nodes

    def __repr__(self) -> str:
        return f"Model(ir={self.ir_version}, opsets={self.opset_imports}, {self.graph!r})"
