"""The KV-cache recipe: a decoder-only LLM as embedding, block_i, block_cache_i and lm_head.

For any decoder-only transformers model (nothing here names an architecture):

1. the model runs in two modes, wrapped so that the KV cache crosses the boundary as tensors
   (``wrappers.py``): *prefill* (the prompt, returns every layer's keys and values) and
   *decode* (one token plus the history, returns the new token's keys and values);
2. each mode is exported with scopes; the repeated layers are found as the model's longest
   ``ModuleList`` of one class, and hcc's ``split`` cuts the graph at them, with
   ``internalize-constants`` giving every block its own masks, positions and RoPE tables;
3. the boundary tensors get stable names, every piece is lowered to the requested opset
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
from dataclasses import asdict, dataclass, replace
from typing import Any

import hcc.ir as ir
from hcc.ir import HccError, Scope
from hcc.ir.onnx import shared_data_name

from .wrappers import HEADS, LAYOUTS, Decode, Prefill

MANIFEST = "manifest.json"
FORMAT = "hcc.llm/1"
DTYPES = ("float32", "float16", "bfloat16")
DECODE_CACHES = ("new", "whole")
# Attention masks at the blocks' boundary: 0/1 integers per position, or an additive float mask
# [batch, 1, queries, keys] (0 to attend, MASKED to not).
MASKS = ("ones", "additive")
MASKED = -10000.0

SEMANTICS = {
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


class LLMError(HccError):
    """The model or the options do not fit the KV-cache recipe."""


@dataclass
class LLMOptions:
    max_len: int = 128
    static: bool = False
    head: str = "topk"
    top_k: int = 1
    opset: int = 15
    dtype: str = "float32"
    batch: int = 1
    # The cache tensors' layout at the pieces' boundary (see wrappers.LAYOUTS).
    cache_layout: str = "bhsd"
    # What decode returns per layer: the new token's keys and values ("new") or the whole
    # updated cache, history plus the new entry at the end ("whole").
    decode_cache: str = "new"
    attention_mask: str = "ones"
    # Options of quantize-weights for every piece (bits, block_size, only, keep, target);
    # None: the weights keep the dtype.
    quantize: dict[str, Any] | None = None

    def check(self) -> None:
        if self.max_len <= 0:
            raise LLMError(f"max_len must be positive, got {self.max_len}")
        if self.head not in HEADS:
            raise LLMError(f"head must be one of {', '.join(HEADS)}, got {self.head!r}")
        if self.top_k < 1:
            raise LLMError(f"top_k must be at least 1, got {self.top_k}")
        if self.dtype not in DTYPES:
            raise LLMError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if not 13 <= self.opset <= 20:
            raise LLMError(f"opset must be in [13, 20], got {self.opset}")
        if self.cache_layout not in LAYOUTS:
            raise LLMError(
                f"cache_layout must be one of {', '.join(LAYOUTS)}, got {self.cache_layout!r}"
            )
        if self.decode_cache not in DECODE_CACHES:
            raise LLMError(
                f"decode_cache must be one of {', '.join(DECODE_CACHES)}, got {self.decode_cache!r}"
            )
        if self.attention_mask not in MASKS:
            raise LLMError(
                f"attention_mask must be one of {', '.join(MASKS)}, got {self.attention_mask!r}"
            )
        if self.batch < 1:
            raise LLMError(f"batch must be at least 1, got {self.batch}")
        if self.quantize is not None:
            from hcc.passes import PipelineError, get_pass

            try:
                get_pass("quantize-weights").create(self.quantize)
            except PipelineError as error:
                raise LLMError(f"quantize: {error.message}") from None

    def precision_passes(self) -> str:
        """The pipeline text that quantizes a piece's weights ('' when not asked)."""
        if self.quantize is None:
            return ""
        from hcc.passes import PassSpec

        return f"{PassSpec('quantize-weights', dict(self.quantize))},"


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


def build_pieces(
    model, out_dir: str, options: LLMOptions | None = None, *, name: str = "model"
) -> list[str]:
    """Export ``model`` (a causal-LM ``nn.Module``) as deployment pieces into ``out_dir``."""
    import torch

    options = options or LLMOptions()
    options.check()
    model = model.eval().to(getattr(torch, options.dtype))
    shape = inspect_decoder(model)
    exports = _export_modes(model, shape, options)
    pieces = []
    for mode, exported in exports.items():
        pieces += _cut(exported, mode, shape, options)
    # Lower each piece on its own: cutting may use newer forms (Shape with start/end) that the
    # downgrade then rewrites for the target opset.
    from hcc.ir.onnx.schemas import ir_version_for_opset
    from hcc.passes import run

    # Quantizing block_i and block_cache_i alike keeps one copy of each layer's weights.
    lower = (
        f"{options.precision_passes()}"
        f"downgrade-ir(ir={ir_version_for_opset(options.opset)},opset={options.opset}),"
        "remove-dead-code"
    )
    pieces = [
        (piece_name, run(piece_model, lower), interface)
        for piece_name, piece_model, interface in pieces
    ]
    os.makedirs(out_dir, exist_ok=True)
    items = [(piece_model, f"{piece_name}.onnx") for piece_name, piece_model, _ in pieces]
    weights = shared_data_name(out_dir, [n for _, n in items], f"{name}.weights.data")
    manifest = _manifest(name, model, shape, options, pieces, weights)
    # One group: the manifest appears with the pieces it lists, never before or after them.
    return ir.save_many(
        items,
        out_dir,
        external_data=weights,
        dedupe="content",
        texts={MANIFEST: json.dumps(manifest, indent=2) + "\n"},
    )


# -- export --------------------------------------------------------------------------------


def _export_modes(model, shape: Shape, options: LLMOptions) -> dict[str, ir.Model]:
    """The graphs to cut: ``prefill`` (dynamic; embedding, lm_head and, unless static, the
    blocks), ``decode`` (block caches) and, when static, ``prefill-static`` (the blocks)."""
    import torch

    from hcc.frontend.torch_export import export

    dtype = getattr(torch, options.dtype)
    kv = (shape.kv_heads, shape.head_dim)
    batch_dim = torch.export.Dim("batch")
    seq_dim = torch.export.Dim("seq")
    history_dim = torch.export.Dim("history")
    exports: dict[str, ir.Model] = {}
    layout = options.cache_layout
    prefill = Prefill(model, options.head, options.top_k, shape.positions, layout)
    decode = Decode(model, options.head, options.top_k, shape.positions, shape.layers, layout)
    positions_axis = layout.index("s")

    def prefill_inputs(batch: int, length: int):
        ids = torch.ones(batch, length, dtype=torch.long)
        mask = _mask_example(batch, length, length, options.attention_mask, dtype)
        positions = torch.arange(length).repeat(batch, 1)
        return ids, mask, positions

    # Examples use batch 2 where the batch stays dynamic: batch 1 would be fixed by the exporter.
    length = min(8, options.max_len)
    additive = options.attention_mask == "additive"
    args = prefill_inputs(2, max(length, 2))
    dynamic = {
        "input_ids": {0: batch_dim, 1: seq_dim},
        "attention_mask": {0: batch_dim, 2: seq_dim, 3: seq_dim}
        if additive
        else {0: batch_dim, 1: seq_dim},
        "position_ids": {0: batch_dim, 1: seq_dim},
    }
    exports["prefill"] = _finish(
        export(prefill, args, dynamic_shapes=dynamic), model, shape, "prefill", options
    )
    if options.static:
        args = prefill_inputs(options.batch, options.max_len)
        exports["prefill-static"] = _finish(export(prefill, args), model, shape, "prefill", options)
        batch, history = options.batch, options.max_len
        decode_shapes = None
    else:
        batch, history = 2, max(length, 2)
        decode_shapes = {
            "input_ids": {0: batch_dim},
            "attention_mask": {0: batch_dim, 3 if additive else 1: history_dim + 1},
            "position_ids": {0: batch_dim},
            "history": [{0: batch_dim, positions_axis: history_dim}] * (2 * shape.layers),
        }
    sizes = {"b": batch, "h": kv[0], "s": history, "d": kv[1]}
    past = [
        torch.zeros(*(sizes[axis] for axis in layout), dtype=dtype) for _ in range(2 * shape.layers)
    ]
    args = (
        torch.ones(batch, 1, dtype=torch.long),
        _mask_example(batch, 1, history + 1, options.attention_mask, dtype),
        torch.full((batch, 1), history, dtype=torch.long),
        past,
    )
    exports["decode"] = _finish(
        export(decode, args, dynamic_shapes=decode_shapes), model, shape, "decode", options
    )
    return exports


def _mask_example(batch: int, rows: int, cols: int, kind: str, dtype):
    """An attention mask of the kind the blocks take: 0/1 per key, or additive and causal."""
    import torch

    if kind == "ones":
        return torch.ones(batch, cols, dtype=torch.long)
    causal = torch.full((rows, cols), MASKED, dtype=dtype).triu(cols - rows + 1)
    return causal.expand(batch, 1, rows, cols).contiguous()


def _finish(exported: ir.Model, model, shape: Shape, mode: str, options: LLMOptions) -> ir.Model:
    """Scopes of the model itself (not the wrapper), stable names, decode's new K/V, opset."""
    from hcc.frontend.hierarchy import hierarchy_json
    from hcc.passes import run

    root = Scope.root(type(model).__name__, f"{type(model).__module__}.{type(model).__qualname__}")
    for node in exported.all_nodes():
        node.scope = _unwrap(node.scope, root)
    exported.metadata_props["hcc.hierarchy"] = hierarchy_json(model)
    graph = exported.graph
    head_name = "logits" if options.head == "logits" else "token"
    names = [head_name]
    history_names = []
    for i in range(shape.layers):
        prefix = "new" if mode == "decode" and options.decode_cache == "new" else "present"
        names += [f"{prefix}_k_{i}", f"{prefix}_v_{i}"]
        history_names += [f"history_k_{i}", f"history_v_{i}"]
    if options.cache_layout != "bhsd":
        _layout_transposes_join_their_layer(exported)
    if mode == "decode":
        for value, name in zip(graph.inputs[3:], history_names):
            value.name = name
        if options.decode_cache == "new":
            _only_new_entries(exported)
    _rename(graph.outputs, names)
    return run(exported, "propagate-tags")


def _layout_transposes_join_their_layer(model: ir.Model) -> None:
    """The wrapper's transposes between the model's cache layout and the boundary's belong to
    the layer whose cache they carry: scoped to the wrapper, they would sit in no layer and the
    cut would pass the cache between pieces. An output's transpose joins the node that computes
    the cache, a history input's transpose the node that reads it."""
    graph = model.graph
    for value in graph.outputs[1:]:
        node = value.producer
        source = (
            node.inputs[0].producer if node is not None and node.op_type == "Transpose" else None
        )
        if source is None:
            raise LLMError(f"cache output {value.name!r} is not a transpose of a computed cache")
        node.scope = source.scope
    for value in graph.inputs[3:]:
        for node in value.consumers():
            if node.op_type != "Transpose":
                continue
            readers = node.outputs[0].consumers()
            if not readers:
                raise LLMError(f"history input {value.name!r} is transposed but never read")
            node.scope = readers[0].scope


def _unwrap(scope: Scope, root: Scope) -> Scope:
    """The scope without the wrapper's level: ``/Decode/GPT2LMHeadModel/...`` becomes
    ``/GPT2LMHeadModel/...`` with module paths relative to the model."""
    levels = list(reversed(list(scope.ancestors(include_self=True))))
    result = root
    for level in levels[2:]:
        path = level.module_path.split(".", 1)[1] if "." in level.module_path else ""
        result = result.child(path, level.class_name, level.qualified_class)
    return result


def _rename(values, names) -> None:
    for value, name in zip(values, names):
        value.name = name


def _only_new_entries(model: ir.Model) -> None:
    """Make decode return the new token's keys and values instead of the grown cache.

    The cache grows by concatenating the history with the new entries; the new entries are the
    concatenation's other input. A runtime with a fixed buffer wants exactly those. In the
    ``bshd`` layout the history enters and the cache leaves through a transpose: the output's
    transpose then reads the new entries instead of the grown cache."""
    graph = model.graph
    outputs = list(graph.outputs)
    for position, value in enumerate(outputs[1:], start=1):
        producer = value.producer
        history = graph.inputs[2 + position] if len(graph.inputs) > 2 + position else None
        transposed = producer is not None and producer.op_type == "Transpose"
        concat = producer.inputs[0].producer if transposed else producer
        if concat is None or concat.op_type != "Concat" or history is None:
            raise LLMError(
                f"the cache of output {position} does not grow by concatenation; "
                "cannot isolate the new entries"
            )
        others = [v for v in concat.inputs if not _reads(v, history)]
        if len(others) != 1 or len(concat.inputs) != 2:
            raise LLMError(f"unexpected cache update {concat.name!r}")
        if transposed:
            new = others[0]
            producer.replace_input_with(0, new)
            # The output's shape annotation still says "the grown cache": restate it.
            perm = producer.attr("perm")
            if isinstance(value.type, ir.TensorType):
                shape = (
                    None
                    if new.shape is None or perm is None
                    else tuple(new.shape[axis] for axis in perm)
                )
                value.type = replace(value.type, shape=shape)
        else:
            graph.outputs[position] = others[0]


def _reads(value: ir.Value, history: ir.Value) -> bool:
    """``value`` is the history input itself or its transpose into the model's own layout."""
    producer = value.producer
    return value is history or (
        producer is not None and producer.op_type == "Transpose" and producer.inputs[0] is history
    )


# -- cutting -------------------------------------------------------------------------------


def _cut(
    model: ir.Model, mode: str, shape: Shape, options: LLMOptions
) -> list[tuple[str, ir.Model, dict]]:
    """Split one export at its layers and keep the pieces this mode provides."""
    from hcc.passes import run
    from hcc.passes.pieces import boundary, extract_piece, pieces_of

    model = run(model, f"split(by='{shape.layer_list}.*', embeddings=own, head=own)")
    pieces = pieces_of(model)
    # The hidden state must cross every boundary even when it would be cheap to recompute
    # (small test models): it is the float tensor of shape [..., hidden] passed between pieces.
    keep = sorted(
        {
            v.name
            for piece in pieces[:-1]
            for v in boundary(model, piece, pieces).outputs
            if _is_hidden_state(v, shape)
        }
    )
    keep_text = ",".join(repr(name) for name in keep)
    model = run(model, f"internalize-constants(max_bytes={1 << 22},keep=[{keep_text}])")
    pieces = pieces_of(model)
    if len(pieces) != shape.layers + 2:
        raise LLMError(
            f"expected embedding, {shape.layers} layers and a head, got "
            f"{len(pieces)} pieces: {[p.name for p in pieces]}"
        )
    # Stable names for the hidden states between pieces: hidden_states_i enters layer i.
    for index, piece in enumerate(pieces[:-1]):
        edge = boundary(model, piece, pieces)
        hidden = [v for v in edge.outputs if v not in model.graph.outputs]
        if len(hidden) != 1:
            raise LLMError(
                f"piece {piece.name!r} hands {len(hidden)} tensors to the next; "
                f"expected the hidden state alone: {[v.name for v in hidden]}"
            )
        hidden[0].name = f"hidden_states_{index}"
    wanted: list[tuple[str, int]] = []
    if mode == "prefill":
        wanted += [("embedding", 0), ("lm_head", len(pieces) - 1)]
        if not options.static:
            wanted += [(f"block_{i}", i + 1) for i in range(shape.layers)]
    elif mode == "prefill-static":
        wanted += [(f"block_{i}", i + 1) for i in range(shape.layers)]
    else:
        wanted += [(f"block_cache_{i}", i + 1) for i in range(shape.layers)]
    result = []
    for name, index in wanted:
        piece_model = extract_piece(model, pieces[index], pieces)
        piece_model.metadata_props["hcc.piece"] = name
        last = f"hidden_states_{shape.layers}"
        extra = [v.name for v in piece_model.graph.inputs if v.name != last]
        if name == "lm_head" and extra:
            # The runtime hands the head the last hidden state alone; a head that also reads
            # the mask (GPT-2 with an additive mask) would be unusable.
            raise LLMError(
                f"lm_head of this model also reads {', '.join(extra)} with these options; "
                "choose another attention_mask"
            )
        result.append((name, piece_model, _interface(piece_model)))
    return result


def _is_hidden_state(value: ir.Value, shape: Shape) -> bool:
    dims = value.shape
    dtype = value.dtype
    floating = isinstance(dtype, ir.DataType) and dtype in (
        ir.DataType.FLOAT,
        ir.DataType.FLOAT16,
        ir.DataType.BFLOAT16,
        ir.DataType.DOUBLE,
    )
    return floating and dims is not None and len(dims) == 3 and dims[-1] == shape.hidden


def _interface(model: ir.Model) -> dict[str, Any]:
    def describe(value: ir.Value) -> dict[str, Any]:
        dtype = value.dtype
        return {
            "name": value.name,
            "dtype": dtype.name.lower() if isinstance(dtype, ir.DataType) else dtype,
            "shape": None if value.shape is None else list(value.shape),
        }

    return {
        "inputs": [describe(v) for v in model.graph.inputs],
        "outputs": [describe(v) for v in model.graph.outputs],
    }


def _manifest(
    name: str,
    model,
    shape: Shape,
    options: LLMOptions,
    pieces: list[tuple[str, ir.Model, dict]],
    weights: str,
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "model": name,
        "architecture": type(model).__name__,
        "options": asdict(options),
        "layers": shape.layers,
        "kv_heads": shape.kv_heads,
        "head_dim": shape.head_dim,
        "weights": weights,
        "semantics": SEMANTICS,
        "pieces": {
            piece_name: {"file": f"{piece_name}.onnx", **interface}
            for piece_name, _, interface in pieces
        },
    }
