"""The pieces' tensor names are the runtime's: a preset or a mapping by role, checked before
anything is built, and applied without breaking the graphs."""

from __future__ import annotations

import os

import onnx
import pytest

import hcc.ir as ir
from hcc.llm.interface import rename_for_runtime
from hcc.llm.names import PRESETS, ROLES, piece_names, templates
from hcc.llm.recipe import LLMError, LLMOptions, build_pieces


def test_the_seed001_preset_names_every_piece_as_seed_001_does():
    names = {
        piece: piece_names(piece, 2, preset="seed001", decode_cache="whole")
        for piece in ("embedding", "block_1", "block_cache_1", "lm_head")
    }
    assert names["embedding"]["embedded"] == "input_embed"
    assert names["block_1"] == {
        "hidden": "input_states",
        "attention_mask": "attention_mask",
        "position_ids": "position_ids",
        "hidden_out": "hidden_states",
        "present_k": "past_k",
        "present_v": "past_v",
    }
    assert names["block_cache_1"]["past_k"] == "history_k"
    assert names["block_cache_1"]["present_v"] == "past_v"
    assert names["lm_head"] == {"head_in": "hidden_states", "token": "token"}


def test_hccs_own_names_number_the_hidden_states_along_the_chain():
    assert piece_names("block_cache_3", 4)["hidden"] == "hidden_states_3"
    assert piece_names("block_cache_3", 4)["hidden_out"] == "hidden_states_4"
    assert piece_names("block_cache_3", 4)["new_k"] == "new_k_3"
    assert piece_names("lm_head", 4)["head_in"] == "hidden_states_4"
    assert set(PRESETS["hcc"]) == set(PRESETS["seed001"]) == set(ROLES)


@pytest.mark.parametrize(
    "names,message",
    [
        ({"hiden": "x"}, r"names has no key 'hiden'; did you mean 'hidden'"),
        ({"hidden": ""}, r"names.hidden must be a non-empty string"),
        ({"hidden": 3}, r"names.hidden must be a non-empty string"),
        ({"hidden": "two words"}, r"names.hidden = 'two words' is not a name"),
        ({"hidden": "x\n"}, r"names.hidden = 'x\\n' is not a name"),
        ({"hidden": "7up"}, r"is not a name a runtime can take"),
        ({"hidden": "x_{j}"}, r"is not a name a runtime can take"),
        ({"hidden": "x" * 129}, r"longer than 128"),
        ({"token": "token_{i}"}, r"names.token = 'token_\{i\}' numbers itself after a layer"),
        # past_k and present_k meet in block_cache when decode returns the whole cache.
        ({"past_k": "k", "present_k": "k"}, r"names.present_k and names.past_k are both 'k'"),
        ({"hidden": "position_ids"}, r"names.position_ids and names.hidden are both"),
    ],
)
def test_a_bad_mapping_is_refused_before_anything_is_built(names, message, tmp_path):
    options = LLMOptions(names=names, decode_cache="whole")
    with pytest.raises(LLMError, match=message):
        build_pieces(None, str(tmp_path), options)
    assert os.listdir(tmp_path) == []


def test_names_that_meet_in_one_piece_only_with_its_layer_number_are_refused():
    # hidden_out of block_0 is "h_1", the same as the plain name of the history keys.
    names = {"hidden_out": "h_{i+1}", "past_k": "h_1"}
    templates("hcc", names)  # as templates they differ
    with pytest.raises(LLMError, match=r"in block_cache_0, names.past_k and names.hidden_out"):
        piece_names("block_cache_0", 2, names=names)
    assert piece_names("block_cache_1", 2, names=names)["hidden_out"] == "h_2"


def test_an_unknown_preset_is_named(tmp_path):
    with pytest.raises(LLMError, match="names preset must be one of hcc, seed001, got 'seed002'"):
        build_pieces(None, str(tmp_path), LLMOptions(names_preset="seed002"))


def _block(inner_name: str) -> ir.Model:
    """A block_0 with hcc's names whose inner value is called ``inner_name``."""
    hidden = ir.Value("hidden_states_0", ir.TensorType(ir.DataType.FLOAT, (1, 2)))
    mask = ir.Value("attention_mask", ir.TensorType(ir.DataType.INT64, (1, 2)))
    cast = ir.Node("", "Cast", [mask], attributes=[ir.Attr.int("to", 1)])
    cast.outputs[0].name = inner_name
    add = ir.Node("", "Add", [hidden, cast.outputs[0]])
    add.outputs[0].name = "hidden_states_1"
    keys = ir.Node("", "Identity", [hidden])
    keys.outputs[0].name = "present_k_0"
    values = ir.Node("", "Identity", [hidden])
    values.outputs[0].name = "present_v_0"
    outputs = [add.outputs[0], keys.outputs[0], values.outputs[0]]
    for node in (cast, add, keys, values):
        node.outputs[0].type = hidden.type
    graph = ir.Graph([hidden, mask], outputs, [cast, add, keys, values], name="block_0")
    return ir.Model(graph, opset_imports={"": 15})


def test_a_runtime_name_that_an_inner_tensor_holds_moves_the_inner_one(tmp_path):
    model = _block("input_states")
    roles = rename_for_runtime(model, "block_0", 2, LLMOptions(names_preset="seed001"))
    assert roles["hidden"] == "input_states"
    assert [v.name for v in model.graph.inputs] == ["input_states", "attention_mask"]
    assert model.graph.nodes[0].outputs[0].name == "input_states__1"
    path = str(tmp_path / "block_0.onnx")
    ir.save(model, path)
    onnx.checker.check_model(path, full_check=True)


def test_a_mapping_may_swap_two_names(tmp_path):
    model = _block("cast")
    names = {"hidden": "present_k_{i}", "present_k": "hidden_states_{i}"}
    rename_for_runtime(model, "block_0", 2, LLMOptions(names=names))
    assert [v.name for v in model.graph.inputs] == ["present_k_0", "attention_mask"]
    assert [v.name for v in model.graph.outputs][:2] == ["hidden_states_1", "hidden_states_0"]
    path = str(tmp_path / "block_0.onnx")
    ir.save(model, path)
    onnx.checker.check_model(path, full_check=True)


@pytest.mark.slow
def test_pieces_with_a_mapping_of_numbered_names_decode_like_transformers(tmp_path):
    import json

    import torch

    from hcc.frontend import sources
    from hcc.llm.runtime import Runner

    config = dict(
        num_hidden_layers=2,
        hidden_size=32,
        intermediate_size=64,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=200,
        max_position_embeddings=64,
    )
    model = sources.from_config("llama", config, task="causal-lm", seed=1)
    prompt = [5, 17, 42, 7, 99, 3]
    model.config.use_cache = True
    with torch.no_grad():
        out = model.generate(
            torch.tensor([prompt]),
            max_new_tokens=20,
            min_new_tokens=20,
            do_sample=False,
            pad_token_id=0,
        )
    names = {
        "embedded": "x_0",
        "hidden": "x_{i}",
        "hidden_out": "x_{i+1}",
        "head_in": "x_{layers}",
        "past_k": "layer{i}/k",
        "past_v": "layer{i}/v",
        "new_k": "layer{i}/k_new",
        "new_v": "layer{i}/v_new",
        "token": "next",
    }
    build_pieces(model, str(tmp_path), LLMOptions(max_len=32, static=True, names=names))
    manifest = json.load(open(tmp_path / "manifest.json"))
    cache = manifest["pieces"]["block_cache_1"]
    assert sorted(v["name"] for v in cache["inputs"]) == [
        "attention_mask",
        "layer1/k",
        "layer1/v",
        "position_ids",
        "x_1",
    ]
    assert sorted(v["name"] for v in cache["outputs"]) == ["layer1/k_new", "layer1/v_new", "x_2"]
    assert [v["name"] for v in manifest["pieces"]["lm_head"]["inputs"]] == ["x_2"]
    for entry in manifest["pieces"].values():
        onnx.checker.check_model(str(tmp_path / entry["file"]), full_check=True)
    generated = Runner(str(tmp_path)).generate(prompt, 20).tokens
    assert generated == out[0, len(prompt) :].tolist()
