"""The pass registry: names, summaries, lookups and their errors."""

from __future__ import annotations

import pytest

import hcc.passes as passes
from hcc.ir import HccError
from hcc.passes import Option, Pass, PassRegistry, PassResult, get_pass, register_pass


class _Noop(Pass):
    def call(self, model):
        return PassResult(model, False)


def test_builtin_passes_are_registered_on_import():
    registered = passes.registered_passes()
    assert {"remove-dead-code", "topological-sort", "strip-tags"} <= set(registered)
    assert list(registered) == sorted(registered)
    for name, info in registered.items():
        assert info.name == name == info.cls.name
        assert info.summary and "\n" not in info.summary
        assert info.doc


@pytest.mark.parametrize("name", ["remove-dead-code", "topological-sort", "strip-tags"])
def test_generic_passes_document_themselves(name):
    info = get_pass(name)
    assert len(info.doc) > len(info.summary)
    for option in info.options.values():
        assert option.doc


def test_get_pass_returns_info_that_creates_instances():
    info = get_pass("remove-dead-code")
    pass_ = info.create({"aggressive": True})
    assert isinstance(pass_, passes.RemoveDeadCodePass)
    assert pass_.aggressive is True
    assert pass_.options == {"aggressive": True}


def test_unknown_pass_suggests_the_closest_name():
    with pytest.raises(
        HccError, match=r"unknown pass 'remove-dead-cod'; did you mean 'remove-dead-code'\?"
    ):
        get_pass("remove-dead-cod")


def test_unknown_pass_without_close_match_lists_the_passes():
    with pytest.raises(HccError, match=r"unknown pass 'xyzzy' \(known passes: .*topological-sort"):
        get_pass("xyzzy")


def test_register_pass_in_a_private_registry():
    registry = PassRegistry()

    @register_pass("noop", summary="Does nothing", registry=registry)
    class NoopPass(_Noop):
        level = Option(int, 1, "how much nothing", min=0)

    assert "noop" in registry and "noop" not in passes.registered_passes()
    assert NoopPass.name == "noop" and NoopPass.summary == "Does nothing"
    info = registry.get("noop")
    assert list(info.options) == ["level"]
    assert passes.build_pipeline("noop(level=3)", registry=registry)[0].level == 3


@pytest.mark.parametrize(
    "name", ["NoCaps", "under_score", "-leading", "trailing-", "double--dash", ""]
)
def test_register_pass_wants_kebab_case(name):
    with pytest.raises(ValueError, match="kebab-case"):
        register_pass(name, summary="x", registry=PassRegistry())


@pytest.mark.parametrize("summary", ["", "two\nlines"])
def test_register_pass_wants_a_one_line_summary(summary):
    with pytest.raises(ValueError, match="one-line summary"):
        register_pass("fine-name", summary=summary, registry=PassRegistry())


def test_register_pass_only_takes_pass_classes():
    with pytest.raises(TypeError, match="Pass subclasses"):
        register_pass("not-a-pass", summary="x", registry=PassRegistry())(object)


def test_two_classes_cannot_share_a_name():
    registry = PassRegistry()
    register_pass("taken", summary="first", registry=registry)(type("First", (_Noop,), {}))
    with pytest.raises(ValueError, match="'taken' is taken"):
        register_pass("taken", summary="second", registry=registry)(type("Second", (_Noop,), {}))


def test_registering_the_same_class_again_is_harmless():
    registry = PassRegistry()

    class Again(_Noop):
        pass

    register_pass("again", summary="x", registry=registry)(Again)
    register_pass("again", summary="x", registry=registry)(Again)
    assert registry.get("again").cls is Again


def test_options_are_inherited_and_can_be_overridden():
    class Base(_Noop):
        a = Option(int, 1)
        b = Option(str, "x")

    class Child(Base):
        b = Option(str, "y")
        c = Option(bool, False)

    info = Child.info()
    assert list(info.options) == ["a", "b", "c"]
    assert Child().options == {"a": 1, "b": "y", "c": False}


def test_options_cannot_be_reassigned_on_an_instance():
    pass_ = passes.RemoveDeadCodePass()
    with pytest.raises(AttributeError, match="set when the pass is made"):
        pass_.aggressive = True


def test_str_of_a_pass_is_its_pipeline_text():
    assert str(passes.RemoveDeadCodePass()) == "remove-dead-code"
    assert str(passes.RemoveDeadCodePass(aggressive=True)) == "remove-dead-code(aggressive=true)"
    assert str(passes.StripTagsPass(keys=["a", "b"])) == "strip-tags(keys=['a', 'b'])"
    assert repr(passes.RemoveDeadCodePass()) == "RemoveDeadCodePass(aggressive=False)"


def test_an_unregistered_pass_is_named_after_its_class():
    assert _Noop.info().name == "_Noop"
    assert str(_Noop()) == "_Noop"
