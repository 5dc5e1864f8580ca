"""The two ways a decoder runs, as modules the exporter can trace: prefill and decode.

Both call the model itself, so nothing here knows an architecture: the model's own modules run
and the exporter records their scopes. The KV cache crosses the graph boundary as plain
tensors, ``[batch, kv_heads, seq, head_dim]`` per layer, keys then values.
"""

from __future__ import annotations

import torch

HEADS = ("topk", "argmax", "logits")


def _head(logits: torch.Tensor, head: str, top_k: int) -> torch.Tensor:
    if head == "logits":
        return logits
    if head == "argmax":
        return torch.argmax(logits, dim=-1, keepdim=True)
    return torch.topk(logits, top_k, dim=-1).indices


def _cache_tensors(cache) -> list[torch.Tensor]:
    tensors: list[torch.Tensor] = []
    for layer in cache.layers:
        tensors += [layer.keys, layer.values]
    return tensors


class Prefill(torch.nn.Module):
    """Prompt in, head output and every layer's keys and values out."""

    def __init__(self, model: torch.nn.Module, head: str, top_k: int, positions: bool) -> None:
        super().__init__()
        self.model = model
        self.head = head
        self.top_k = top_k
        self.positions = positions

    def forward(self, input_ids, attention_mask, position_ids):
        extra = {"position_ids": position_ids} if self.positions else {}
        out = self.model(
            input_ids=input_ids, attention_mask=attention_mask, use_cache=True, **extra
        )
        return (_head(out.logits, self.head, self.top_k), *_cache_tensors(out.past_key_values))


class Decode(torch.nn.Module):
    """One new token and the history keys/values in; head output and the cache out."""

    def __init__(
        self, model: torch.nn.Module, head: str, top_k: int, positions: bool, layers: int
    ) -> None:
        super().__init__()
        self.model = model
        self.head = head
        self.top_k = top_k
        self.positions = positions
        self.layers = layers

    def forward(self, input_ids, attention_mask, position_ids, history):
        from transformers import DynamicCache

        pairs = [(history[2 * i], history[2 * i + 1]) for i in range(self.layers)]
        cache = DynamicCache(ddp_cache_data=pairs, config=self.model.config)
        extra = {"position_ids": position_ids} if self.positions else {}
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            past_key_values=cache,
            use_cache=True,
            **extra,
        )
        return (_head(out.logits, self.head, self.top_k), *_cache_tensors(out.past_key_values))
