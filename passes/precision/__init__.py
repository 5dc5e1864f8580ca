"""The precision pass family: lower the numeric precision of a model by a policy over scopes.

- :mod:`.convert_precision`: ``convert-precision``, float32 to float16 / bfloat16;
- :mod:`.retype`: the conversion's work (plans from schemas, Casts at policy boundaries);
- :mod:`.schema`: what an operator schema says about element types;
- :mod:`.ranges`: tensors to the low type, clamped to its range;
- :mod:`.policy`: which nodes stay float32 (``keep`` globs, the default ``keep_ops``);
- :mod:`.kept`: the policy applied to a graph (elementwise kept ops only at a float32 border);
- :mod:`.quantize_weights`: ``quantize-weights``, int8 per channel or int4 block-wise;
- :mod:`.int8`, :mod:`.int4`: the weight rewrites (int4 bit for bit as onnxruntime packs it);
- :mod:`.summary`: what the passes did, as lines for a build summary.
"""

from __future__ import annotations

from .convert_precision import CASTS_KEY, ConvertPrecisionPass, PrecisionError
from .policy import DEFAULT_KEEP_OPS, Policy
from .quantize_weights import QUANTIZED_KEY, QuantizeWeightsPass

__all__ = [
    "CASTS_KEY",
    "DEFAULT_KEEP_OPS",
    "QUANTIZED_KEY",
    "ConvertPrecisionPass",
    "Policy",
    "PrecisionError",
    "QuantizeWeightsPass",
]
