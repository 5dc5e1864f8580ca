"""Export a safetensors checkpoint without loading its weights.

The graph torch's exporter writes does not depend on the weights' values, so the model is built
on the ``meta`` device from the checkpoint's config (no parameter memory at all) and exported
with the dynamo exporter. Each parameter initializer is then bound, by name, to the
checkpoint's tensor as external data read in place (``hcc.frontend.safetensors_data``): the
weights are never held in memory, and writing the model streams them file to file.

What the exporter would compute from the weights is kept out of the graph's constants:
torch's optimizer folds ``Transpose(weight)`` of every Linear into a new, renamed initializer,
which needs the weight's values. Here folding skips every node that reads a checkpoint tensor,
so those transposes stay graph nodes over the original tensor (onnxruntime folds them when a
session starts); every other fold happens as in the ordinary export. Buffers the checkpoint
does not hold (rotary ``inv_freq``, BERT's ``position_ids``) are small and computed from the
config by the model's own initialisation, one module at a time.
"""

from __future__ import annotations

import os
import tempfile

import hcc.ir as ir

from . import sources
from .hierarchy import hierarchy_json
from .repeat_layers import TRACED, LayerList, repeat, repeated_layers
from .safetensors_data import StoredTensor, checkpoint_tensors
from .sources import SourceError
from .torch_export import DEFAULT_PIPELINE, HIERARCHY_KEY, ExportError, _cause, _quiet

# Marks an initializer the graph reads from the checkpoint (value: the checkpoint's tensor name).
CHECKPOINT_KEY = "hcc.checkpoint_tensor"
# How the written model gets the checkpoint's bytes (hcc.ir.save's ``weights``).
WEIGHTS = ("link", "copy", "auto")


def meta_module(folder: str, *, task: str = "base"):
    """The model of the checkpoint in ``folder`` with its parameters on the ``meta`` device and
    its non-checkpoint buffers computed on the CPU."""
    import torch
    import transformers

    if not os.path.isfile(os.path.join(folder, "config.json")):
        raise SourceError(f"{folder} has no config.json; is it a transformers model folder?")
    sources._refuse_remote_code(folder)
    sources._require_safetensors(folder)
    try:
        config = transformers.AutoConfig.from_pretrained(
            folder, local_files_only=True, trust_remote_code=False
        )
    except (OSError, ValueError) as error:
        raise SourceError(f"cannot read the config in {folder}: {error}") from None
    if hasattr(config, "use_cache"):
        config.use_cache = False
    cls = sources._auto_class(task, config, folder)
    dtype = getattr(config, "dtype", None) or torch.float32
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    with torch.device("meta"):
        module = cls.from_config(config, dtype=dtype)
    module.eval()
    return module


def materialize_buffers(module, stored: dict[str, StoredTensor]) -> list[str]:
    """Compute the buffers the checkpoint lacks with the model's own initialisation, module by
    module (they derive from the config: rotary frequencies, position ids). Returns their names;
    a buffer the initialisation leaves unset is an error, never garbage."""
    import torch

    missing = [n for n, b in module.named_buffers() if n not in stored and b.is_meta]
    owners = {name.rpartition(".")[0] for name in missing}
    init = getattr(module, "_init_weights", None)
    for owner_name in sorted(owners):
        owner = module.get_submodule(owner_name)
        owner.to_empty(device="cpu", recurse=False)
        own = [n for n in missing if n.rpartition(".")[0] == owner_name]
        for name in own:
            buffer = module.get_buffer(name)
            with torch.no_grad():
                buffer.fill_(float("nan") if buffer.dtype.is_floating_point else -7)
        if init is not None:
            with torch.no_grad():
                init(owner)
        for name in own:
            buffer = module.get_buffer(name)
            unset = buffer.isnan() if buffer.dtype.is_floating_point else buffer == -7
            if bool(unset.any()):
                raise ExportError(
                    f"buffer {name!r} is not in the checkpoint and the model's initialisation "
                    "does not compute it; export the loaded model instead"
                )
    return missing


def aliases(module) -> dict[str, list[str]]:
    """Every name of each parameter (tied weights have several), keyed by each name."""
    groups: dict[int, list[str]] = {}
    for name, parameter in module.named_parameters(remove_duplicate=False):
        groups.setdefault(id(parameter), []).append(name)
    return {name: names for names in groups.values() for name in names}


def export_checkpoint(
    folder: str,
    *,
    task: str = "base",
    inputs: list[sources.InputSpec] | None = None,
    seed: int = 0,
    opset: int | None = None,
    pipeline: str | None = DEFAULT_PIPELINE,
) -> ir.Model:
    """Export the checkpoint in ``folder`` with every parameter read in place from its
    ``.safetensors`` file. Scopes and names are those of the ordinary export."""
    module = meta_module(folder, task=task)
    kwargs, shapes = sources.example_inputs(module, inputs, seed=seed)
    return export_meta_module(module, kwargs, shapes, folder, opset=opset, pipeline=pipeline)


def export_meta_module(
    module,
    kwargs: dict,
    dynamic_shapes,
    folder: str,
    *,
    opset: int | None = None,
    pipeline: str | None = DEFAULT_PIPELINE,
    prefix: str = "",
) -> ir.Model:
    """Export ``module`` (from :func:`meta_module` of ``folder``) called with ``kwargs``, its
    parameters bound to the checkpoint's tensors. A model whose layers are alike is traced with
    three and grown to all of them once scoped (see repeat_layers).

    ``prefix``: ``module`` wraps the checkpoint's model as its submodule of that path (a
    wrapper that changes what the model is called with or returns); its parameter names are
    the checkpoint's with ``prefix.`` before them."""
    stored = checkpoint_tensors(folder)
    inner = module.get_submodule(prefix)
    lead = f"{prefix}." if prefix else ""
    buffers = {lead + name for name in materialize_buffers(inner, stored)}
    # Buffers computed before the call (the wrapper's caller may have run the model) too.
    buffers |= {name for name, b in module.named_buffers() if not b.is_meta}
    # By the names the module gives the parameters.
    named = {lead + name: tensor for name, tensor in stored.items()}
    layers = repeated_layers(module) if pipeline else None
    if layers is not None:
        try:
            with layers.truncated():
                model = _export_bound(module, kwargs, dynamic_shapes, opset, folder, named, buffers)
        except ExportError:
            model = None  # the model needs all its layers to run: trace it whole
        if model is not None:
            model.metadata_props[HIERARCHY_KEY] = hierarchy_json(module)
            model = _run(model, pipeline)
            if repeat(model, layers, _parameter_maker(model, layers, stored, folder)):
                # Readers of the shared values (masks, rotary tables) are all layers now.
                return _run(model, "propagate-tags") if "propagate-tags" in pipeline else model
    model = _export_bound(module, kwargs, dynamic_shapes, opset, folder, named, buffers)
    model.metadata_props[HIERARCHY_KEY] = hierarchy_json(module)
    return _run(model, pipeline) if pipeline else model


def _export_bound(module, kwargs, shapes, opset, folder, stored, buffers) -> ir.Model:
    workdir = tempfile.TemporaryDirectory(prefix="hcc-meta-export-")
    path = os.path.join(workdir.name, "model.onnx")
    bound = _export_unbound(module, kwargs, shapes, opset, path, folder, stored, buffers)
    model = ir.load(path)
    _bind(model, bound, folder)
    model.meta["_export_workdir"] = workdir
    return model


def _run(model: ir.Model, pipeline: str) -> ir.Model:
    from hcc.passes import run

    return run(model, pipeline)


def _parameter_maker(model: ir.Model, layers: LayerList, stored, folder: str):
    """Makes the initializer of a grown layer's parameter, read in place like the template's:
    the checkpoint name is the template's with the layer index changed (a checkpoint may name
    tensors with another prefix than the module's)."""
    graph = model.graph
    template_layer = f"{layers.path}.{TRACED - 1}"

    def parameter(template: ir.Value, name: str) -> ir.Value:
        if name in graph.initializers:
            return graph.initializers[name]
        source = template.const_value.metadata_props.get(CHECKPOINT_KEY, "")
        suffix = template.name.removeprefix(template_layer)
        index = name.removeprefix(layers.path + ".").removesuffix(suffix)
        tail = f"{TRACED - 1}{suffix}"
        entry = stored.get(source[: -len(tail)] + index + suffix) if source.endswith(tail) else None
        if entry is None:
            raise ExportError(f"the graph reads {name!r}, which the checkpoint does not hold")
        _check_stored(name, template.dtype, template.shape, entry)
        value = ir.Value(name, template.type, const_value=entry.external(folder, name))
        value.const_value.metadata_props[CHECKPOINT_KEY] = entry.name
        return graph.add_initializer(value)

    return parameter


def _export_unbound(
    module, kwargs, shapes, opset, path, folder, stored, buffers
) -> dict[str, StoredTensor]:
    """Export to ``path`` with each checkpoint parameter as a graph input named like it;
    returns the checkpoint tensor each such input stands for."""
    with _quiet():
        program = _torch_export(module, kwargs, shapes, opset)
        graph = program.model.graph
        names = aliases(module)
        bound = {}
        for name, value in list(graph.initializers.items()):
            if name in buffers:
                value.const_value = _onnx_ir_tensor(module.get_buffer(name), name)
                continue
            found = [n for n in names.get(name, [name]) if n in stored]
            if not found:
                raise ExportError(
                    f"the graph reads {name!r}, which the checkpoint does not hold (and is no "
                    "buffer computed from the config)"
                )
            bound[name] = stored[found[0]]
            # Lazily mapped: the optimizer's rewrite rules may look at a small parameter.
            value.const_value = _onnx_ir_external(stored[found[0]], folder, name)
        _optimize(program.model, set(bound))
        # The optimizer merges small equal initializers (identical norm weights) and drops
        # unused ones; the survivors still read the checkpoint.
        bound = {n: t for n, t in bound.items() if n in graph.initializers}
        # Parameters leave the file as graph inputs: nothing of them is serialized.
        for name in bound:
            value = graph.initializers.pop(name)
            graph.inputs.append(value)
        program.save(path, external_data=True)
    return bound


def _torch_export(module, kwargs, shapes, opset):
    import torch

    try:
        return torch.onnx.export(
            module,
            (),
            kwargs=kwargs,
            dynamo=True,
            dynamic_shapes=shapes,
            opset_version=opset,
            optimize=False,
            verbose=False,
        )
    except Exception as error:  # torch raises many types; the user needs the first line
        raise ExportError(f"torch.onnx.export (dynamo) failed: {_cause(error)}") from error


def _optimize(model, parameters: set[str]) -> None:
    """torch's own optimization, except that no node reading a parameter is folded."""
    import onnxscript.optimizer
    import onnxscript.rewriter.onnx_fusions

    def should_fold(node):
        if any(v is not None and v.name in parameters for v in node.inputs):
            return False
        return None

    onnxscript.optimizer.optimize_ir(model, should_fold=should_fold)
    onnxscript.rewriter.onnx_fusions.fuse(model)


def _onnx_ir_tensor(tensor, name: str):
    import onnx_ir
    import torch

    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:
        # numpy has no bfloat16: the same bits, viewed as ml_dtypes' (onnx_ir's own type).
        import ml_dtypes

        return onnx_ir.tensor(tensor.view(torch.uint16).numpy().view(ml_dtypes.bfloat16), name=name)
    return onnx_ir.tensor(tensor.numpy(), name=name)


def _onnx_ir_external(stored: StoredTensor, folder: str, name: str):
    """The checkpoint tensor, read from its file only if the optimizer looks at it.

    A lazy tensor of our own rather than onnx_ir's ExternalTensor: that one refuses a file with
    several hard links, which is what an earlier ``--weights link`` export leaves behind.
    """
    import numpy as np
    import onnx_ir

    dtype = onnx_ir.DataType(int(stored.dtype))
    path = os.path.join(folder, stored.file)

    def read():
        # Mapped, not read: a rule that only glances at a large weight costs no memory.
        raw = np.memmap(
            path, dtype=np.uint8, mode="r", offset=stored.offset, shape=(stored.length,)
        )
        return onnx_ir.tensor(raw.view(dtype.numpy()).reshape(stored.shape), name=name)

    return onnx_ir.LazyTensor(read, dtype, onnx_ir.Shape(stored.shape), name=name)


def _bind(model: ir.Model, bound: dict[str, StoredTensor], folder: str) -> None:
    """Turn the parameter inputs into initializers reading the checkpoint in place."""
    graph = model.graph
    for value in [v for v in graph.inputs if v.name in bound]:
        stored = bound[value.name]
        graph.inputs.remove(value)
        if value.dtype != stored.dtype and _both_float(value.dtype, stored.dtype):
            value = _cast_stored(graph, value, stored)
        _check_stored(value.name, value.dtype, value.shape, stored)
        value.const_value = stored.external(folder, value.name)
        value.const_value.metadata_props[CHECKPOINT_KEY] = stored.name
        graph.add_initializer(value)


_FLOATS = (ir.DataType.FLOAT, ir.DataType.FLOAT16, ir.DataType.BFLOAT16, ir.DataType.DOUBLE)


def _both_float(a, b) -> bool:
    return a in _FLOATS and b in _FLOATS


def _cast_stored(graph: ir.Graph, value: ir.Value, stored: StoredTensor) -> ir.Value:
    """A parameter stored in another float type than the model computes in (a float32 norm in
    a bfloat16 checkpoint) is read as stored and cast by a graph node, as loading the model
    would cast it: the checkpoint's bytes stay where they are, never converted in memory, and
    onnxruntime folds the cast once when a session starts. Returns the initializer to bind;
    ``value`` becomes the cast's output (its scope comes from its readers when tagged)."""
    source = ir.Value(value.name, ir.TensorType(stored.dtype, value.shape))
    value.name = f"{value.name}.as_{value.dtype.name.lower()}"
    cast = ir.Node(
        "", "Cast", [source], outputs=[value], attributes=[ir.Attr.int("to", int(value.dtype))]
    )
    first = next(iter(graph), None)
    if first is None:
        graph.append(cast)
    else:
        graph.insert_before(first, cast)
    return source


def _check_stored(name: str, dtype, shape, stored: StoredTensor) -> None:
    if dtype != stored.dtype:
        raise ExportError(
            f"{name!r}: the graph reads {dtype} but the checkpoint stores "
            f"{stored.dtype.name.lower()}"
        )
    if shape is not None and tuple(shape) != stored.shape:
        raise ExportError(
            f"{name!r}: the graph reads shape {list(shape)} but the checkpoint stores "
            f"{list(stored.shape)}"
        )
