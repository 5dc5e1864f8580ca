"""``quantize-weights``: store the weights of MatMul and Gemm nodes in 8 or 4 bits, by a
policy over module scopes.

A weight is quantized when it is an initializer read only as the weight (second input) of
MatMul/Gemm nodes that the policy chooses: ``only`` (globs over class or module paths; empty:
everywhere) minus ``keep``. A weight that other nodes read too (a tied embedding that a Gather
reads) stays as it is, since quantizing it would store it twice.

``bits = 8``: per-channel symmetric int8 and ``DequantizeLinear -> MatMul/Gemm``, written by hcc
(onnxruntime has no quantizer for this form; see :mod:`.int8`).

``bits = 4``: block-wise symmetric (``block_size`` weights per scale, along the reduced axis),
the numbers onnxruntime's own weight quantizer makes (see :mod:`.int4`): ``target =
onnxruntime`` writes com.microsoft ``MatMulNBits`` (whose scales have the activations' type);
``target = onnx`` writes an int4 ``DequantizeLinear`` with blocked scales feeding the MatMul or
Gemm, which needs opset 21 (the model's opset is raised to 21, as onnxruntime's quantizer does).
Either stores a float32 weight's scales in float16 unless ``scales = weight``, with a Cast to
float32 after them (MatMulNBits) or after the DequantizeLinear. A Gemm is quantized
with its ``transB`` (blocks along the reduced axis either way); MatMulNBits replaces a Gemm
only when A is not transposed and alpha = beta = 1. A weight several nodes read is quantized
once when every reader can use the same codes (the same reduced axis); each new node takes
the scope of the reader it serves.

The rewrite is hcc's own rather than onnxruntime's ``MatMulNBitsQuantizer``: that tool drops
every node's metadata, quantizes MatMul (and Gather) but not Gemm, and reads the whole model
as one protobuf; hcc.passes does not import onnxruntime. The tests check
equality with it where both apply (MatMul weights, the weight's own scale type).

Quantized weights are listed in ``model.meta["hcc.precision.quantized"]``.
"""

from __future__ import annotations

import numpy as np

from hcc.ir import Graph, Model, Node, Value

from .._infra import Pass, PassResult
from .._options import Option
from .._registry import register_pass
from .._scope_patterns import ScopePattern, all_scopes, near
from .convert_precision import PrecisionError
from .int4 import (
    nbits_can_replace,
    reduced_axis,
    rewrite_blocked_dequantize,
    rewrite_matmul_nbits,
)
from .int8 import FLOAT_TYPES, rewrite_int8

QUANTIZED_KEY = "hcc.precision.quantized"
_WEIGHT_OPS = ("MatMul", "Gemm")


@register_pass(
    "quantize-weights",
    summary="store MatMul/Gemm weights in int8 (per channel) or int4 (block-wise), "
    "chosen by module scope",
)
class QuantizeWeightsPass(Pass):
    bits = Option(int, 8, "bits per weight", choices=[8, 4])
    block_size = Option(
        int, 32, "weights per scale for 4 bits (a power of two, at least 16)", min=16
    )
    only = Option(
        list[str],
        [],
        "quantize only under these scopes (globs over class or module paths; empty: everywhere)",
    )
    keep = Option(list[str], [], "leave the weights under these scopes as they are")
    target = Option(
        str,
        "onnxruntime",
        "4 bits: com.microsoft MatMulNBits (onnxruntime), or "
        "standard DequantizeLinear at opset 21 (onnx)",
        choices=["onnxruntime", "onnx"],
    )
    scales = Option(
        str,
        "float16",
        "4 bits: the type a float32 weight's scales are stored in, float16 (when every scale "
        "fits its range; a Cast gives them back their type) or the weight's own (as "
        "onnxruntime's quantizer stores them)",
        choices=["float16", "weight"],
    )

    def call(self, model: Model) -> PassResult:
        if self.block_size & (self.block_size - 1):
            raise PrecisionError(f"block_size must be a power of two, not {self.block_size}")
        only, keep = ScopePattern(self.only), ScopePattern(self.keep)
        every = all_scopes(model.graphs())
        for pattern, option in ((only, "only"), (keep, "keep")):
            missing = pattern.unmatched(every)
            if missing:
                raise PrecisionError(
                    f"{option} pattern {missing[0]!r} matches no scope; {near(missing[0], every)}"
                )
        nbits = self.bits == 4 and self.target == "onnxruntime"
        chosen = _chosen_weights(model, self.bits, only, keep, nbits=nbits)
        for _, weight, readers in chosen:
            if not np.all(np.isfinite(weight.const_value.numpy())):
                # Its scales would be NaN or infinite and every code garbage.
                reader = readers[0][0]
                where = reader.scope.tag or f"node {reader.name!r}, which has no scope"
                raise PrecisionError(
                    f"weight {weight.name!r} (read in {where}) has NaN or "
                    "infinite values and cannot be quantized; leave its module out with keep"
                )
        if not chosen:
            return PassResult(model, False)
        if self.bits == 8:
            return self._int8(model, chosen)
        return self._int4(model, chosen)

    def _int8(self, model: Model, chosen: list[tuple[Graph, Value, list]]) -> PassResult:
        opset = model.opset_imports.get("", model.opset_imports.get("ai.onnx", 1))
        if opset < 13:
            raise PrecisionError(
                f"per-channel DequantizeLinear needs opset 13; the model has "
                f"{opset} (raise it first)"
            )
        fresh = _fresh_names(model)
        done = []
        for graph, weight, readers in chosen:
            rewrite_int8(graph, weight, readers, fresh=fresh, opset=opset)
            done.append((weight.name, readers[0][0].scope.tag))
        model.meta[QUANTIZED_KEY] = done
        return PassResult(model, True)

    def _int4(self, model: Model, chosen: list[tuple[Graph, Value, list]]) -> PassResult:
        fresh = _fresh_names(model)
        if self.target == "onnx":
            opset = model.opset_imports.get("", model.opset_imports.get("ai.onnx", 1))
            if opset < 21:
                # What onnxruntime's quantizer does too; the standard ops hcc's exporters write
                # keep their meaning from 18 to 21 (GroupNormalization-18 is the exception).
                model.opset_imports["" if "" in model.opset_imports else "ai.onnx"] = 21
        else:
            model.opset_imports.setdefault("com.microsoft", 1)
        done = []
        for graph, weight, readers in chosen:
            name = weight.name
            rewrite = rewrite_blocked_dequantize if self.target == "onnx" else rewrite_matmul_nbits
            rewrite(
                graph,
                weight,
                readers,
                self.block_size,
                fresh,
                float16_scales=self.scales == "float16",
            )
            done.append((name, readers[0][0].scope.tag))
        model.meta[QUANTIZED_KEY] = done
        return PassResult(model, True)


QuantizeWeightsPass.__doc__ = __doc__


def _fresh_names(model: Model):
    """A function giving names no value or node of ``model`` has yet."""
    names = {v.name for g in model.graphs() for v in g.values() if v.name}
    names |= {n.name for n in model.all_nodes() if n.name}

    def fresh(name: str) -> str:
        candidate, k = name, 1
        while candidate in names:
            k += 1
            candidate = f"{name}_{k}"
        names.add(candidate)
        return candidate

    return fresh


def _chosen_weights(
    model: Model, bits: int, only: ScopePattern, keep: ScopePattern, *, nbits: bool = False
):
    """(graph, weight, readers) for each weight every reader of which the policy quantizes.
    For 4 bits the readers must also agree on the reduced axis (one block layout serves them
    all), it must hold at least 16 weights, and with ``nbits`` MatMulNBits must be able to
    replace each reader."""
    chosen = []
    for graph in model.graph.subgraphs(include_self=True):
        for weight in graph.initializers.values():
            tensor = weight.const_value
            if tensor.dtype not in FLOAT_TYPES or len(tensor.shape) != 2 or 0 in tensor.shape:
                continue
            uses = weight.uses
            if not uses or not all(_quantizable(node, index, only, keep) for node, index in uses):
                continue
            if bits == 4:
                axes = {reduced_axis(node) for node, _ in uses}
                if len(axes) > 1 or tensor.shape[axes.pop()] < 16:
                    continue
                if nbits and not all(nbits_can_replace(node) for node, _ in uses):
                    continue
            chosen.append((graph, weight, uses))
    return chosen


def _quantizable(node: Node, index: int, only: ScopePattern, keep: ScopePattern) -> bool:
    if node.domain not in ("", "ai.onnx") or node.op_type not in _WEIGHT_OPS or index != 1:
        return False
    return (not only or only.covers(node.scope)) and not (keep and keep.covers(node.scope))
