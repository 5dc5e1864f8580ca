"""The textual pipeline: parsing, formatting, building, and errors located by column."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hcc.ir import HccError
from hcc.passes import (
    PassSpec,
    PipelineError,
    RemoveDeadCodePass,
    StripTagsPass,
    build_pipeline,
    format_pipeline,
    parse_pipeline,
)


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_blank_text_is_the_empty_pipeline(text):
    assert parse_pipeline(text) == []
    assert build_pipeline(text) == []


def test_names_and_options():
    specs = parse_pipeline("a, b-c(x=1,other='x',flag=true,list=[1,2]) ,d()")
    assert specs == [
        PassSpec("a"),
        PassSpec("b-c", {"x": 1, "other": "x", "flag": True, "list": [1, 2]}),
        PassSpec("d"),
    ]


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("0", 0),
        ("-12", -12),
        ("+3", 3),
        ("1.5", 1.5),
        ("-0.25", -0.25),
        ("1e-3", 0.001),
        (".5", 0.5),
        ("2.", 2.0),
        ("true", True),
        ("false", False),
        ("first", "first"),
        ("snake_case.dotted-word", "snake_case.dotted-word"),
        ("'it\\'s'", "it's"),
        ('"two words"', "two words"),
        ("'tab\\there'", "tab\there"),
        ("''", ""),
        ("'*/GPT2Block.*'", "*/GPT2Block.*"),
        ("[]", []),
        ("[ 'a' , b ]", ["a", "b"]),
        ("[1, 2.5, true]", [1, 2.5, True]),
        ("[1,]", [1]),
    ],
)
def test_value_literals(literal, value):
    (spec,) = parse_pipeline(f"p(v={literal})")
    assert spec.options["v"] == value
    assert type(spec.options["v"]) is type(value)


def test_whitespace_and_newlines_between_tokens():
    specs = parse_pipeline("\n  a (\n x = 1 ,\n y = [ 2 ] )\n, b\n")
    assert specs == [PassSpec("a", {"x": 1, "y": [2]}), PassSpec("b")]
    assert (specs[1].location.line, specs[1].location.column) == (5, 3)


def test_locations_of_passes_and_options():
    text = "remove-dead-code, strip-tags(keys=['a'], hierarchy=false)"
    first, second = parse_pipeline(text)
    assert (first.location.column, first.location.length) == (1, len("remove-dead-code"))
    assert second.location.column == text.index("strip-tags") + 1
    keys = second.option_locations["keys"]
    assert (keys.column, keys.length) == (text.index("keys") + 1, len("keys=['a']"))
    assert second.option_locations["hierarchy"].column == text.index("hierarchy") + 1


def test_format_round_trips():
    text = "a,b(x=1,s='it\\'s',f=false,l=['p', 'q'],g=0.5)"
    specs = parse_pipeline(text)
    assert format_pipeline(specs) == text
    assert parse_pipeline(format_pipeline(specs)) == specs


_scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=8),
)


@given(
    st.dictionaries(
        st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True),
        st.one_of(_scalars, st.lists(_scalars, max_size=3)),
        max_size=4,
    )
)
def test_any_option_values_survive_format_and_parse(options):
    spec = PassSpec("some-pass", options)
    assert parse_pipeline(str(spec)) == [spec]


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("a,,b", 3, "expected a pass name, found ','"),
        ("a,", 3, "expected a pass name, found the end of the pipeline"),
        (",a", 1, "expected a pass name, found ','"),
        ("a b", 3, "expected ',' between passes, found 'b'"),
        ("a(x=1", 6, "expected ',' or ')' after an option, found the end of the pipeline"),
        ("a(x 1)", 5, "expected '=' after option 'x', found '1'"),
        ("a(x=)", 5, "expected a value for option 'x', found ')'"),
        ("a(=1)", 3, "expected an option name, found '='"),
        ("a(x-y=1)", 3, "expected an option name, found 'x-y'"),
        ("a(x=1 y=2)", 7, "expected ',' or ')' after an option, found 'y'"),
        ("a(x=[1,[2]])", 8, "lists cannot be nested"),
        ("a(x=[1 2])", 8, "expected ',' or ']' in a list, found '2'"),
        ("a(x='abc)", 5, "unterminated string"),
        ("a(x='a\\qb')", 7, "unknown escape '\\q' in string"),
        ("a(x=1, x=2)", 8, "option 'x' is given twice"),
        ("a;b", 2, "unexpected character ';'"),
        ("true", 1, "expected a pass name, found 'true'"),
    ],
)
def test_syntax_errors_point_at_the_column(text, column, message):
    with pytest.raises(PipelineError) as caught:
        parse_pipeline(text)
    error = caught.value
    assert isinstance(error, HccError)
    assert error.source_location.column == column
    first_line, source_line, caret_line = str(error).splitlines()
    assert first_line == f"pipeline:1:{column}: {message}"
    assert source_line == f"  {text}"
    assert caret_line.index("^") == 2 + column - 1


def test_errors_on_later_lines_report_the_line():
    with pytest.raises(PipelineError) as caught:
        parse_pipeline("a,\n  b(x=)", source="spec.hx")
    assert str(caught.value).splitlines() == [
        "spec.hx:2:7: expected a value for option 'x', found ')'",
        "    b(x=)",
        "        ^",
    ]


def test_build_makes_passes_with_options():
    built = build_pipeline("remove-dead-code(aggressive=true),strip-tags(keys=['x'])")
    assert [type(p) for p in built] == [RemoveDeadCodePass, StripTagsPass]
    assert built[0].aggressive is True and built[1].keys == ["x"]


def test_build_accepts_specs_and_ready_passes():
    ready = StripTagsPass(hierarchy=False)
    built = build_pipeline([PassSpec("topological-sort"), ready])
    assert built[1] is ready and built[0].info().name == "topological-sort"


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        (
            "topological-sort,remove-dead-cod",
            18,
            "unknown pass 'remove-dead-cod'; did you mean 'remove-dead-code'?",
        ),
        (
            "remove-dead-code(agressive=true)",
            18,
            "pass 'remove-dead-code' has no option 'agressive'; did you mean 'aggressive'?",
        ),
        (
            "remove-dead-code(aggressive=1)",
            18,
            "option 'aggressive' of pass 'remove-dead-code' expects bool, got int 1",
        ),
        (
            "strip-tags(keys='a')",
            12,
            "option 'keys' of pass 'strip-tags' expects list[str], got str 'a'",
        ),
        ("topological-sort(x=1)", 18, "pass 'topological-sort' takes no options, got 'x'"),
    ],
)
def test_build_errors_point_at_the_pass_or_option(text, column, message):
    with pytest.raises(PipelineError) as caught:
        build_pipeline(text)
    assert str(caught.value).splitlines()[0].startswith(f"pipeline:1:{column}: {message}")
