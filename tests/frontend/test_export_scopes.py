"""Export from transformers configs: every node tagged by the rules, numerics exact, file valid."""

from __future__ import annotations

import ast

import onnx
import pytest
import torch

import hcc
import hcc.ir as ir
from hcc.frontend import sources
from hcc.frontend.sources import SourceError
from hcc.frontend.torch_export import ExportError

from _models import export_module, small_module


@pytest.fixture(scope="module", params=["bert", "gpt2", "llama"])
def exported(request, tmp_path_factory):
    module = small_module(request.param)
    model, _ = export_module(module)
    path = tmp_path_factory.mktemp(request.param) / "model.onnx"
    ir.save(model, str(path))
    return module, model, str(path)


def test_every_node_carries_a_tag(exported):
    _, _, path = exported
    proto = onnx.load(path, load_external_data=False)
    untagged = [
        n.name for n in proto.graph.node if "hcc.tag" not in {p.key for p in n.metadata_props}
    ]
    assert untagged == []
    assert "hcc.hierarchy" in {p.key for p in proto.metadata_props}


def test_tags_name_existing_non_builtin_modules(exported, checks):
    module, model, _ = exported
    checks.tags_follow_modules(module, model)


def test_recorded_nodes_get_the_most_specific_non_builtin_module(exported):
    module, model, _ = exported
    modules = dict(module.named_modules())
    checked = 0
    for node in model.graph:
        text = node.metadata_props.get("pkg.torch.onnx.name_scopes")
        if not text or "_empty_nn_module_stack" in text:
            continue
        paths = ast.literal_eval(text)[:-1]
        deepest = [
            p
            for p in paths
            if p in modules and (p == "" or not type(modules[p]).__module__.startswith("torch.nn"))
        ][-1]
        assert node.scope.module_path == deepest, node
        checked += 1
    assert checked > 0.5 * len(model.graph)


@pytest.mark.parametrize("batch,seq", [(1, 8), (2, 16), (3, 33)])
def test_onnxruntime_matches_torch(exported, checks, batch, seq):
    module, _, path = exported
    assert checks.max_diff(module, path, batch, seq, seed=batch * 100 + seq) <= 1e-5


def test_checker_accepts_the_file(exported):
    _, _, path = exported
    onnx.checker.check_model(path, full_check=True)


# -- bad input --------------------------------------------------------------------------------


def test_unknown_model_type_suggests_close_names():
    with pytest.raises(SourceError, match="unknown model type 'bertt'.*'bert'"):
        sources.from_config("bertt")


def test_misspelt_config_override_is_named():
    with pytest.raises(SourceError, match="no option 'num_hiden_layers'.*num_hidden_layers"):
        sources.from_config("bert", {"num_hiden_layers": 2})


def test_factory_that_cannot_be_imported():
    with pytest.raises(SourceError, match="cannot import factory module"):
        sources.from_factory("no_such_package_here.models:make")
    with pytest.raises(SourceError, match="package.module:function"):
        sources.from_factory("just_a_name")


def test_inputs_that_do_not_match_forward_name_the_signature():
    module = torch.nn.Linear(2, 2)
    with pytest.raises(ExportError, match=r"forward\(input\)"):
        hcc.export(module, (torch.ones(1, 2), torch.ones(1, 2)))
    with pytest.raises(SourceError, match="not a parameter"):
        sources.example_inputs(module, [sources.InputSpec("x", "float32", [1, 2])])


class _Refuses(torch.nn.Module):
    def forward(self, x):
        raise ValueError("You must specify decoder inputs")


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
def test_export_failure_reports_the_models_own_error(exporter):
    with pytest.raises(ExportError, match=f"\\({exporter}\\) failed: ValueError: You must specify"):
        hcc.export(_Refuses(), (torch.ones(2, 2),), exporter=exporter)


def test_unknown_exporter_lists_the_exporters():
    with pytest.raises(
        ExportError, match="unknown exporter 'script'; choose one of dynamo, torchscript"
    ):
        hcc.export(torch.nn.Linear(2, 2), (torch.ones(1, 2),), exporter="script")


class _TwoTables(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.source = torch.nn.Embedding(32, 8)
        self.target = torch.nn.Embedding(32, 8)

    def forward(self, input_ids, decoder_input_ids):
        return self.source(input_ids) - self.target(decoder_input_ids)


def test_one_tensor_given_for_two_inputs_exports_two_inputs(tmp_path):
    # An example that passes one tensor as two inputs (the same ids for an encoder and a
    # decoder) gave a model whose two tables read one input (torch's dynamo exporter).
    from hcc.ort import Session

    torch.manual_seed(0)
    module = _TwoTables().eval()
    ids = torch.randint(0, 32, (2, 5))
    model = hcc.export(module, (), {"input_ids": ids, "decoder_input_ids": ids})
    ir.save(model, str(tmp_path / "model.onnx"))
    a, b = torch.randint(0, 32, (2, 5)), torch.randint(0, 32, (2, 5))
    feeds = {"input_ids": a.numpy(), "decoder_input_ids": b.numpy()}
    (got,) = Session(str(tmp_path / "model.onnx")).run(feeds).values()
    assert abs(got - module(a, b).detach().numpy()).max() < 1e-6
