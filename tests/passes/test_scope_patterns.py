"""The one scope matcher behind split's and outline-functions' ``by`` and the precision
passes' ``keep`` / ``only``."""

from __future__ import annotations

from hcc.ir import Scope
from hcc.passes._scope_patterns import ScopePattern

ROOT = Scope.root("LlamaForCausalLM")
LAYER0 = ROOT.child("model.layers.0", "LlamaDecoderLayer.0")
NORM0 = LAYER0.child("model.layers.0.input_layernorm", "LlamaRMSNorm")
MLP0 = LAYER0.child("model.layers.0.mlp", "LlamaMLP")
LAYER1 = ROOT.child("model.layers.1", "LlamaDecoderLayer.1")


def test_a_glob_matches_class_paths_and_module_paths():
    assert ScopePattern("*/LlamaRMSNorm").matches(NORM0)
    assert ScopePattern("model.layers.0.mlp").matches(MLP0)
    assert not ScopePattern("*/LlamaRMSNorm").matches(MLP0)


def test_bar_separates_alternatives_in_one_string_and_across_a_list():
    assert ScopePattern("*/LlamaMLP|*/LlamaRMSNorm").globs == ("*/LlamaMLP", "*/LlamaRMSNorm")
    pattern = ScopePattern(["*/LlamaMLP", "*.layers.1|*/LlamaMLP"])
    assert pattern.globs == ("*/LlamaMLP", "*.layers.1")
    assert pattern.matches(MLP0) and pattern.matches(LAYER1) and not pattern.matches(NORM0)


def test_covers_asks_about_the_scope_and_its_ancestors():
    pattern = ScopePattern("*/LlamaDecoderLayer.0")
    assert pattern.covers(NORM0) and pattern.covers(LAYER0)
    assert not pattern.matches(NORM0) and not pattern.covers(LAYER1)
    assert not pattern.covers(Scope.unknown())


def test_unmatched_names_the_misspelt_globs():
    pattern = ScopePattern("*/LlamaMLP|*/LlamaRMSNrom")
    assert pattern.unmatched([ROOT, LAYER0, NORM0, MLP0]) == ["*/LlamaRMSNrom"]


def test_an_empty_pattern_is_false_and_matches_nothing():
    assert not ScopePattern("") and not ScopePattern([" | "])
    assert not ScopePattern([]).covers(NORM0)
