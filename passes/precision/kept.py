"""Which nodes of a graph compute in float32 under ``convert-precision``: every node the policy
keeps, except that an elementwise op kept by its op name alone (``Pow``, ``Exp``) stays float32
only where it borders float32 computation (the reason: :mod:`.policy`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hcc.ir import DataType, Graph, Node

if TYPE_CHECKING:
    from .retype import Conversion

FLOAT = DataType.FLOAT


def decide_kept(conversion: Conversion, graph: Graph) -> None:
    """The nodes of ``graph`` the policy keeps: all it names, except that an elementwise op
    kept by its op name alone stays float32 only where it borders float32 computation
    (see :mod:`.policy`). A chain of them (``Exp`` after ``Pow``, before a kept sum) is
    kept from its border inwards, so the set grows until it is stable."""
    waiting = []
    for node in graph.nodes:
        if conversion.policy.keeps(node):
            if conversion.policy.at_border_only(node):
                waiting.append(node)
            else:
                conversion.kept.add(node)
    pending = set(waiting)
    grew = True
    while grew:
        grew = False
        for node in waiting:
            if node in pending and _borders_float32(conversion, node, graph, pending):
                pending.discard(node)
                conversion.kept.add(node)
                grew = True


def _borders_float32(conversion: Conversion, node: Node, graph: Graph, pending: set[Node]) -> bool:
    """Does a float input of ``node`` come from float32 computation, or is a result read
    in float32? Nodes still ``pending`` count as low; constants count as low (they are
    stored in the low type when all their readers compute in it)."""
    interface_float = graph is not conversion.model.graph or not conversion.io_converted
    for value in node.inputs:
        if value is None or conversion.original.get(value) != FLOAT:
            continue
        producer = value.producer
        if producer is None:
            if not value.is_initializer and interface_float:
                return True  # a float32 graph input (or an outer value)
            continue
        if producer in pending or producer.op_type == "Constant":
            continue
        if producer in conversion.kept:
            return True
        index = producer.outputs.index(value)
        made = conversion.plan(producer).outputs[index]
        if made in (FLOAT, None):
            return True  # computes in float32, or opaque: its outputs stay float32
    for value in node.outputs:
        if conversion.original.get(value) != FLOAT:
            continue
        if interface_float and value in graph.outputs:
            return True
        for reader, index in value.uses:
            if reader in pending:
                continue
            if reader in conversion.kept or reader.graph is not graph:
                return True
            wants = conversion.reader_wants(reader, index)
            if wants == FLOAT:
                return True
    return False
