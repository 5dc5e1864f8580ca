"""A readable, deterministic text form of the IR (what ``--dump-after`` writes).

The form is MLIR-like, one node per line with its scope tag::

    model ir_version=10 opset_imports={"": 18}
    graph main(
      %x: float[2,3],
      %c: bool[]
    ) {
      %w: float[3] = initializer [1.0, 2.0, 3.0]
      %0: float[2,3] = Add(%x, %w)  {axis=1}  @ /Net/Block.0  # add
      %y = If(%c)  @ /Net
        then_branch: graph then() {
          %t = Identity(%0)  @ /Net
          return %t
        }
        ...
      return %0: float[2,3], %y
    }

A node line is ``outputs = domain::Op(inputs)  {attributes}  @ tag  # name``: output types
follow ``:`` when known, ``none`` is an omitted optional input, ``@ ?`` the unknown scope, and
graph attributes follow as nested blocks. Unnamed values are numbered ``%0``, ``%1``, ... in
order of first appearance (numbers that are real names are skipped). Tensor data is shown only
for tiny in-memory tensors; external data is never read.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, TextIO

from ._attributes import Attr, AttrType, SparseTensor
from ._graph import Graph
from ._model import Function, Model
from ._nodes import Node, Value
from ._tensors import ArrayTensor, ExternalTensor, Tensor
from ._types import TensorType

__all__ = ["format_function", "format_graph", "format_model", "format_node", "print_ir"]

# Tensors with at most this many elements show their values.
TINY = 8
# Model metadata values longer than this are shown as their length (hcc.hierarchy is JSON).
_LONG_METADATA = 60
_INDENT = "  "
_PLAIN_NAME = re.compile(r"^[\w.:/\-]+$")


def format_model(model: Model) -> str:
    """The whole model: header, main graph, then functions."""
    printer = _Printer(model.graphs())
    return printer.model(model)


def format_graph(graph: Graph) -> str:
    """One graph with its subgraphs."""
    printer = _Printer(graph.subgraphs(include_self=True))
    printer.graph(graph, "graph", 0)
    return printer.text()


def format_function(function: Function) -> str:
    """One function: signature, attributes, opsets and body."""
    printer = _Printer(function.graph.subgraphs(include_self=True))
    printer.function(function)
    return printer.text()


def format_node(node: Node) -> str:
    """One node's line (its subgraphs, if any, follow as blocks)."""
    printer = _Printer([g for sub in node.subgraphs() for g in sub.subgraphs(include_self=True)])
    printer.node(node, 0)
    return printer.text()


def print_ir(obj: Model | Graph | Function | Node, file: TextIO | None = None) -> None:
    """Print the text form of a model, graph, function or node (to stdout by default)."""
    if isinstance(obj, Model):
        text = format_model(obj)
    elif isinstance(obj, Graph):
        text = format_graph(obj)
    elif isinstance(obj, Function):
        text = format_function(obj)
    elif isinstance(obj, Node):
        text = format_node(obj)
    else:
        raise TypeError(f"cannot print a {type(obj).__name__}")
    print(text, end="", file=file if file is not None else sys.stdout)


def _name(name: str) -> str:
    """A name as printed: bare when it is plain, JSON-quoted when it holds spaces or symbols."""
    return name if _PLAIN_NAME.match(name) else json.dumps(name, ensure_ascii=False)


class _Printer:
    def __init__(self, graphs) -> None:
        self.lines: list[str] = []
        self.names: dict[int, str] = {}
        self.next_number = 0
        # Real names, so that a numbered name never collides with one (TorchScript exports name
        # values "123").
        self.taken: set[str] = set()
        for graph in graphs:
            for value in [*graph.inputs, *graph.initializers.values(), *graph.outputs]:
                self.taken.add(value.name)
            for node in graph._nodes:
                for value in (*node._inputs, *node._outputs):
                    if value is not None:
                        self.taken.add(value.name)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

    def emit(self, depth: int, line: str) -> None:
        self.lines.append(_INDENT * depth + line)

    # -- values -----------------------------------------------------------------------------------

    def ref(self, value: Value | None) -> str:
        if value is None:
            return "none"
        if value.name:
            return "%" + _name(value.name)
        name = self.names.get(id(value))
        if name is None:
            while str(self.next_number) in self.taken:
                self.next_number += 1
            name = self.names[id(value)] = f"%{self.next_number}"
            self.next_number += 1
        return name

    def typed(self, value: Value) -> str:
        return self.ref(value) + (f": {value.type}" if value.type is not None else "")

    # -- model, functions, graphs -----------------------------------------------------------------

    def model(self, model: Model) -> str:
        header = [
            f"model ir_version={model.ir_version}",
            f"opset_imports={_opsets(model.opset_imports)}",
        ]
        for label, text in [
            ("producer", " ".join(p for p in (model.producer_name, model.producer_version) if p)),
            ("domain", model.domain),
        ]:
            if text:
                header.append(f"{label}={json.dumps(text, ensure_ascii=False)}")
        if model.model_version:
            header.append(f"model_version={model.model_version}")
        self.emit(0, " ".join(header))
        if model.metadata_props:
            self.emit(0, f"metadata {_metadata(model.metadata_props)}")
        self.graph(model.graph, "graph", 0)
        for function in model.functions.values():
            self.function(function)
        return self.text()

    def function(self, function: Function) -> None:
        domain = f"{function.domain}::" if function.domain else ""
        overload = f":{function.overload}" if function.overload else ""
        declared = [_name(a) for a in function.attributes]
        declared += [
            f"{_name(a.name)}={self.attr_value(a)}" for a in function.attribute_defaults.values()
        ]
        suffix = f" attributes [{', '.join(declared)}]" if declared else ""
        if function.opset_imports:
            suffix += f" opset_imports={_opsets(function.opset_imports)}"
        header = f"function {domain}{_name(function.name)}{overload}"
        self.body(function.graph, 0, header=header, suffix=suffix)

    def graph(self, graph: Graph, label: str, depth: int) -> None:
        name = _name(graph.name) if graph.name else json.dumps("")
        self.body(graph, depth, header=f"{label} {name}")

    def body(self, graph: Graph, depth: int, *, header: str, suffix: str = "") -> None:
        """``header(inputs)suffix {``, initializers, nodes, ``return outputs``, ``}``."""
        if graph.inputs:
            self.emit(depth, f"{header}(")
            last = len(graph.inputs) - 1
            for i, value in enumerate(graph.inputs):
                self.emit(depth + 1, self.typed(value) + ("," if i < last else ""))
            self.emit(depth, f"){suffix} {{")
        else:
            self.emit(depth, f"{header}(){suffix} {{")
        for value in graph.initializers.values():
            self.emit(depth + 1, self.initializer(value))
        for sparse in graph.sparse_initializers:
            self.emit(depth + 1, self.sparse_initializer(sparse))
        for node in graph._nodes:
            self.node(node, depth + 1)
        outputs = ", ".join(self.typed(v) for v in graph.outputs)
        self.emit(depth + 1, f"return {outputs}".rstrip())
        self.emit(depth, "}")

    def initializer(self, value: Value) -> str:
        tensor = value.const_value
        if tensor is None:  # broken IR; print what there is rather than fail
            return f"{self.typed(value)} = initializer <no data>"
        kind = TensorType(tensor.dtype, tensor.shape)
        return f"{self.ref(value)}: {kind} = initializer {_tensor_data(tensor)}"

    def sparse_initializer(self, sparse: SparseTensor) -> str:
        kind = TensorType(sparse.values.dtype, sparse.dims)
        name = "%" + _name(sparse.values.name) if sparse.values.name else "%<unnamed>"
        return f"{name}: sparse {kind} = initializer <{sparse.values.size} non-zero>"

    # -- nodes ------------------------------------------------------------------------------------

    def node(self, node: Node, depth: int) -> None:
        inputs = ", ".join(self.ref(v) for v in node._inputs)
        domain = f"{node.domain}::" if node.domain else ""
        overload = f":{node.overload}" if node.overload else ""
        line = f"{domain}{node.op_type}{overload}({inputs})"
        if node._outputs:
            line = ", ".join(self.typed(v) for v in node._outputs) + " = " + line
        plain = [a for a in node.attributes.values() if not _is_graph(a)]
        if plain:
            line += "  {" + ", ".join(f"{_name(a.name)}={self.attr_value(a)}" for a in plain) + "}"
        scope = node.scope
        line += "  @ " + (scope.tag if not scope.is_unknown else "?")
        if node.name:
            line += f"  # {node.name}"
        self.emit(depth, line)
        for attribute in node.attributes.values():
            if attribute.type == AttrType.GRAPH and attribute.value is not None:
                self.graph(attribute.value, f"{_name(attribute.name)}: graph", depth + 1)
            elif attribute.type == AttrType.GRAPHS:
                for k, sub in enumerate(attribute.value):
                    self.graph(sub, f"{_name(attribute.name)}[{k}]: graph", depth + 1)

    def attr_value(self, attribute: Attr) -> str:
        if attribute.is_ref:
            return f"ref({_name(attribute.ref_attr_name or '')})"
        kind, value = attribute.type, attribute.value
        if kind == AttrType.INT:
            return str(int(value))
        if kind == AttrType.FLOAT:
            return _float(value)
        if kind == AttrType.STRING:
            return _string(value)
        if kind == AttrType.INTS:
            return "[" + ", ".join(str(int(v)) for v in value) + "]"
        if kind == AttrType.FLOATS:
            return "[" + ", ".join(_float(v) for v in value) + "]"
        if kind == AttrType.STRINGS:
            return "[" + ", ".join(_string(v) for v in value) + "]"
        if kind == AttrType.TENSOR:
            return _tensor_attr(value)
        if kind == AttrType.TENSORS:
            return "[" + ", ".join(_tensor_attr(t) for t in value) + "]"
        if kind == AttrType.SPARSE_TENSOR:
            return f"sparse_tensor<{TensorType(value.values.dtype, value.dims)}>"
        if kind == AttrType.SPARSE_TENSORS:
            kinds = (f"sparse_tensor<{TensorType(v.values.dtype, v.dims)}>" for v in value)
            return "[" + ", ".join(kinds) + "]"
        if kind == AttrType.TYPE_PROTO:
            return f"type<{value}>"
        if kind == AttrType.TYPE_PROTOS:
            return "[" + ", ".join(f"type<{v}>" for v in value) + "]"
        return repr(value)


def _is_graph(attribute: Attr) -> bool:
    return attribute.type in (AttrType.GRAPH, AttrType.GRAPHS) and not attribute.is_ref


def _opsets(opsets: dict[str, int]) -> str:
    # Sorted, so two models that differ only in import order print alike.
    return "{" + ", ".join(f"{json.dumps(d)}: {v}" for d, v in sorted(opsets.items())) + "}"


def _metadata(props: dict[str, str]) -> str:
    shown = []
    for key, value in props.items():
        text = (
            json.dumps(value, ensure_ascii=False)
            if len(value) <= _LONG_METADATA
            else (f"<{len(value)} chars>")
        )
        shown.append(f"{json.dumps(key, ensure_ascii=False)}: {text}")
    return "{" + ", ".join(shown) + "}"


def _float(x: Any) -> str:
    text = format(float(x), ".7g")
    # Keep floats recognisable next to ints: 1.0, not 1.
    return text + ".0" if text.lstrip("-").isdigit() else text


def _string(s: Any) -> str:
    if isinstance(s, bytes):
        s = s.decode("utf-8", errors="backslashreplace")
    return json.dumps(s, ensure_ascii=False)


def _element(x: Any) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return _float(x)
    if isinstance(x, (bytes, str)):
        return _string(x)
    return str(x)


def _nested(items: Any) -> str:
    if isinstance(items, list):
        return "[" + ", ".join(_nested(i) for i in items) + "]"
    return _element(items)


def _tensor_data(tensor: Tensor) -> str:
    """Values of a tiny in-memory tensor; otherwise where or how big the data is."""
    if isinstance(tensor, ExternalTensor):
        location = json.dumps(tensor.location)
        return f"external({location}, offset={tensor.offset}, length={tensor.length})"
    if isinstance(tensor, ArrayTensor) and tensor.size <= TINY:
        return _nested(tensor.numpy().tolist())
    if isinstance(tensor, ArrayTensor):
        return f"<{tensor.nbytes} bytes>"
    return f"<{type(tensor).__name__}>"


def _tensor_attr(tensor: Tensor) -> str:
    head = f"tensor<{TensorType(tensor.dtype, tensor.shape)}>"
    data = _tensor_data(tensor)
    return head if data.startswith("<") else f"{head} {data}"
