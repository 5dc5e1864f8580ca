"""Scopes: the module tree a node came from, as an immutable value with a stored text form."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hcc.ir import Scope, common_scope, namespace_of

BERT_TAG = "/BertModel/BertEncoder/BertLayer.0/BertAttention/BertSelfAttention"
BERT_MODULE = "encoder.layer.0.attention.self"


def bert_self_attention() -> Scope:
    return (
        Scope.root("BertModel")
        .child("encoder", "BertEncoder")
        .child("encoder.layer.0", "BertLayer.0")
        .child("encoder.layer.0.attention", "BertAttention")
        .child("encoder.layer.0.attention.self", "BertSelfAttention")
    )


def test_from_tag_rebuilds_every_level_of_a_bert_scope():
    scope = Scope.from_tag(BERT_TAG, BERT_MODULE)
    assert scope == bert_self_attention()
    assert scope.tag == BERT_TAG
    # The ModuleList element takes its attribute and its index: encoder.layer.0.
    assert [s.module_path for s in scope.ancestors(include_self=True)] == [
        "encoder.layer.0.attention.self",
        "encoder.layer.0.attention",
        "encoder.layer.0",
        "encoder",
        "",
    ]


def test_from_tag_without_module_path_keeps_the_class_path():
    scope = Scope.from_tag(BERT_TAG)
    assert scope.tag == BERT_TAG
    assert scope.module_path == ""


@pytest.mark.parametrize("tag", ["", "/"])
def test_an_empty_tag_is_the_unknown_scope(tag):
    assert Scope.from_tag(tag) == Scope.unknown()
    assert Scope.unknown().tag == "" and Scope.unknown().is_unknown


@pytest.mark.parametrize("tag", ["BertModel/BertEncoder", "/BertModel//BertLayer.0"])
def test_malformed_tags_are_refused(tag):
    with pytest.raises(ValueError):
        Scope.from_tag(tag)


def test_invalid_levels_are_refused():
    with pytest.raises(ValueError, match="unknown"):
        Scope.unknown().child("x", "X")
    with pytest.raises(ValueError, match="'/'"):
        Scope.root("A").child("b", "B/C")
    with pytest.raises(ValueError, match="root scope needs"):
        Scope.root("")
    # Its tag would be "/A/", which from_tag cannot read back.
    with pytest.raises(ValueError, match="needs a class segment"):
        Scope.root("A").child("x", "")


def test_ancestors_depth_and_root():
    scope = bert_self_attention()
    assert scope.depth == 4
    assert [s.class_name for s in scope.ancestors()] == [
        "BertAttention",
        "BertLayer.0",
        "BertEncoder",
        "BertModel",
    ]
    assert scope.root_scope == Scope.root("BertModel")
    assert scope.parent.class_name == "BertAttention"


def test_is_within_includes_itself_and_not_siblings():
    attention = bert_self_attention()
    layer0 = attention.at_depth(2)
    layer1 = layer0.parent.child("encoder.layer.1", "BertLayer.1")
    assert attention.is_within(layer0) and layer0.is_within(layer0)
    assert not layer0.is_within(attention)
    assert not attention.is_within(layer1)


def test_common_ancestor_and_common_scope():
    attention = bert_self_attention()
    encoder = attention.at_depth(1)
    layer1 = encoder.child("encoder.layer.1", "BertLayer.1")
    assert attention.common_ancestor(layer1) == encoder
    assert attention.common_ancestor(attention) == attention
    assert attention.common_ancestor(Scope.root("GPT2Model")) is None
    # Unknown scopes (untagged helper ops) do not drag the answer up to nothing.
    assert common_scope([attention, Scope.unknown(), layer1]) == encoder
    assert common_scope([Scope.unknown()]) == Scope.unknown()
    with pytest.raises(ValueError, match="different roots"):
        common_scope([attention, Scope.root("GPT2Model")])


def test_at_depth():
    attention = bert_self_attention()
    assert attention.at_depth(0) == Scope.root("BertModel")
    assert attention.at_depth(2).tag == "/BertModel/BertEncoder/BertLayer.0"
    assert attention.at_depth(4) is attention
    with pytest.raises(ValueError):
        attention.at_depth(5)


def test_scopes_built_apart_are_equal_and_hash_alike():
    a, b = bert_self_attention(), Scope.from_tag(BERT_TAG, BERT_MODULE)
    assert a is not b and a == b and hash(a) == hash(b)
    assert len({a, b}) == 1
    # The module path is part of identity: same classes reached by another path differ.
    other = Scope.root("BertModel").child("decoder", "BertEncoder")
    assert other != a.at_depth(1)


def test_qualified_class_is_carried_but_not_part_of_identity():
    plain = Scope.root("BertModel")
    qualified = Scope.root("BertModel", "transformers.models.bert.modeling_bert.BertModel")
    assert plain == qualified
    assert qualified.qualified_class.endswith(".BertModel")
    assert namespace_of(qualified.child("encoder", "BertEncoder")) == (
        ": transformers.models.bert.modeling_bert.BertModel/encoder: BertEncoder"
    )


def test_scopes_pickle():
    scope = bert_self_attention()
    restored = pickle.loads(pickle.dumps(scope))
    assert restored == scope and restored.tag == BERT_TAG
    assert restored.module_path == BERT_MODULE
    assert pickle.loads(pickle.dumps(Scope.unknown())).is_unknown


# -- round trips, generated ------------------------------------------------------------------------

_ident = st.from_regex(r"[a-z][a-z_]{0,6}", fullmatch=True)
_cls = st.from_regex(r"[A-Z][A-Za-z]{0,8}", fullmatch=True)
# One level below its parent: a plain submodule (one attribute) or a ModuleList element
# (attribute and index, class segment "Class.N"), as the tag rules write them.
_level = st.tuples(_ident, _cls, st.none() | st.integers(0, 30))


@st.composite
def scopes(draw) -> Scope:
    scope = Scope.root(draw(_cls))
    for attribute, cls, index in draw(st.lists(_level, max_size=6)):
        parent_path = scope.module_path
        segment = attribute if index is None else f"{attribute}.{index}"
        path = f"{parent_path}.{segment}" if parent_path else segment
        scope = scope.child(path, cls if index is None else f"{cls}.{index}")
    return scope


@given(scopes())
def test_tag_and_module_path_round_trip(scope):
    restored = Scope.from_tag(scope.tag, scope.module_path)
    assert restored == scope
    assert [s.module_path for s in restored.ancestors()] == [
        s.module_path for s in scope.ancestors()
    ]


@given(scopes())
def test_tag_alone_round_trips_the_class_path(scope):
    assert Scope.from_tag(scope.tag).tag == scope.tag
