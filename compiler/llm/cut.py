"""Cutting an exported form into the recipe's pieces, one graph per piece."""

from __future__ import annotations

import hcc.ir as ir

from .decoder import Shape
from .options import LLMError, LLMOptions


def cut(
    model: ir.Model, mode: str, shape: Shape, options: LLMOptions
) -> list[tuple[str, ir.Model]]:
    """Split one export at its layers and keep the pieces this mode provides, with hcc's own
    names at their boundaries."""
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
                + (_unproven_length(piece_model, last, model) or "choose another attention_mask")
            )
        result.append((name, piece_model))
    return result


def _unproven_length(head: ir.Model, last: str, whole: ir.Model) -> str:
    """Why the head may size its output by the mask: the exporter could not prove the last
    hidden state as long as the prompt (a table of the model's shorter than max_len is sliced
    to the length: ``Min(64, seq)``). Empty when the lengths agree."""
    hidden = next((v for v in head.graph.inputs if v.name == last), None)
    ids = whole.graph.inputs[0]
    if hidden is None or hidden.shape is None or ids.shape is None:
        return ""
    if len(hidden.shape) < 2 or len(ids.shape) < 2 or hidden.shape[1] == ids.shape[1]:
        return ""
    return (
        f"the last hidden state's length is {hidden.shape[1]}, not provably the prompt's "
        f"{ids.shape[1]}; choose a max_len within the model's positions"
    )


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
