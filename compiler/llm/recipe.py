"""The KV-cache recipe: a decoder-only LLM as embedding, block_i, block_cache_i and lm_head.

For any decoder-only transformers model (nothing here names an architecture):

1. the model runs in two modes, wrapped so that the KV cache crosses the boundary as tensors
   (``wrappers.py``): *prefill* (the prompt, returns every layer's keys and values) and
   *decode* (one token plus the history, returns the new token's keys and values);
2. each mode is exported with scopes; the repeated layers are found as the model's longest
   ``ModuleList`` of one class, and hcc's ``split`` cuts the graph at them, with
   ``internalize-constants`` giving every block its own masks, positions and RoPE tables;
3. the boundary tensors get the runtime's names (``names.py``), every piece is lowered to the requested opset
   (``downgrade-ir``), and all pieces are written with one shared weights file in which each tensor
   appears once (prefill and decode blocks of a layer read the same bytes);
4. ``manifest.json`` states the interface a runtime needs: names, shapes, cache layout, mask
   and position semantics (see :data:`SEMANTICS`).

With ``static`` shapes the blocks have fixed sizes (``max_len``) as accelerator SDKs want;
embedding and lm_head keep a dynamic length so both modes can use them.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Any

import hcc.ir as ir
from hcc.ir.onnx import shared_data_name

from .cut import cut
from .decoder import Shape, find_layer_list, inspect_decoder
from .export import export_modes
from .interface import describe, rename_for_runtime
from .options import LLMError, LLMOptions

__all__ = [
    "FORMAT",
    "MANIFEST",
    "LLMError",
    "LLMOptions",
    "Shape",
    "build_pieces",
    "checkpoint_module",
    "find_layer_list",
    "inspect_decoder",
]

MANIFEST = "manifest.json"
FORMAT = "hcc.llm/1"

SEMANTICS = {
    "names": "the texts below use hcc's own tensor names; pieces.<piece>.names gives each "
    "piece's names by role (see docs/llm.md), which the runtime may have renamed",
    "cache_layout": "keys and values per layer, in options.cache_layout: bhsd = [batch, "
    "kv_heads, positions, head_dim], bshd = [batch, positions, kv_heads, "
    "head_dim]; the shapes below are written for bhsd",
    "embedding": "embedding takes input_ids [batch, n] and, when listed, position_ids and an "
    "attention_mask of the same length n (ones for real tokens); returns "
    "hidden_states_0",
    "prefill": "block_i takes hidden_states_i [batch, len, hidden], attention_mask "
    "[batch, len] (1 = real token, 0 = padding at the end), position_ids "
    "[batch, len]; returns hidden_states_{i+1}, present_k_i and present_v_i for all "
    "len positions (positions holding padding are garbage and must stay masked)",
    "decode": "block_cache_i takes hidden_states_i [batch, 1, hidden] of the new token, "
    "history_k_i/history_v_i [batch, kv_heads, history, head_dim], attention_mask "
    "[batch, history + 1] (1 for history slots in use and for the new token, 0 for "
    "unused slots) and position_ids [batch, 1] (the new token's position); returns "
    "hidden_states_{i+1} and new_k_i/new_v_i [batch, kv_heads, 1, head_dim], which "
    "the runtime writes into slot position of its history",
    "static": "history is a buffer of max_len slots; prompt plus generated tokens <= max_len",
    "head": "lm_head takes the last hidden state [batch, n, hidden] and returns, per "
    "position, the top-k token ids, the argmax id or the logits",
}


def build_pieces(
    model,
    out_dir: str,
    options: LLMOptions | None = None,
    *,
    name: str = "model",
    checkpoint: str | None = None,
    weights: str = "copy",
) -> list[str]:
    """Export ``model`` (a causal-LM ``nn.Module``) as deployment pieces into ``out_dir``.

    ``checkpoint``: the folder ``model`` was built from on the meta device (see
    :func:`checkpoint_module`); the pieces then read its weights in place, and ``weights``
    says how its files reach ``out_dir`` (``link``, ``copy`` or ``auto``, as hcc.ir.save)."""
    import torch

    from hcc.ir.onnx.schemas import ir_version_for_opset
    from hcc.passes import run

    options = options or LLMOptions()
    options.check()
    model = _in_dtype(model.eval(), getattr(torch, options.dtype))
    shape = inspect_decoder(model)
    # The exports hold the folders their weights are mapped from: keep them until saved.
    exports = export_modes(model, shape, options, checkpoint)
    cuts = []
    for mode, exported in exports.items():
        cuts += cut(exported, mode, shape, options)
    # Lower each piece on its own: cutting may use newer forms (Shape with start/end) that the
    # downgrade then rewrites for the target opset. Quantizing block_i and block_cache_i alike
    # keeps one copy of each layer's weights.
    lower = (
        f"{options.precision_passes()}"
        f"downgrade-ir(ir={ir_version_for_opset(options.opset)},opset={options.opset}),"
        "remove-dead-code"
    )
    pieces = []
    for piece_name, piece_model in cuts:
        piece_model = run(piece_model, lower)
        roles = rename_for_runtime(piece_model, piece_name, shape.layers, options)
        pieces.append((piece_name, piece_model, {**describe(piece_model), "names": roles}))
    os.makedirs(out_dir, exist_ok=True)
    items = [(piece_model, f"{piece_name}.onnx") for piece_name, piece_model, _ in pieces]
    data_file = shared_data_name(out_dir, [n for _, n in items], f"{name}.weights.data")

    def manifest_text(data) -> str:
        # Named after the save: with every weight linked, the shared file is never written.
        written = data_file if data_file in data.written else None
        manifest = _manifest(name, model, shape, options, pieces, written, data.linked)
        return json.dumps(manifest, indent=2) + "\n"

    # One group: the manifest appears with the pieces it lists, never before or after them.
    return ir.save_many(
        items,
        out_dir,
        external_data=data_file,
        dedupe="content",
        weights=weights,
        texts={MANIFEST: manifest_text},
    )


def _in_dtype(model, dtype):
    """``model`` computing in ``dtype`` as transformers loads it in that dtype: parameters and
    saved buffers are cast, buffers the model computes for itself keep their type (rotary
    frequencies stay float32: in bfloat16 a key's rotation angle drifts by ~0.4 % of its
    position, 1e-2 relative on the keys at position 24)."""
    for module in model.modules():
        for parameter in module.parameters(recurse=False):
            if parameter.dtype != dtype and parameter.is_floating_point():
                parameter.data = parameter.data.to(dtype)
        for name, buffer in module.named_buffers(recurse=False):
            saved = name not in module._non_persistent_buffers_set
            if saved and buffer.is_floating_point() and buffer.dtype != dtype:
                module._buffers[name] = buffer.to(dtype)
    return model


def checkpoint_module(folder: str):
    """The causal LM of the checkpoint in ``folder`` built on the meta device: no weight is
    read until the pieces are written (pass ``checkpoint=folder`` to :func:`build_pieces`)."""
    from hcc.frontend.meta_export import meta_module

    return meta_module(folder, task="causal-lm")


def _manifest(
    name: str,
    model,
    shape: Shape,
    options: LLMOptions,
    pieces: list[tuple[str, ir.Model, dict]],
    weights: str | None,
    linked: list[str],
) -> dict[str, Any]:
    """``weights``: the shared data file written beside the pieces (None when every weight
    is linked); ``linked``: the checkpoint files linked into the folder and read in place."""
    return {
        "format": FORMAT,
        "model": name,
        "architecture": type(model).__name__,
        "options": asdict(options),
        "layers": shape.layers,
        "kv_heads": shape.kv_heads,
        "head_dim": shape.head_dim,
        "weights": weights,
        "linked_weights": linked,
        "semantics": SEMANTICS,
        "pieces": {
            piece_name: {"file": f"{piece_name}.onnx", **interface}
            for piece_name, _, interface in pieces
        },
    }
