"""``extract``: the chosen modules alone, at any depth; bad choices say what to do."""

from __future__ import annotations

import pytest

from hcc.passes import run
from hcc.passes.pieces import KEEP_KEY, ONLY_KEY, PIECES_KEY, SplitError, pieces_of

ATTENTION = "/GPT2LMHeadModel/GPT2Model/GPT2Block.{}/GPT2Attention"


@pytest.fixture
def gpt2(gpt2):
    """The session's GPT-2, without the choice a test records on it (the pass records it on
    the model it runs on)."""
    yield gpt2
    for key in (PIECES_KEY, ONLY_KEY, KEEP_KEY):
        gpt2.model.meta.pop(key, None)


def _extract(built, scopes: list[str]):
    return run(built.model, f"extract(scopes={scopes!r})")


def test_a_later_split_does_not_keep_what_extract_asked_to_keep(gpt2):
    model = _extract(gpt2, [ATTENTION.format(0)])
    assert model.meta[KEEP_KEY]
    model = run(model, "split(by='*/GPT2Block.*')")
    assert KEEP_KEY not in model.meta and ONLY_KEY not in model.meta


def test_a_nested_module_is_a_piece_of_its_nodes_alone(gpt2):
    model = _extract(gpt2, [ATTENTION.format(1)])
    pieces = {p.name: p for p in pieces_of(model)}
    assert model.meta[ONLY_KEY] == ["transformer.h.1.attn"]
    piece = pieces["transformer.h.1.attn"]
    inside = [n for n in model.graph if n.scope.module_path.startswith("transformer.h.1.attn")]
    assert set(piece.nodes) == set(inside)
    # Every node is in exactly one piece.
    assert sum(len(p.nodes) for p in pieces.values()) == len(list(model.graph))


def test_an_inner_match_of_a_chosen_module_is_taken_with_it(gpt2):
    model = _extract(gpt2, ["*/GPT2Block.0", "*/GPT2Block.0/GPT2MLP", ATTENTION.format(2)])
    assert model.meta[ONLY_KEY] == ["transformer.h.0", "transformer.h.2.attn"]


@pytest.mark.parametrize(
    "scopes,message",
    [
        ([], r"extract needs scopes = \[...\]"),
        (["*/GPT2Atention"], r"scopes: '\*/GPT2Atention' matches no module; .*GPT2Attention"),
    ],
)
def test_a_choice_of_nothing_says_what_to_do(gpt2, scopes, message):
    with pytest.raises(SplitError, match=message):
        _extract(gpt2, scopes)
