"""Config overrides are given to the config's constructor, so the values derived from them
(LLaMA's ``head_dim`` from ``hidden_size / num_attention_heads``) follow them."""

from __future__ import annotations

from pathlib import Path

import pytest

from hcc.frontend import sources
from hcc.frontend.sources import SourceError
from hcc.spec.resolve import load_spec

SPECS = sorted((Path(__file__).parents[2] / "specs").glob("*.hx"))
CONFIG_SPECS = [p for p in SPECS if load_spec(str(p)).source.kind == "config"]


def _direct(model_type: str, overrides: dict):
    """The config as its own class builds it from the same values: the reference."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    return CONFIG_MAPPING[model_type](**overrides)


@pytest.mark.parametrize("path", CONFIG_SPECS, ids=lambda p: p.name)
def test_every_bundled_spec_gets_the_config_its_class_would_build(path):
    source = load_spec(str(path)).source
    built = sources.build_config(source.reference, source.overrides)
    assert built.to_dict() == _direct(source.reference, source.overrides).to_dict()


def test_llama_head_dim_follows_hidden_size_and_heads():
    config = sources.build_config("llama", {"hidden_size": 64, "num_attention_heads": 4})
    assert config.head_dim == 16


def test_the_kv_cache_spec_builds_a_cache_of_the_overridden_width():
    source = load_spec(str(Path(__file__).parents[2] / "specs" / "llama-kv-cache.hx")).source
    module = sources.from_config(source.reference, source.overrides, task=source.task)
    attention = module.model.layers[0].self_attn
    heads, kv_heads = (
        source.overrides["num_attention_heads"],
        source.overrides["num_key_value_heads"],
    )
    head_dim = source.overrides["hidden_size"] // heads
    assert attention.k_proj.weight.shape[0] == kv_heads * head_dim
    assert module.model.rotary_emb.inv_freq.shape[0] == head_dim // 2


def test_an_inconsistent_override_names_the_configs_own_reason():
    with pytest.raises(
        SourceError,
        match=r"cannot build llama from its config: ValueError: "
        r"The hidden size \(65\) is not a multiple",
    ):
        sources.build_config("llama", {"hidden_size": 65, "num_attention_heads": 4})


def test_an_override_of_the_wrong_type_is_a_source_error():
    with pytest.raises(SourceError, match="cannot build llama from its config: .*hidden_size"):
        sources.build_config("llama", {"hidden_size": "wide"})
