"""The two ways a decoder runs, as modules the exporter can trace: prefill and decode.

Both call the model itself, so nothing here knows an architecture: the model's own modules run
and the exporter records their scopes. The KV cache crosses the graph boundary as plain
tensors per layer, keys then values, in one of the layouts of ``options.LAYOUTS``: transformers' own
``[batch, kv_heads, seq, head_dim]`` or ``[batch, seq, kv_heads, head_dim]`` (a transpose at
the boundary; inside, the model keeps its own layout).
"""

from __future__ import annotations

import torch

# The wrappers hold the model as their submodule ``model``: its parameters are named
# ``model.<the checkpoint's name>`` in the exported graphs.
WRAPPED = "model"


def _to_boundary(tensor: torch.Tensor, layout: str) -> torch.Tensor:
    """transformers' [b, h, s, d] in the layout the runtime wants (the swap is its own inverse)."""
    return tensor if layout == "bhsd" else tensor.transpose(1, 2)


def _head(logits: torch.Tensor, head: str, top_k: int) -> torch.Tensor:
    if head == "logits":
        return logits
    if head == "argmax":
        return torch.argmax(logits, dim=-1, keepdim=True)
    return torch.topk(logits, top_k, dim=-1).indices


def _cache_tensors(cache, layout: str, count: int) -> list[torch.Tensor]:
    tensors: list[torch.Tensor] = []
    for layer in cache.layers[:count]:
        tensors += [_to_boundary(layer.keys, layout), _to_boundary(layer.values, layout)]
    return tensors


def _running(model: torch.nn.Module, layer_list: str) -> int:
    """How many layers the model runs now: an export may trace the model with its layer list
    cut short and grow the graph to all layers afterwards (hcc.frontend.repeat_layers)."""
    return len(model.get_submodule(layer_list))


class Prefill(torch.nn.Module):
    """Prompt in, head output and every layer's keys and values out."""

    def __init__(
        self,
        model: torch.nn.Module,
        head: str,
        top_k: int,
        positions: bool,
        layer_list: str,
        layout: str = "bhsd",
    ) -> None:
        super().__init__()
        self.layout = layout
        self.model = model
        self.head = head
        self.top_k = top_k
        self.positions = positions
        self.layer_list = layer_list

    def forward(self, input_ids, attention_mask, position_ids):
        extra = {"position_ids": position_ids} if self.positions else {}
        out = self.model(
            input_ids=input_ids, attention_mask=attention_mask, use_cache=True, **extra
        )
        return (
            _head(out.logits, self.head, self.top_k),
            *_cache_tensors(
                out.past_key_values, self.layout, _running(self.model, self.layer_list)
            ),
        )


class Decode(torch.nn.Module):
    """One new token and the history keys/values in; head output and the cache out.

    ``history`` always holds every layer's keys and values; a model running fewer layers
    (traced with its layer list cut short) reads only theirs, and the others stay unread
    inputs where the grown graph's layers find theirs."""

    def __init__(
        self,
        model: torch.nn.Module,
        head: str,
        top_k: int,
        positions: bool,
        layer_list: str,
        layout: str = "bhsd",
    ) -> None:
        super().__init__()
        self.layout = layout
        self.model = model
        self.head = head
        self.top_k = top_k
        self.positions = positions
        self.layer_list = layer_list

    def forward(self, input_ids, attention_mask, position_ids, history):
        from transformers import DynamicCache

        count = _running(self.model, self.layer_list)
        own = [_to_boundary(tensor, self.layout) for tensor in history[: 2 * count]]
        pairs = [(own[2 * i], own[2 * i + 1]) for i in range(count)]
        cache = DynamicCache(ddp_cache_data=pairs, config=self.model.config)
        extra = {"position_ids": position_ids} if self.positions else {}
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            past_key_values=cache,
            use_cache=True,
            **extra,
        )
        return (
            _head(out.logits, self.head, self.top_k),
            *_cache_tensors(out.past_key_values, self.layout, count),
        )
