"""Files hcc did not write: a plain ``torch.onnx.export(..., dynamo=False)`` of a transformers
model carries no hcc metadata and no module tree. Its node names alone give the scopes, and the
generic per-layer pattern splits it into one exact piece per layer."""

from __future__ import annotations

import warnings

import pytest

import hcc.ir as ir
from hcc.passes import run
from hcc.pieces import read_manifest, write_pieces
from hcc.validate import validate_pieces

TINY = {
    "llama": (
        "causal-lm",
        {
            "num_hidden_layers": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "vocab_size": 100,
            "max_position_embeddings": 64,
        },
    ),
    "bert": (
        "base",
        {
            "num_hidden_layers": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_attention_heads": 4,
            "vocab_size": 100,
            "max_position_embeddings": 64,
        },
    ),
    "gpt2": (
        "causal-lm",
        {"n_layer": 2, "n_embd": 32, "n_head": 4, "vocab_size": 100, "n_positions": 64},
    ),
}


def torchscript_export(model_type: str, path: str) -> None:
    """What optimum and older scripts do: no hcc, the TorchScript exporter, default init (so
    equal weights are shared through Identity nodes, as in real default-initialised files)."""
    import torch

    from hcc.frontend.sources import from_config

    task, overrides = TINY[model_type]
    module = from_config(model_type, overrides, task=task, seed=0, distinct_weights=False)

    class Wrapper(torch.nn.Module):  # transformers 5 needs an explicit signature here
        def __init__(self) -> None:
            super().__init__()
            self.model = module

        def forward(self, input_ids, attention_mask):
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, return_dict=False)
            return out[0]

    ids = torch.randint(0, 100, (2, 8), generator=torch.Generator().manual_seed(0))
    axes = {0: "batch", 1: "seq"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Wrapper().eval(),
            (ids, torch.ones_like(ids)),
            path,
            dynamo=False,
            input_names=["input_ids", "attention_mask"],
            output_names=["output"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes},
        )


# The attribute of each model's layer list, as the node names spell it (``/model/model/layers.0/``).
LAYER_LISTS = {"llama": "layers", "bert": "layer", "gpt2": "h"}


@pytest.mark.parametrize("model_type", sorted(TINY))
def test_a_foreign_torchscript_file_splits_per_layer_exactly(model_type, tmp_path):
    source = str(tmp_path / "foreign.onnx")
    torchscript_export(model_type, source)
    model = ir.load(source)
    assert "hcc.hierarchy" not in model.metadata_props
    assert all(node.scope.is_unknown for node in model.graph)

    model = run(model, "recover-scopes,tag-auxiliary,propagate-tags")
    assert all(not node.scope.is_unknown for node in model.all_nodes())
    run(model, "split(by='*.[0-9]*'),internalize-constants")
    write_pieces(model, str(tmp_path / "pieces"))

    layer = LAYER_LISTS[model_type]
    pieces = read_manifest(str(tmp_path / "pieces"))["pieces"]
    assert [p["name"] for p in pieces] == [f"{layer}.0", f"{layer}.1"]
    assert pieces[1]["scopes"][0].endswith(f"/{layer}.1")
    results = validate_pieces(str(tmp_path / "pieces"))
    assert results and all(r.problem == "" and r.max_abs == 0.0 for r in results)


def test_a_lone_numbered_module_is_no_layer_of_a_foreign_file(tmp_path):
    """A weight-normed convolution's parametrization is named ``weight/weight.0`` in the
    exporter's node names: one number alone under its parent, not a list of layers. The per-layer
    split finds the two real layers only."""
    import torch

    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dense = torch.nn.Linear(32, 32)

        def forward(self, x):
            return x + torch.relu(self.dense(x))

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            conv = torch.nn.Conv1d(32, 32, 3, padding=1)
            self.conv = torch.nn.utils.parametrizations.weight_norm(conv, dim=2)
            self.layers = torch.nn.ModuleList([Block(), Block()])

        def forward(self, x):
            x = self.conv(x).transpose(1, 2)
            for layer in self.layers:
                x = layer(x)
            return x

    torch.manual_seed(0)
    source = str(tmp_path / "foreign.onnx")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Net().eval(),
            (torch.randn(2, 32, 8),),
            source,
            dynamo=False,
            input_names=["x"],
            dynamic_axes={"x": {0: "batch", 2: "seq"}},
        )
    model = ir.load(source)
    assert any("/weight.0/" in node.name for node in model.graph)
    model = run(model, "recover-scopes,tag-auxiliary,propagate-tags")
    assert {n.scope.module_path for n in model.graph if "/weight.0/" in n.name} == {"conv.weight"}
    run(model, "split(by='*.[0-9]*'),internalize-constants")
    write_pieces(model, str(tmp_path / "pieces"))
    pieces = read_manifest(str(tmp_path / "pieces"))["pieces"]
    assert [p["name"] for p in pieces] == ["layers.0", "layers.1"]
    results = validate_pieces(str(tmp_path / "pieces"), seq=8)
    assert results and all(r.problem == "" and r.max_abs == 0.0 for r in results)
