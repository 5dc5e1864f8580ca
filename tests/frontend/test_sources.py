"""Model sources: transformers configs, local pretrained folders, Python factories, ONNX files.

Each source must end in a model whose every node is tagged by the module tree, and each kind of
bad input must fail with one clear message that names the valid choices.
"""

from __future__ import annotations

import json
import sys
import textwrap
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import hcc
import hcc.ir as ir
from hcc.frontend import sources
from hcc.frontend.hierarchy import hierarchy_json
from hcc.frontend.load import ModelSource, load_model, load_module, source_from_path
from hcc.frontend.sources import InputSpec, SourceError
from hcc.frontend.torch_export import ExportError

TINY_BERT = dict(
    num_hidden_layers=1,
    hidden_size=32,
    num_attention_heads=2,
    intermediate_size=64,
    vocab_size=100,
    max_position_embeddings=64,
)
WORDS = "the quick brown fox jumps over a lazy dog and hello world".split()


# -- transformers config ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def masked_lm():
    source = ModelSource("config", "bert", overrides=TINY_BERT, task="masked-lm")
    loaded = load_module(source)
    return loaded, load_model(source)


def test_task_picks_the_model_head(masked_lm):
    loaded, model = masked_lm
    assert type(loaded.module).__name__ == "BertForMaskedLM"
    assert {n.scope.root_scope.tag for n in model.graph} == {"/BertForMaskedLM"}
    assert any("BertOnlyMLMHead" in n.scope.tag for n in model.graph)


def test_overrides_reach_the_config(masked_lm, checks):
    loaded, model = masked_lm
    assert loaded.module.config.hidden_size == 32
    assert len(loaded.module.bert.encoder.layer) == 1
    checks.tags_follow_modules(loaded.module, model)
    tree = json.loads(model.metadata_props["hcc.hierarchy"])
    assert tree["class"] == "BertForMaskedLM"
    assert tree["parameters"] == sum(p.numel() for p in loaded.module.parameters())


def test_the_same_seed_builds_the_same_weights():
    a = sources.from_config("bert", TINY_BERT, seed=3)
    b = sources.from_config("bert", TINY_BERT, seed=3)
    c = sources.from_config("bert", TINY_BERT, seed=4)
    assert torch.equal(a.pooler.dense.weight, b.pooler.dense.weight)
    assert not torch.equal(a.pooler.dense.weight, c.pooler.dense.weight)


def test_unknown_task_lists_the_tasks():
    with pytest.raises(SourceError, match="unknown task 'causal_lm'.*'causal-lm'.*tasks: base"):
        sources.from_config("bert", TINY_BERT, task="causal_lm")


def test_task_the_model_type_lacks_lists_its_tasks():
    with pytest.raises(
        SourceError, match="vit has no 'causal-lm' model; its tasks: base,.*image-classification"
    ):
        sources.from_config("vit", {}, task="causal-lm")


def test_override_value_the_model_cannot_use_is_reported():
    with pytest.raises(SourceError, match="cannot build bert from its config"):
        sources.from_config("bert", {**TINY_BERT, "num_attention_heads": 5})


def test_example_text_needs_a_tokenizer_that_a_config_lacks():
    source = ModelSource("config", "bert", overrides=TINY_BERT, input_text="hello world")
    with pytest.raises(SourceError, match="needs a tokenizer.*built from a config has none"):
        load_module(source)


def test_declared_input_with_a_misspelt_name_lists_the_forward_parameters():
    source = ModelSource(
        "config",
        "bert",
        overrides=TINY_BERT,
        inputs=[InputSpec("input_id", "int64", ["batch", "seq"])],
    )
    with pytest.raises(SourceError, match="'input_id' is not a parameter.*'input_ids'.*takes: "):
        load_module(source)


def test_declared_input_with_an_unknown_dtype_lists_close_dtypes():
    source = ModelSource(
        "config",
        "bert",
        overrides=TINY_BERT,
        inputs=[InputSpec("input_ids", "int46", ["batch", "seq"])],
    )
    with pytest.raises(SourceError, match="unknown dtype 'int46'.*'int64'"):
        load_module(source)


# -- local pretrained folder -------------------------------------------------------------------


def _write_tokenizer(folder) -> None:
    """A tiny WordPiece tokenizer built offline from a vocabulary file."""
    from transformers import BertTokenizerFast

    vocab = folder / "vocab-source.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS) + "\n")
    BertTokenizerFast(vocab=str(vocab)).save_pretrained(str(folder))
    vocab.unlink()


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pretrained")
    module = sources.from_config("bert", TINY_BERT, seed=5)
    module.save_pretrained(str(folder))
    _write_tokenizer(folder)
    source = ModelSource("directory", str(folder), input_text="the quick brown fox")
    model = load_model(source)
    path = folder.parent / "from-folder.onnx"
    ir.save(model, str(path))
    return folder, module, model, str(path)


def test_folder_is_read_from_safetensors(pretrained):
    folder, module, model, _ = pretrained
    assert (folder / "model.safetensors").exists()
    weight = model.graph.initializers["embeddings.word_embeddings.weight"].const_value.numpy()
    assert np.array_equal(weight, module.embeddings.word_embeddings.weight.detach().numpy())


def test_example_text_goes_through_the_folders_tokenizer(pretrained, checks):
    folder, module, model, _ = pretrained
    names = [v.name for v in model.graph.inputs]
    assert set(names) == {"input_ids", "attention_mask", "token_type_ids"}
    loaded = load_module(ModelSource("directory", str(folder), input_text="the quick brown fox"))
    ids = loaded.kwargs["input_ids"]
    assert ids.shape == (2, 6) and ids[0, 1].item() == 5 + WORDS.index("the")
    checks.tags_follow_modules(loaded.module, model)


def test_folder_export_runs_with_other_texts_in_onnxruntime(pretrained):
    folder, module, _, path = pretrained
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    encoded = tokenizer(
        ["a lazy dog", "hello world and the quick brown fox jumps"],
        padding=True,
        return_tensors="pt",
    )
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feeds = {i.name: encoded[i.name].numpy() for i in session.get_inputs()}
    got = session.run(None, feeds)[0]
    with torch.no_grad():
        want = module(**encoded).last_hidden_state.numpy()
    assert np.max(np.abs(got - want)) <= 1e-5


def test_folder_without_config_is_refused(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(SourceError, match="has no config.json"):
        load_module(ModelSource("directory", str(tmp_path)))


def test_missing_folder_is_refused(tmp_path):
    with pytest.raises(SourceError, match="model folder not found"):
        sources.from_directory(str(tmp_path / "nowhere"))


def test_text_for_a_folder_without_tokenizer_is_refused(pretrained, tmp_path):
    folder = pretrained[0]
    for name in ("config.json", "model.safetensors"):
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    with pytest.raises(SourceError, match=r"needs a tokenizer, and the folder .* has none"):
        load_module(ModelSource("directory", str(tmp_path), input_text="hello"))


def test_folder_with_a_task_its_model_lacks_is_refused(pretrained):
    with pytest.raises(SourceError, match="no 'image-classification' model; its tasks: base"):
        sources.from_directory(str(pretrained[0]), task="image-classification")


def test_a_folder_saved_with_use_cache_exports_and_keeps_its_config(tmp_path):
    # Decoders are saved with use_cache: true; the cache object they then return is no tensor.
    import transformers

    config = transformers.GPT2Config(
        n_layer=1, n_embd=32, n_head=2, vocab_size=64, n_positions=32, use_cache=True
    )
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(config).save_pretrained(str(tmp_path))
    loaded = load_module(ModelSource("directory", str(tmp_path), task="causal-lm"))
    assert loaded.module.config.use_cache
    from hcc.frontend.torch_export import export

    model = export(loaded.module, (), loaded.kwargs, dynamic_shapes=loaded.dynamic_shapes)
    [logits] = model.graph.outputs  # no cache tensors besides the logits
    assert logits.shape is not None and logits.shape[-1] == 64
    assert loaded.module.config.use_cache  # the caller's model is left as it was


# -- Python factory -----------------------------------------------------------------------------

FACTORY_CODE = textwrap.dedent("""
    import torch

    class Mixer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU())
            self.out = torch.nn.Linear(8, 4)

        def forward(self, x):
            return self.out(self.inner(x)) + x

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.mixers = torch.nn.ModuleList([Mixer(), Mixer()])

        def forward(self, x):
            for mixer in self.mixers:
                x = mixer(x)
            return x

    def make():
        return Net()

    def make_with_inputs():
        return Net(), (torch.randn(2, 4),)

    def make_dict():
        batch = torch.export.Dim("batch")
        return {"module": Net(), "kwargs": {"x": torch.randn(3, 4)},
                "dynamic_shapes": {"x": {0: batch}}}

    def make_mismatch():
        return Net(), (), {"y": torch.randn(2, 4)}

    def broken():
        raise RuntimeError("no weights here")

    def wrong():
        return 42

    def bad_keys():
        return {"module": Net(), "input": torch.ones(1)}

    NOT_A_FUNCTION = 3
""")


@pytest.fixture(scope="module")
def factory_module(tmp_path_factory):
    folder = tmp_path_factory.mktemp("factory")
    package = folder / "hcc_test_factories"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text(FACTORY_CODE)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(folder))
        yield "hcc_test_factories.models"
        for name in [n for n in sys.modules if n.startswith("hcc_test_factories")]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def factory_export(factory_module):
    source = ModelSource("factory", f"{factory_module}:make_dict")
    return load_module(source).module, load_model(source)


def test_factory_module_and_inputs_export_with_scopes(factory_export, checks):
    module, model = factory_export
    checks.tags_follow_modules(module, model)
    assert {n.scope.tag for n in model.graph} >= {"/Net/Mixer.0", "/Net/Mixer.1"}


def test_factory_dynamic_shapes_are_kept(factory_export):
    _, model = factory_export
    (x,) = model.graph.inputs
    assert isinstance(x.shape[0], str) and x.shape[1] == 4  # batch symbolic, features fixed


def test_factory_returning_a_tuple_gives_its_inputs(factory_module):
    loaded = load_module(ModelSource("factory", f"{factory_module}:make_with_inputs"))
    assert loaded.args[0].shape == (2, 4)


def test_factory_returning_only_a_module_takes_declared_inputs(factory_module, checks):
    source = ModelSource(
        "factory", f"{factory_module}:make", inputs=[InputSpec("x", "float32", ["batch", 4])]
    )
    model = load_model(source)
    checks.tags_follow_modules(load_module(source).module, model)
    with pytest.raises(SourceError, match="cannot guess example inputs for Net.*declare them"):
        load_module(ModelSource("factory", f"{factory_module}:make"))


def test_factory_that_is_not_importable_is_named():
    with pytest.raises(SourceError, match="cannot import factory module 'no_such_pkg.models'"):
        sources.from_factory("no_such_pkg.models:make")
    with pytest.raises(SourceError, match="'package.module:function'"):
        sources.from_factory("no_such_pkg.models")
    with pytest.raises(SourceError, match="'./models' is not a module name"):
        sources.from_factory("./models:make")


def test_factory_module_that_fails_on_import_is_reported(tmp_path, monkeypatch):
    (tmp_path / "hcc_test_broken_factory.py").write_text("raise RuntimeError('no GPU')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SourceError, match="raised RuntimeError: no GPU"):
        sources.from_factory("hcc_test_broken_factory:make")


def test_factory_misspelt_suggests_the_functions_there(factory_module):
    with pytest.raises(SourceError, match="has no function 'mak'; did you mean 'make'"):
        sources.from_factory(f"{factory_module}:mak")


def test_factory_that_is_not_callable_is_refused(factory_module):
    with pytest.raises(SourceError, match="is a int, not a function"):
        sources.from_factory(f"{factory_module}:NOT_A_FUNCTION")


def test_factory_that_raises_is_reported_with_its_error(factory_module):
    with pytest.raises(SourceError, match="raised RuntimeError: no weights here"):
        sources.from_factory(f"{factory_module}:broken")


def test_factory_with_a_wrong_return_says_what_is_expected(factory_module):
    with pytest.raises(SourceError, match=r"returned int; expected a torch.nn.Module, \(module"):
        sources.from_factory(f"{factory_module}:wrong")
    with pytest.raises(SourceError, match=r"unknown keys \['input'\]; known: args, dynamic"):
        sources.from_factory(f"{factory_module}:bad_keys")


def test_factory_inputs_that_do_not_match_forward_name_the_signature(factory_module):
    with pytest.raises(ExportError, match=r"inputs do not match Net.forward\(x\)"):
        load_model(ModelSource("factory", f"{factory_module}:make_mismatch"))


def test_factory_inputs_and_declared_inputs_together_are_refused(factory_module):
    source = ModelSource(
        "factory",
        f"{factory_module}:make_with_inputs",
        inputs=[InputSpec("x", "float32", ["batch", 4])],
    )
    with pytest.raises(SourceError, match="returned example inputs"):
        load_module(source)


# -- existing ONNX file ----------------------------------------------------------------------------


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = torch.nn.LayerNorm(4)
        self.proj = torch.nn.Linear(4, 4)

    def forward(self, x):
        return self.proj(self.norm(x)) + x


class Stack(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.blocks = torch.nn.ModuleList([Block(), Block()])
        self.head = torch.nn.Linear(4, 2)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x) * 2


def _metadata(proto_node) -> dict[str, str]:
    return {p.key: p.value for p in proto_node.metadata_props}


def _strip_node_metadata(proto: onnx.ModelProto, keep) -> None:
    for node in proto.graph.node:
        kept = [(p.key, p.value) for p in node.metadata_props if keep(p.key)]
        del node.metadata_props[:]
        for key, value in kept:
            node.metadata_props.add(key=key, value=value)


@pytest.fixture(scope="module")
def stack_exports(tmp_path_factory):
    """A small module exported three ways, plus its hcc export for reference."""
    folder = tmp_path_factory.mktemp("onnx-sources")
    module = Stack().eval()
    x = torch.randn(2, 4)
    batch = torch.export.Dim("batch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = hcc.export(module, (x,), dynamic_shapes=({0: batch},))
    hcc_path = folder / "hcc.onnx"
    ir.save(reference, str(hcc_path))
    dynamo_path = folder / "dynamo.onnx"
    script_path = folder / "script.onnx"
    with warnings.catch_warnings():  # torch's deprecation notes for the TorchScript exporter
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, (x,), str(dynamo_path), dynamo=True, dynamic_shapes=({0: batch},), verbose=False
        )
        torch.onnx.export(
            module,
            (x,),
            str(script_path),
            dynamo=False,
            input_names=["x"],
            dynamic_axes={"x": {0: "batch"}},
        )
    return module, reference, {"hcc": hcc_path, "dynamo": dynamo_path, "script": script_path}


def test_onnx_file_scopes_come_from_hcc_metadata(stack_exports):
    module, reference, paths = stack_exports
    proto = onnx.load(str(paths["hcc"]))
    # Only hcc's own keys remain: the scopes cannot come from torch's records.
    _strip_node_metadata(proto, lambda key: key.startswith("hcc."))
    stripped = paths["hcc"].with_name("hcc-only.onnx")
    onnx.save(proto, str(stripped))
    model = load_model(ModelSource("onnx", str(stripped)))
    assert [n.scope for n in model.graph] == [n.scope for n in reference.graph]


def test_onnx_file_from_torch_dynamo_gets_scopes_from_its_records(stack_exports, checks):
    module, reference, paths = stack_exports
    assert not any("hcc.tag" in _metadata(n) for n in onnx.load(str(paths["dynamo"])).graph.node)
    model = load_model(ModelSource("onnx", str(paths["dynamo"])))
    checks.tags_follow_modules(module, model)
    assert sorted(n.scope.tag for n in model.graph) == sorted(n.scope.tag for n in reference.graph)


def test_onnx_file_from_torchscript_gets_scopes_from_node_names(stack_exports, checks):
    module, _, paths = stack_exports
    proto = onnx.load(str(paths["script"]))
    proto.metadata_props.add(key="hcc.hierarchy", value=hierarchy_json(module))
    with_tree = paths["script"].with_name("script-tree.onnx")
    onnx.save(proto, str(with_tree))
    model = load_model(ModelSource("onnx", str(with_tree)))
    checks.tags_follow_modules(module, model)
    by_name = {n.name: n.scope.tag for n in model.graph}
    assert by_name["/blocks.1/proj/Gemm"] == "/Stack/Block.1"
    assert by_name["/head/Gemm"] == "/Stack"


def test_onnx_file_takes_no_overrides_or_inputs(stack_exports):
    path = str(stack_exports[2]["hcc"])
    with pytest.raises(SourceError, match="takes no config overrides or example inputs"):
        load_model(ModelSource("onnx", path, overrides={"a": 1}))


def test_source_kind_is_read_from_the_path(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"")
    assert source_from_path(str(tmp_path / "m.onnx")).kind == "onnx"
    assert source_from_path(str(tmp_path)).kind == "directory"
    assert source_from_path("pkg.mod:make").kind == "factory"
    assert source_from_path("bert").kind == "config"
    with pytest.raises(SourceError, match="no such file or folder: ./my-model"):
        source_from_path("./my-model")


def test_unknown_source_kind_lists_the_kinds():
    with pytest.raises(
        SourceError,
        match="unknown model source 'hub'; choose one of config, "
        "pretrained, directory, factory, onnx",
    ):
        load_model(ModelSource("hub", "bert-base-uncased"))
