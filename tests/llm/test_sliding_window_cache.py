"""A sliding-window cache (Mistral, Gemma 2) keeps the last positions of its history: the
wrapper's code slices the history before the layer concatenates the new entries, and the cache
it returns is a slice of that concatenation. The recipe still finds the new entries, and the
slices join the layer that reads them, so the blocks alone receive the history."""

from __future__ import annotations

from hcc.ir import Graph, Model, Node, Scope, Value
from hcc.llm.export import _history_views_join_their_layer, _only_new_entries

ROOT = Scope.root("Wrapper")
MODEL = ROOT.child("model", "Decoder")
LAYER = MODEL.child("model.layers.0", "Layer.0")


def decode_graph():
    ids, mask, positions, history = (Value(n) for n in ("ids", "mask", "pos", "history_k_0"))
    kept = Node("", "Slice", [history, Value("s"), Value("e")], name="keep", scope=ROOT)
    size = Node("", "Shape", [history], name="size", scope=MODEL)  # sizes the mask
    new = Node("", "Neg", [ids], name="new", scope=LAYER)
    grown = Node("", "Concat", [kept.outputs[0], new.outputs[0]], name="cat", scope=LAYER)
    window = Node("", "Slice", [grown.outputs[0], Value("s2"), Value("e2")], name="w", scope=LAYER)
    token = Node("", "Relu", [grown.outputs[0]], name="token", scope=LAYER)
    graph = Graph(
        [ids, mask, positions, history],
        [token.outputs[0], window.outputs[0]],
        [kept, size, new, grown, window, token],
    )
    return Model(graph, opset_imports={"": 18}), kept, size, new


def test_the_slice_of_the_history_joins_the_layer_that_reads_it():
    model, kept, size, _ = decode_graph()
    _history_views_join_their_layer(model)
    assert kept.scope == LAYER
    assert size.scope == MODEL  # other readers of the history keep their scope


def test_the_new_entries_are_found_through_the_window_slices():
    model, _, _, new = decode_graph()
    _only_new_entries(model)
    assert model.graph.outputs[1] is new.outputs[0]
