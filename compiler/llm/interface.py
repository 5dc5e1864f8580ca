"""A piece's interface as its runtime sees it: boundary tensors renamed, then described."""

from __future__ import annotations

from typing import Any

import hcc.ir as ir

from .names import piece_names
from .options import LLMError, LLMOptions


def rename_for_runtime(model: ir.Model, piece: str, layers: int, options: LLMOptions) -> dict:
    """Give ``piece``'s inputs and outputs the runtime's names (the cut leaves hcc's own);
    return role -> name of the roles the piece has, for the manifest."""
    own = piece_names(piece, layers, head=options.head, decode_cache=options.decode_cache)
    wanted = piece_names(
        piece,
        layers,
        preset=options.names_preset,
        names=options.names,
        head=options.head,
        decode_cache=options.decode_cache,
    )
    role_of = {name: role for role, name in own.items()}
    graph = model.graph
    renames: dict[ir.Value, str] = {}
    roles: dict[str, str] = {}
    for value in [*graph.inputs, *graph.outputs]:
        role = role_of.get(value.name)
        if role is None:
            raise LLMError(f"{piece} has a tensor {value.name!r} that no name role stands for")
        renames[value] = wanted[role]
        roles[role] = wanted[role]
    _free(model, set(renames.values()), set(renames))
    # All at once: a mapping may swap two names.
    for value, name in renames.items():
        value.name = name
    return roles


def _free(model: ir.Model, names: set[str], boundary: set[ir.Value]) -> None:
    """Rename the inner values that hold one of ``names``: a graph's names must stay unique."""
    taken = {v.name for graph in model.graph.subgraphs(include_self=True) for v in graph.values()}
    for graph in model.graph.subgraphs(include_self=True):
        for value in list(graph.values()):
            if value in boundary or value.name not in names:
                continue
            fresh, count = value.name, 0
            while fresh in taken or fresh in names:
                count += 1
                fresh = f"{value.name}__{count}"
            taken.add(fresh)
            if graph.initializers.get(value.name) is value:
                del graph.initializers[value.name]
                value.name = fresh
                graph.initializers[fresh] = value
            else:
                value.name = fresh


def describe(model: ir.Model) -> dict[str, Any]:
    """Names, dtypes and shapes of the piece's inputs and outputs (for the manifest)."""

    def one(value: ir.Value) -> dict[str, Any]:
        dtype = value.dtype
        return {
            "name": value.name,
            "dtype": dtype.name.lower() if isinstance(dtype, ir.DataType) else dtype,
            "shape": None if value.shape is None else list(value.shape),
        }

    return {
        "inputs": [one(v) for v in model.graph.inputs],
        "outputs": [one(v) for v in model.graph.outputs],
    }
