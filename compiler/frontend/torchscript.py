"""The TorchScript exporter, behind a wrapper that gives any module a flat tensor signature.

The TorchScript exporter traces ``forward`` with positional tensors and wants tensors (or tuples
of them) back. transformers 5 models take most inputs by keyword through ``**kwargs`` and return
``ModelOutput`` objects, which the tracer mishandles (a kwargs dict passed as the last argument
collides with keyword defaults, for one). So we trace a :class:`FlatCall` instead: its forward
takes exactly the example's tensors, in order, rebuilds the original call from them, and returns
the output's tensors as a flat tuple. Nothing here depends on the wrapped model's type.

Tracing names nodes after module paths *relative to the traced module*, so every path carries
the wrapper's attribute name first (``/wrapped/encoder/layer.0/...``); :func:`strip_prefix`
removes it again so that names read as paths of the user's module.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import hcc.ir as ir

WRAPPED = "wrapped"
PREFIX = f"/{WRAPPED}/"


def _is_tensor(value: Any) -> bool:
    import torch

    return isinstance(value, torch.Tensor)


def input_names(module, args: tuple, kwargs: dict) -> list[str]:
    """Names for the tensor inputs of ``module(*args, **kwargs)``, in the order FlatCall takes.

    Positional tensors are named after the forward parameters they bind to (``args_0``, ... for
    a ``*args`` parameter); keyword tensors keep their keyword.
    """
    positional: list[str] = []
    try:
        parameters = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    for i, value in enumerate(args):
        if not _is_tensor(value):
            continue
        name = f"input_{i}"
        if i < len(parameters) and parameters[i].kind != parameters[i].VAR_POSITIONAL:
            name = parameters[i].name
        elif any(p.kind == p.VAR_POSITIONAL for p in parameters):
            star = next(p for p in parameters if p.kind == p.VAR_POSITIONAL)
            name = f"{star.name}_{i}"
        positional.append(name)
    return positional + [k for k, v in kwargs.items() if _is_tensor(v)]


def flatten_output(output: Any, prefix: str = "") -> tuple[list[Any], list[str]]:
    """The tensors of a (nested) model output and a name for each, in a stable order.

    Mappings (``ModelOutput`` is one) contribute their keys, sequences their indices joined by
    ``.``; ``None`` entries are skipped, as ``ModelOutput.to_tuple`` does.
    """
    if _is_tensor(output):
        return [output], [prefix or "output"]
    if isinstance(output, Mapping) or hasattr(output, "to_tuple"):
        items = [(str(k), v) for k, v in output.items()]
    elif isinstance(output, (tuple, list)):
        items = [(str(i), v) for i, v in enumerate(output)]
    else:
        return [], []
    tensors, names = [], []
    for key, value in items:
        if value is None:
            continue
        sub_tensors, sub_names = flatten_output(value, f"{prefix}.{key}" if prefix else key)
        tensors += sub_tensors
        names += sub_names
    if not prefix and len(names) == 1 and names[0] == "0":
        names = ["output"]
    return tensors, names


def make_flat_call(module, args: tuple, kwargs: dict):
    """A module whose ``forward(*tensors)`` calls ``module(*args, **kwargs)`` with the tensors
    put back in their places; non-tensor arguments are fixed at their example values."""
    import torch

    tensor_slots = [("arg", i) for i, v in enumerate(args) if _is_tensor(v)]
    tensor_slots += [("kwarg", k) for k, v in kwargs.items() if _is_tensor(v)]

    class FlatCall(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            # Registered as a submodule, so tracing scopes the wrapped module's ops.
            self.add_module(WRAPPED, module)
            self.output_names: list[str] = []

        def forward(self, *tensors):
            call_args = list(args)
            call_kwargs = dict(kwargs)
            for (kind, key), tensor in zip(tensor_slots, tensors):
                if kind == "arg":
                    call_args[key] = tensor
                else:
                    call_kwargs[key] = tensor
            output = getattr(self, WRAPPED)(*call_args, **call_kwargs)
            flat, self.output_names = flatten_output(output)
            return tuple(flat)

    return FlatCall().eval()


def export_torchscript(module, args, kwargs, path, *, dynamic_axes, opset, names) -> list[str]:
    """Trace ``module(*args, **kwargs)`` through :func:`make_flat_call` into ``path``.

    Returns the output names taken from the model's output structure.
    """
    import torch

    wrapper = make_flat_call(module, args, kwargs)
    tensors = tuple(v for v in args if _is_tensor(v)) + tuple(
        v for v in kwargs.values() if _is_tensor(v)
    )
    with torch.no_grad():
        torch.onnx.export(
            wrapper,
            tensors,
            path,
            dynamo=False,
            input_names=names,
            dynamic_axes=dynamic_axes or None,
            opset_version=opset,
            verbose=False,
        )
    return list(wrapper.output_names)


def strip_prefix(model: ir.Model) -> None:
    """Drop the wrapper from names: ``/wrapped/a/Op`` becomes ``/a/Op`` (nodes and values) and
    ``wrapped.a.weight`` becomes ``a.weight`` (parameters). A name that would clash is kept; such
    a node then gets its scope from its neighbours."""
    graph = model.graph
    taken = {n.name for n in graph.all_nodes()}
    for node in graph.all_nodes():
        short = _short(node.name)
        if short is not None and short not in taken:
            taken.add(short)
            node.name = short
    values = list(graph.values())
    taken = {v.name for v in values}
    for value in values:
        short = _short(value.name or "")
        if short is not None and short not in taken:
            taken.add(short)
            value.name = short
    # Initializers are keyed by name: rebuild the mapping in its original order.
    renamed = list(graph.initializers.values())
    graph.initializers.clear()
    for value in renamed:
        graph.initializers[value.name] = value


def _short(name: str) -> str | None:
    if name.startswith(PREFIX):
        return "/" + name[len(PREFIX) :]
    if name.startswith(WRAPPED + "."):
        return name[len(WRAPPED) + 1 :]
    return None
