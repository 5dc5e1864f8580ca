"""A checkpoint whose layers are alike is traced with three of them and grown to all: the result
computes what the whole-model export computes, bit for bit, with every layer's own scopes and
parameters; layers that are not alike (as modules or as traced graphs) are traced whole."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import hcc.ir as ir
from hcc.frontend.meta_export import CHECKPOINT_KEY, export_checkpoint
from hcc.frontend.repeat_layers import TRACED, repeated_layers
from hcc.frontend.safetensors_data import checkpoint_tensors


class Block(torch.nn.Module):
    def __init__(self, index: int, width: int = 4, scale: float = 1.0) -> None:
        super().__init__()
        self.layer_idx = index
        self.scale = scale
        self.linear = torch.nn.Linear(width, width)


def _stack(blocks) -> torch.nn.Module:
    model = torch.nn.Module()
    model.layers = torch.nn.ModuleList(blocks)
    return model


def test_layers_differing_only_by_their_index_are_alike():
    found = repeated_layers(_stack([Block(i) for i in range(5)]))
    assert found is not None and (found.path, found.count) == ("layers", 5)


@pytest.mark.parametrize(
    "blocks",
    [
        [Block(i, scale=2.0 if i == 3 else 1.0) for i in range(5)],  # a per-layer setting
        [Block(i, width=8 if i == 4 else 4) for i in range(5)],  # another shape
        [Block(i) for i in range(3)],  # too few to gain anything
    ],
    ids=["setting", "shape", "few"],
)
def test_layers_that_differ_are_traced_whole(blocks):
    assert repeated_layers(_stack(blocks)) is None


def test_the_layer_list_is_restored_after_tracing():
    model = _stack([Block(i) for i in range(5)])
    original = model.layers
    found = repeated_layers(model)
    with found.truncated():
        assert len(model.layers) == TRACED
    assert model.layers is original


def _save(model_type: str, overrides: dict, folder) -> str:
    from hcc.frontend.sources import from_config

    from_config(model_type, overrides, task="causal-lm").save_pretrained(
        str(folder), safe_serialization=True
    )
    return str(folder)


def _traced_layer_counts(monkeypatch) -> list[int]:
    """How many layers each torch export sees."""
    from hcc.frontend import meta_export

    counts: list[int] = []
    original = meta_export._torch_export

    def spy(module, *args):
        lists = [m for m in module.modules() if isinstance(m, torch.nn.ModuleList)]
        counts.append(max(len(m) for m in lists))
        return original(module, *args)

    monkeypatch.setattr(meta_export, "_torch_export", spy)
    return counts


def _run(model: ir.Model, path, ids) -> list[np.ndarray]:
    import onnxruntime as ort

    ir.save(model, str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    return session.run(None, {i.name: feeds[i.name] for i in session.get_inputs()})


LLAMA5 = dict(
    num_hidden_layers=5,
    hidden_size=32,
    intermediate_size=64,
    num_attention_heads=4,
    num_key_value_heads=2,
    vocab_size=128,
    max_position_embeddings=64,
)


@pytest.mark.slow
def test_grown_layers_compute_what_the_whole_export_does(tmp_path, monkeypatch):
    from hcc.frontend.load import ModelSource, load_model

    folder = _save("llama", LLAMA5, tmp_path / "ckpt")
    counts = _traced_layer_counts(monkeypatch)
    grown = export_checkpoint(folder, task="causal-lm")
    assert counts == [TRACED]
    whole = load_model(ModelSource("directory", folder, task="causal-lm"))
    # Every layer has its own nodes, scopes and checkpoint tensors.
    per_layer = {}
    for node in grown.graph:
        assert not node.scope.is_unknown
        path = node.scope.module_path
        if path.startswith("model.layers."):
            per_layer[path.split(".")[2]] = per_layer.get(path.split(".")[2], 0) + 1
    assert sorted(per_layer) == [str(i) for i in range(5)] and per_layer["1"] == per_layer["4"]
    layer4 = {n.scope.tag for n in grown.graph if n.scope.module_path.startswith("model.layers.4")}
    assert "/LlamaForCausalLM/LlamaModel/LlamaDecoderLayer.4" in layer4
    stored = checkpoint_tensors(folder)
    bound = {
        v.const_value.metadata_props.get(CHECKPOINT_KEY): v.const_value
        for v in grown.graph.initializers.values()
    }
    assert set(stored) <= set(bound)
    assert bound["model.layers.4.mlp.up_proj.weight"].offset == (
        stored["model.layers.4.mlp.up_proj.weight"].offset
    )
    # What every layer reads (RoPE tables, masks) records every layer as its reader, as in the
    # whole export.
    readers = [
        json.loads(n.metadata_props["hcc.scopes"])
        for n in grown.graph
        if "LlamaDecoderLayer.1/LlamaAttention" in n.metadata_props.get("hcc.scopes", "")
    ]
    assert readers and all(
        "/LlamaForCausalLM/LlamaModel/LlamaDecoderLayer.4/LlamaAttention" in r for r in readers
    )
    ids = np.random.default_rng(0).integers(0, 128, (2, 9)).astype(np.int64)
    for mine, theirs in zip(
        _run(grown, tmp_path / "g.onnx", ids), _run(whole, tmp_path / "w.onnx", ids)
    ):
        np.testing.assert_array_equal(mine, theirs)


def test_a_per_layer_setting_of_a_transformers_model_is_seen():
    # GPT-2 can scale attention by 1 / (layer index + 1): each layer stores its own scaling.
    from hcc.frontend.sources import from_config

    overrides = dict(n_layer=4, n_embd=32, n_head=4, vocab_size=128, n_positions=64)
    assert repeated_layers(from_config("gpt2", overrides)) is not None
    scaled = from_config("gpt2", {**overrides, "scale_attn_by_inverse_layer_idx": True})
    assert repeated_layers(scaled) is None


class Scaled(torch.nn.Module):
    """A layer whose computation may depend on its index, which no attribute shows apart from
    the index itself."""

    def __init__(self, index: int, by_index: bool) -> None:
        super().__init__()
        self.layer_idx = index
        self.by_index = by_index
        self.weight = torch.nn.Parameter(torch.randn(4) + index)

    def forward(self, x):
        factor = self.layer_idx + 1 if self.by_index else 2
        return torch.tanh(x * self.weight) * factor + x


class Net(torch.nn.Module):
    def __init__(self, by_index: bool) -> None:
        super().__init__()
        self.layers = torch.nn.ModuleList(Scaled(i, by_index) for i in range(6))

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x.sum(-1)


def _grow(by_index: bool):
    from hcc.frontend.repeat_layers import repeat
    from hcc.frontend.torch_export import export

    torch.manual_seed(0)
    net = Net(by_index).eval()
    layers = repeated_layers(net)
    x = torch.randn(2, 4)
    with layers.truncated():
        model = export(net, (x,))

    def parameter(template: ir.Value, name: str) -> ir.Value:
        array = net.get_parameter(name).detach().numpy()
        return model.graph.add_initializer(
            ir.Value(name, template.type, const_value=ir.ArrayTensor(array))
        )

    return net, model, repeat(model, layers, parameter)


def test_grown_layers_match_the_torch_module(tmp_path):
    import onnxruntime as ort

    net, model, grown = _grow(by_index=False)
    assert grown
    ir.save(model, str(tmp_path / "m.onnx"))
    x = torch.randn(2, 4)  # exported with a fixed batch
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    np.testing.assert_allclose(got, net(x).detach().numpy(), rtol=1e-6, atol=1e-6)
    assert {n.scope.module_path for n in model.graph} >= {f"layers.{i}" for i in range(6)}


def test_layers_whose_graph_depends_on_their_index_are_not_grown():
    _, model, grown = _grow(by_index=True)
    assert not grown
    assert not any(n.scope.module_path.startswith("layers.3") for n in model.graph)
