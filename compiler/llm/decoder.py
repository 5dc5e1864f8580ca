"""The decoder a KV-cache build starts from: that it is one, and its cache geometry."""

from __future__ import annotations

from dataclasses import dataclass

from .options import LLMError


@dataclass
class Shape:
    layers: int
    kv_heads: int
    head_dim: int
    hidden: int
    layer_list: str  # module path of the layers' ModuleList
    positions: bool  # forward takes position_ids


def inspect_decoder(model) -> Shape:
    """Check that ``model`` is a decoder with a KV cache and read its cache geometry."""
    import inspect

    import torch

    config = getattr(model, "config", None)
    if config is None:
        raise LLMError(f"{type(model).__name__} has no transformers config")
    if getattr(config, "is_encoder_decoder", False):
        raise LLMError(
            f"{type(model).__name__} is an encoder-decoder model; the KV-cache "
            "recipe is for decoder-only models"
        )
    config.use_cache = True
    with torch.no_grad():
        probe = model(input_ids=torch.zeros(1, 2, dtype=torch.long), use_cache=True)
    cache = getattr(probe, "past_key_values", None)
    layers = getattr(cache, "layers", None) if cache is not None else None
    if not layers or getattr(layers[0], "keys", None) is None:
        raise LLMError(
            f"{type(model).__name__} returns no KV cache: it is not a decoder-only "
            "model (an encoder?)"
        )
    keys = layers[0].keys
    if keys.dim() != 4:
        raise LLMError(f"unexpected cache layout {tuple(keys.shape)} (expected 4 dimensions)")
    layer_list = find_layer_list(model, len(layers))
    parameters = inspect.signature(model.forward).parameters
    hidden = int(getattr(config.get_text_config(), "hidden_size", 0) or probe.logits.shape[-1])
    return Shape(
        len(layers),
        int(keys.shape[1]),
        int(keys.shape[3]),
        hidden,
        layer_list,
        "position_ids" in parameters,
    )


def find_layer_list(model, count: int) -> str:
    """Module path of the ``ModuleList`` holding ``count`` modules of one class (the layers)."""
    import torch

    found = []
    for path, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == count:
            classes = {type(m) for m in module}
            if len(classes) == 1:
                found.append(path)
    if not found:
        raise LLMError(f"no list of {count} identical layers found in {type(model).__name__}")
    return min(found, key=lambda p: (p.count("."), p))
