"""What the KV-cache recipe builds: its options, checked before anything is exported."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import LLMError
from .names import templates

DTYPES = ("float32", "float16", "bfloat16")
HEADS = ("topk", "argmax", "logits")
# Cache layouts at the graph boundary: b = batch, h = kv heads, s = positions, d = head_dim.
LAYOUTS = ("bhsd", "bshd")
DECODE_CACHES = ("new", "whole")
# Attention masks at the blocks' boundary: 0/1 integers per position, or an additive float mask
# [batch, 1, queries, keys] (0 to attend, MASKED to not).
MASKS = ("ones", "additive")
MASKED = -10000.0


@dataclass
class LLMOptions:
    max_len: int = 128
    static: bool = False
    head: str = "topk"
    top_k: int = 1
    opset: int = 15
    dtype: str = "float32"
    batch: int = 1
    # The cache tensors' layout at the pieces' boundary (see LAYOUTS).
    cache_layout: str = "bhsd"
    # What decode returns per layer: the new token's keys and values ("new") or the whole
    # updated cache, history plus the new entry at the end ("whole").
    decode_cache: str = "new"
    attention_mask: str = "ones"
    # The pieces' input and output names (see names.py): a preset, and names by role over it.
    names_preset: str = "hcc"
    names: dict[str, str] = field(default_factory=dict)
    # Options of quantize-weights for every piece (bits, block_size, only, keep, target);
    # None: the weights keep the dtype.
    quantize: dict[str, Any] | None = None

    def check(self) -> None:
        if self.max_len <= 0:
            raise LLMError(f"max_len must be positive, got {self.max_len}")
        self._one_of("head", HEADS)
        if self.top_k < 1:
            raise LLMError(f"top_k must be at least 1, got {self.top_k}")
        self._one_of("dtype", DTYPES)
        if not 13 <= self.opset <= 20:
            raise LLMError(f"opset must be in [13, 20], got {self.opset}")
        self._one_of("cache_layout", LAYOUTS)
        self._one_of("decode_cache", DECODE_CACHES)
        self._one_of("attention_mask", MASKS)
        if self.batch < 1:
            raise LLMError(f"batch must be at least 1, got {self.batch}")
        templates(self.names_preset, self.names, self.head, self.decode_cache)
        if self.quantize is not None:
            from hcc.passes import PipelineError, get_pass

            try:
                get_pass("quantize-weights").create(self.quantize)
            except PipelineError as error:
                raise LLMError(f"quantize: {error.message}") from None
            conflict = quantize_conflict(self.quantize, self.opset)
            if conflict:
                raise LLMError(f"quantize: {conflict}")

    def _one_of(self, option: str, choices: tuple[str, ...]) -> None:
        value = getattr(self, option)
        if value not in choices:
            raise LLMError(f"{option} must be one of {', '.join(choices)}, got {value!r}")

    def precision_passes(self) -> str:
        """The pipeline text that quantizes a piece's weights ('' when not asked)."""
        if self.quantize is None:
            return ""
        from hcc.passes import PassSpec

        return f"{PassSpec('quantize-weights', dict(self.quantize))},"


def quantize_conflict(quantize: dict[str, Any], opset: int) -> str | None:
    """Why the recipe's pieces cannot take these quantize-weights options, or None. The pieces
    are written at ``opset`` (at most 20), and 4-bit weights for ``target = onnx`` are a
    blocked DequantizeLinear, which exists from opset 21 only and has no older form: found
    before anything is exported rather than when the pieces are lowered."""
    from hcc.passes import PipelineError, get_pass

    try:
        quantizer = get_pass("quantize-weights").create(quantize)
    except PipelineError:
        return None  # the options' own mistake, reported where they are checked
    if quantizer.bits == 4 and quantizer.target == "onnx":
        return (
            f"quantize-weights(bits = 4, target = onnx) needs opset 21 (a blocked "
            f"DequantizeLinear has no older form), and the kv-cache recipe writes its pieces "
            f"at opset {opset} (at most 20); use target = onnxruntime (MatMulNBits) or bits = 8"
        )
    return None
