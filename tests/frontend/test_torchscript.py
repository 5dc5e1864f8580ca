"""The TorchScript exporter option: scopes from node names and the module tree, exact numerics."""

from __future__ import annotations

import onnx
import pytest
import torch

import hcc
import hcc.ir as ir
from hcc.frontend import sources
from hcc.frontend.torchscript import flatten_output, input_names, make_flat_call

BERT = dict(num_hidden_layers=2, hidden_size=128, num_attention_heads=2, intermediate_size=512)


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    module = sources.from_config("bert", BERT, seed=0)
    kwargs, shapes = sources.example_inputs(module)
    model = hcc.export(module, (), kwargs, dynamic_shapes=shapes, exporter="torchscript")
    path = tmp_path_factory.mktemp("ts") / "bert.onnx"
    ir.save(model, str(path))
    return module, model, str(path)


def test_every_node_is_tagged_after_the_tagging_passes(bert, checks):
    module, model, _ = bert
    assert len(model.graph) > 200  # TorchScript's graph is the large one: it really ran
    checks.tags_follow_modules(module, model)


def test_node_names_read_as_paths_of_the_users_module(bert):
    _, model, _ = bert
    named = [n.name for n in model.graph if n.name.startswith("/")]
    assert any(n.startswith("/encoder/layer.0/attention/") for n in named)
    assert not any(n.startswith("/wrapped/") for n in named)
    assert "embeddings.word_embeddings.weight" in model.graph.initializers


def test_nodes_named_after_a_module_path_take_that_modules_scope(bert):
    _, model, _ = bert
    for node in model.graph:
        if not node.name.startswith("/"):
            continue
        path = node.name[1:].rsplit("/", 1)[0].replace("/", ".")
        if path.startswith("encoder.layer.1.attention.self"):
            assert node.scope.module_path == "encoder.layer.1.attention.self", node


def test_inputs_and_outputs_keep_their_names(bert):
    _, model, _ = bert
    assert [v.name for v in model.graph.inputs] == ["input_ids", "attention_mask"]
    assert [v.name for v in model.graph.outputs] == ["last_hidden_state", "pooler_output"]
    assert model.ir_version >= 10  # node metadata_props need IR 10


@pytest.mark.parametrize("batch,seq", [(1, 8), (2, 16), (3, 33)])
def test_onnxruntime_matches_torch(bert, checks, batch, seq):
    module, _, path = bert
    assert checks.max_diff(module, path, batch, seq) <= 1e-5


def test_checker_accepts_the_file(bert):
    onnx.checker.check_model(bert[2], full_check=True)


# -- the wrapper, on small modules --------------------------------------------------------


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(4, 4)

    def forward(self, x, scale: float = 1.0):
        return self.proj(x) * scale


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = torch.nn.ModuleList([Block(), Block()])

    def forward(self, x, y=None, *, scale: float = 1.0, return_dict: bool = True):
        h = self.blocks[1](self.blocks[0](x, scale), scale)
        if y is not None:
            h = h + y
        return {"hidden": h, "parts": (h.sum(-1), None, h.mean(-1))} if return_dict else h


def test_outputs_are_flattened_with_their_structure_as_names():
    tensors, names = flatten_output({"a": torch.ones(1), "b": (torch.ones(1), None, torch.ones(1))})
    assert names == ["a", "b.0", "b.2"] and len(tensors) == 3
    assert flatten_output(torch.ones(1))[1] == ["output"]
    assert flatten_output((torch.ones(1),))[1] == ["output"]


def test_tensor_inputs_are_named_after_the_forward_parameters():
    net = Net()
    x = torch.ones(2, 4)
    assert input_names(net, (x,), {"y": x, "scale": 2.0}) == ["x", "y"]


def test_flat_call_fixes_non_tensor_arguments_and_matches_the_module():
    net = Net().eval()
    x, y = torch.randn(2, 4), torch.randn(2, 4)
    wrapper = make_flat_call(net, (x,), {"y": y, "scale": 0.5})
    got = wrapper(x, y)
    want = net(x, y, scale=0.5)
    assert torch.equal(got[0], want["hidden"])
    assert wrapper.output_names == ["hidden", "parts.0", "parts.2"]


def test_a_plain_module_exports_with_positional_and_keyword_inputs(checks):
    torch.manual_seed(0)
    net = Net().eval()
    x, y = torch.randn(3, 4), torch.randn(3, 4)
    batch = torch.export.Dim("batch")
    model = hcc.export(
        net,
        (x,),
        {"y": y, "scale": 0.5},
        exporter="torchscript",
        dynamic_shapes={"x": {0: batch}, "y": {0: batch}},
    )
    checks.tags_follow_modules(net, model)
    tags = {n.scope.tag for n in model.graph}
    assert {"/Net/Block.0", "/Net/Block.1"} <= tags
    assert [v.name for v in model.graph.outputs] == ["hidden", "parts.0", "parts.2"]
