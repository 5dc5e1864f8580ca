"""The two graphs a decoder is cut from: its prefill and decode forms, exported with scopes.

Each form is exported through its wrapper (``wrappers.py``); then the wrapper's level leaves
the scopes, the boundary tensors get hcc's names (``names.py`` renames them for the runtime
after cutting), the cache transposes of a ``bshd`` layout join their layers, and decode is
narrowed to the new entries when asked.
"""

from __future__ import annotations

from dataclasses import replace

import hcc.ir as ir
from hcc.ir import Scope, common_scope

from .decoder import Shape
from .options import MASKED, LLMError, LLMOptions


def export_modes(
    model, shape: Shape, options: LLMOptions, checkpoint: str | None = None
) -> dict[str, ir.Model]:
    """The graphs to cut: ``prefill`` (dynamic; embedding, lm_head and, unless static, the
    blocks), ``decode`` (block caches) and, when static, ``prefill-static`` (the blocks).

    ``checkpoint``: the folder ``model`` was built from on the meta device; the graphs then
    read its weights in place (see hcc.frontend.meta_export)."""
    import torch

    from .wrappers import WRAPPED, Decode, Prefill

    def export(wrapper, args, dynamic_shapes=None) -> ir.Model:
        if checkpoint is None:
            from hcc.frontend.torch_export import export

            return export(wrapper, args, dynamic_shapes=dynamic_shapes)
        import inspect

        from hcc.frontend.meta_export import export_meta_module

        # On the model's device: a computation mixing an input with a parameter or buffer (the
        # rotary angles of position_ids) must find them on one device.
        args = torch.utils._pytree.tree_map(lambda t: t.to("meta"), args)
        kwargs = dict(zip(inspect.signature(wrapper.forward).parameters, args))
        return export_meta_module(wrapper, kwargs, dynamic_shapes, checkpoint, prefix=WRAPPED)

    dtype = getattr(torch, options.dtype)
    kv = (shape.kv_heads, shape.head_dim)
    batch_dim = torch.export.Dim("batch")
    # Prompt plus generated tokens never exceed max_len: saying so lets the exporter prove that
    # a slice of a longer table (a causal-mask buffer of max_position_embeddings rows) keeps
    # every position. Unbounded, the hidden state's length is Min(that size, seq), not the
    # mask's seq, and the head could not size its output by the hidden state alone.
    longest = max(options.max_len, 3)
    seq_dim = torch.export.Dim("seq", max=longest)
    history_dim = torch.export.Dim("history", max=longest - 1)
    exports: dict[str, ir.Model] = {}
    layout = options.cache_layout
    prefill = Prefill(model, options.head, options.top_k, shape.positions, shape.layer_list, layout)
    decode = Decode(model, options.head, options.top_k, shape.positions, shape.layer_list, layout)
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
        _shapes_read_their_own_history(exported, shape)
        _history_views_join_their_layer(exported)
        if options.decode_cache == "new":
            _only_new_entries(exported)
    _rename(graph.outputs, names)
    return run(exported, "propagate-tags")


def _shapes_read_their_own_history(model: ir.Model, shape: Shape) -> None:
    """Every layer's history has the same size, and the exporter may read it from any of them:
    with some options layer 0's attention takes the history length from the last layer's
    values, which would make block_cache_0 take that input too. A Shape node in a layer reads
    its own layer's history (keys or values, as before) instead: the same shape."""
    graph = model.graph
    history = graph.inputs[3:]
    which = {value: index for index, value in enumerate(history)}
    prefix = f"{shape.layer_list}."
    for node in graph:
        if node.op_type != "Shape" or node.inputs[0] not in which:
            continue
        path = node.scope.module_path
        layer = path[len(prefix) :].split(".", 1)[0] if path.startswith(prefix) else ""
        if not layer.isdigit() or int(layer) >= shape.layers:
            continue
        own = history[2 * int(layer) + which[node.inputs[0]] % 2]
        if own is not node.inputs[0]:
            node.replace_input_with(0, own)


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


def _history_views_join_their_layer(model: ir.Model) -> None:
    """Slices and transposes of a history input belong to the layer that reads them. A
    sliding-window cache keeps the last positions of the history it is built from, a slice the
    wrapper's code runs: scoped to the wrapper, it would sit in no layer and the cut would
    hand the history from the embedding to the blocks. (Other readers of the history, such as
    the Shape a mask is sized by, keep their scope.)"""
    for history in model.graph.inputs[3:]:
        for start in history.consumers():
            if start.op_type not in VIEWS or start.inputs[0] is not history:
                continue
            views, readers, frontier = [start], [], [start.outputs[0]]
            while frontier:
                value = frontier.pop()
                for node in value.consumers():
                    if node.op_type in VIEWS and node.inputs[0] is value:
                        views.append(node)
                        frontier.append(node.outputs[0])
                    else:
                        readers.append(node)
            scope = common_scope(node.scope for node in readers)
            if not scope.is_unknown:
                for node in views:
                    node.scope = scope


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
        # A sliding-window cache keeps only its last positions: a Slice of the grown cache.
        while concat is not None and concat.op_type == "Slice":
            concat = concat.inputs[0].producer
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


# Ops that only select or reorder a tensor's entries: what a cache does to its history.
VIEWS = ("Slice", "Transpose")


def _reads(value: ir.Value, history: ir.Value) -> bool:
    """``value`` is the history input itself, its transpose into the model's own layout, or
    the last positions of either that a sliding-window cache keeps (Slices)."""
    while value is not history:
        producer = value.producer
        if producer is None or producer.op_type not in VIEWS:
            return False
        value = producer.inputs[0]
    return True
