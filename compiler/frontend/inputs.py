"""Example inputs for tracing a module: declared ones (:class:`InputSpec`) or the defaults its
main input implies (token ids and a mask, or pixel values), with the shared dynamic dims."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from .errors import SourceError, suggest


@dataclass
class InputSpec:
    """One declared example input: ``dims`` are ints (static) or names (dynamic, shared by name);
    ``sizes`` gives the example size of every dim."""

    name: str
    dtype: str
    dims: list[int | str]
    sizes: list[int] | None = None


DTYPES = {
    "float32": "float32",
    "float": "float32",
    "float16": "float16",
    "bfloat16": "bfloat16",
    "float64": "float64",
    "int64": "int64",
    "int32": "int32",
    "int8": "int8",
    "uint8": "uint8",
    "bool": "bool",
}


def example_inputs(
    module, declared: list[InputSpec] | None = None, *, seed: int = 0, batch: int = 2, seq: int = 16
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Example keyword inputs and dynamo ``dynamic_shapes`` for ``module``.

    Declared inputs are made as asked: integer tensors get values in the vocabulary (or 0/1 for
    inputs named like masks), float tensors standard normal noise, and every named dim becomes
    one shared ``torch.export.Dim``. Without declarations the module's ``main_input_name``
    decides: token ids (with an attention mask when forward takes one) or pixel values.
    The example batch is 2 by default: an example batch of 1 makes the exporter fix batch to 1.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    config = getattr(module, "config", None)
    parameters = _forward_parameters(module)
    if declared is None:
        declared = _default_inputs(module, config, parameters, batch, seq)
    inputs: dict[str, Any] = {}
    shapes: dict[str, Any] = {}
    dims: dict[str, Any] = {}
    for spec in declared:
        if parameters is not None and spec.name not in parameters:
            raise SourceError(
                f"input {spec.name!r} is not a parameter of {type(module).__name__}.forward"
                f"{suggest(spec.name, parameters)}; it takes: {', '.join(parameters)}"
            )
        if spec.dtype not in DTYPES:
            raise SourceError(
                f"input {spec.name!r}: unknown dtype {spec.dtype!r}{suggest(spec.dtype, DTYPES)}"
            )
        sizes = spec.sizes or [
            d if isinstance(d, int) else (batch if i == 0 else seq) for i, d in enumerate(spec.dims)
        ]
        if len(sizes) != len(spec.dims):
            raise SourceError(f"input {spec.name!r}: {len(spec.dims)} dims but {len(sizes)} sizes")
        dtype = getattr(torch, DTYPES[spec.dtype])
        inputs[spec.name] = _random_tensor(spec.name, dtype, sizes, config, generator)
        axis_dims = {}
        for axis, dim in enumerate(spec.dims):
            # An axis of example size 1 cannot stay dynamic (the exporter specialises it to 1
            # and refuses a Dim there): it is fixed.
            if isinstance(dim, str) and sizes[axis] > 1:
                if dim not in dims:
                    dims[dim] = torch.export.Dim(dim)
                axis_dims[axis] = dims[dim]
        shapes[spec.name] = axis_dims or None
    return inputs, shapes


def _forward_parameters(module) -> list[str] | None:
    try:
        return list(inspect.signature(module.forward).parameters)
    except (TypeError, ValueError):
        return None


def default_inputs(module, batch: int = 2, seq: int = 16) -> list[InputSpec]:
    """The inputs :func:`example_inputs` makes when none are declared."""
    return _default_inputs(
        module, getattr(module, "config", None), _forward_parameters(module), batch, seq
    )


def _default_inputs(module, config, parameters, batch: int, seq: int) -> list[InputSpec]:
    main = getattr(module, "main_input_name", None) or (parameters[0] if parameters else None)
    if main == "input_ids":
        specs = [InputSpec("input_ids", "int64", ["batch", "seq"], [batch, seq])]
        if parameters and "attention_mask" in parameters:
            specs.append(InputSpec("attention_mask", "int64", ["batch", "seq"], [batch, seq]))
        if (
            parameters
            and "decoder_input_ids" in parameters
            and getattr(config, "is_encoder_decoder", False)
        ):
            # Encoder-decoder models need the decoder's tokens too; their length is its own.
            specs.append(
                InputSpec(
                    "decoder_input_ids",
                    "int64",
                    ["batch", "decoder_seq"],
                    [batch, max(seq // 2, 2)],
                )
            )
        return specs
    if main == "pixel_values" and config is not None:
        channels = getattr(config, "num_channels", 3)
        size = getattr(config, "image_size", 224)
        height, width = (size, size) if isinstance(size, int) else tuple(size)
        return [
            InputSpec(
                "pixel_values",
                "float32",
                ["batch", channels, height, width],
                [batch, channels, height, width],
            )
        ]
    raise SourceError(
        f"cannot guess example inputs for {type(module).__name__} (main input {main!r}); "
        "declare them (name, dtype, dims)"
    )


def _random_tensor(name: str, dtype, sizes, config, generator):
    import torch

    if dtype == torch.bool:
        return torch.ones(sizes, dtype=dtype)
    if dtype.is_floating_point:
        return torch.randn(sizes, generator=generator).to(dtype)
    if "mask" in name:
        return torch.ones(sizes, dtype=dtype)
    high = int(getattr(config, "vocab_size", 0) or 0) if config is not None else 0
    high = min(high, 1000) if high > 0 else 2
    return torch.randint(0, high, sizes, generator=generator, dtype=dtype)
