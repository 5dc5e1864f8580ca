"""The parser: the syntax tree as written, with a true location on every node.

Locations matter because every later error (an unknown pass, a bad option value, an undefined
parameter) is reported at a node's location; a wrong column puts the caret under the wrong text.
"""

from __future__ import annotations

import dataclasses

import pytest

from hcc.diagnostics import SpecError
from hcc.spec import ast
from hcc.spec.parser import parse_text

EVERYTHING = """\
# a spec with every construct
include "base.hx"
param layers: int = 2  # trailing
param name: str

model bert from config "bert" {
  task = "masked-lm"
  config {
    num_hidden_layers = $layers
    act = [gelu, "tanh", -1, 2.5e-3, true, false, []]
  }
}

inputs {
  input_ids: int64[batch, 16] = [2, 16]
  text = "hello # not a comment"
}

export {
  opset = 18
}

pipeline {
  remove-dead-code
  strip-tags(keys = ["a"], hierarchy = false)
  remove-dead-code(aggressive = true)
}

output "build/${layers}" {
  name = bert
}
"""


def _nodes(node):
    """Every AST node below (and including) ``node``."""
    if isinstance(node, list):
        for item in node:
            yield from _nodes(item)
    elif dataclasses.is_dataclass(node) and not isinstance(node, (ast.Comment, ast.SourceLocation)):
        yield node
        for f in dataclasses.fields(node):
            yield from _nodes(getattr(node, f.name))


def _written(loc) -> str:
    """The text a location underlines."""
    return loc.line_text[loc.column - 1 : loc.column - 1 + loc.length]


def test_every_node_has_a_location_on_its_own_text():
    spec = parse_text(EVERYTHING, "everything.hx")
    lines = EVERYTHING.split("\n")
    # What the text at each kind of node starts with: its keyword, name or value.
    starts = {
        ast.Include: lambda n: '"base.hx"',
        ast.Param: lambda n: n.name,
        ast.ModelSection: lambda n: n.name,
        ast.InputsSection: lambda n: "inputs",
        ast.ExportSection: lambda n: "export",
        ast.PipelineSection: lambda n: "pipeline",
        ast.OutputSection: lambda n: "output",
        ast.InputDecl: lambda n: n.name,
        ast.PassCall: lambda n: n.name,
        ast.Assign: lambda n: n.key,
        ast.Ref: lambda n: f"${n.name}",
        ast.ListValue: lambda n: "[",
    }
    seen = set()
    for node in _nodes(spec.items):
        if isinstance(node, ast.SpecFile):
            continue
        loc = node.loc
        seen.add(type(node))
        assert loc.source == "everything.hx"
        assert loc.line_text == lines[loc.line - 1], node
        if isinstance(node, ast.Literal):
            text = _written(loc)
            if isinstance(node.value, bool):
                assert text == ("true" if node.value else "false")
            elif isinstance(node.value, (int, float)):
                assert float(text) == node.value
            elif node.word:
                assert text == node.value
            else:
                assert text.startswith('"') and text.endswith('"')
        else:
            assert loc.line_text[loc.column - 1 :].startswith(starts[type(node)](node)), node
    assert seen >= set(starts) | {ast.Literal}


def test_secondary_locations_point_at_types_and_kinds():
    spec = parse_text(EVERYTHING)
    param = spec.items[1]
    assert (param.type_loc.line, param.type_loc.column, _written(param.type_loc)) == (3, 15, "int")
    model = spec.items[3]
    assert _written(model.kind_loc) == "config"
    decl = spec.items[4].inputs[0]
    assert _written(decl.dtype_loc) == "int64"


def test_block_end_lines_are_recorded_for_comments_before_closing_braces():
    spec = parse_text(EVERYTHING)
    model = spec.items[3]
    assert (model.config_line, model.config_end_line, model.end_line) == (8, 11, 12)
    assert spec.items[6].end_line == 27  # the pipeline's '}'


def test_values_keep_their_kind():
    spec = parse_text(EVERYTHING)
    config = {a.key: a.value for a in spec.items[3].config}
    assert config["num_hidden_layers"] == ast.Ref("layers", config["num_hidden_layers"].loc)
    items = config["act"].items
    assert [(i.value, i.word) for i in items[:6]] == [
        ("gelu", True),
        ("tanh", False),
        (-1, False),
        (0.0025, False),
        (True, False),
        (False, False),
    ]
    assert isinstance(items[6], ast.ListValue) and items[6].items == []
    # "${...}" stays as written: the resolver substitutes it.
    assert spec.items[7].path.value == "build/${layers}"


@pytest.mark.parametrize(
    "written, value",
    [
        ("0", 0),
        ("42", 42),
        ("-7", -7),
        ("+3", 3),
        ("1.5", 1.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e3", 1000.0),
        ("-2.5E-2", -0.025),
    ],
)
def test_numbers(written, value):
    spec = parse_text(f'model m from config "c" {{ seed = {written} }}')
    literal = spec.items[0].options[0].value
    assert literal.value == value and type(literal.value) is type(value)


@pytest.mark.parametrize(
    "written, value",
    [
        (r'"plain"', "plain"),
        (r'"say \"hi\""', 'say "hi"'),
        (r'"back\\slash"', "back\\slash"),
        (r'"tab\tnew\nline"', "tab\tnew\nline"),
        (r'"# not a comment"', "# not a comment"),
        (r'"unknown \q kept"', "unknown \\q kept"),
        (r'""', ""),
    ],
)
def test_strings_and_escapes(written, value):
    spec = parse_text(f"output {written}")
    assert spec.items[0].path.value == value
    assert spec.items[0].path.word is False


def test_true_and_false_are_booleans_but_other_bare_words_are_strings():
    spec = parse_text("output x { a = true  b = false  c = first  d = remove-dead-code }")
    values = [(a.value.value, a.value.word) for a in spec.items[0].options]
    assert values == [(True, False), (False, False), ("first", True), ("remove-dead-code", True)]


def test_a_reference_is_one_token_starting_at_the_dollar():
    spec = parse_text('model m from config "c" {\n  seed = $my-seed\n}')
    ref = spec.items[0].options[0].value
    assert ref == ast.Ref("my-seed", ref.loc)
    assert (ref.loc.column, ref.loc.length, _written(ref.loc)) == (10, 8, "$my-seed")


def test_comments_are_kept_with_their_line_and_kind():
    spec = parse_text(EVERYTHING)
    assert [(c.line, c.text, c.own_line) for c in spec.comments] == [
        (1, "# a spec with every construct", True),
        (3, "# trailing", False),
    ]


def test_a_pass_may_appear_more_than_once_and_keeps_its_order():
    spec = parse_text(EVERYTHING)
    names = [p.name for p in spec.items[6].passes]
    assert names == ["remove-dead-code", "strip-tags", "remove-dead-code"]
    assert [a.key for a in spec.items[6].passes[1].args] == ["keys", "hierarchy"]


def test_empty_argument_list_and_empty_blocks():
    spec = parse_text('model m from config "c" { config { } }\npipeline { a() }\nexport { }\n')
    assert spec.items[0].config == []
    assert spec.items[1].passes[0].args == []
    assert spec.items[2].options == []


def test_several_config_blocks_are_merged():
    spec = parse_text('model m from config "c" { config { a = 1 } seed = 2 config { b = 2 } }')
    assert [a.key for a in spec.items[0].config] == ["a", "b"]
    assert [a.key for a in spec.items[0].options] == ["seed"]


def test_whitespace_and_newlines_only_separate_tokens():
    squeezed = parse_text('model m from config "c"{seed=1}pipeline{a b(x=1,y=[1,2])}')
    spread = parse_text(
        'model\nm\nfrom\nconfig\n"c"\n{\nseed\n=\n1\n}\npipeline\n{\na\nb\n(\n'
        "x\n=\n1\n,\ny\n=\n[\n1\n,\n2\n]\n)\n}\n"
    )
    assert _shape(squeezed) == _shape(spread)


def _shape(spec):
    """The tree without locations, to compare what two texts mean."""

    def strip(node):
        if isinstance(node, list):
            return [strip(n) for n in node]
        if dataclasses.is_dataclass(node):
            return (
                type(node).__name__,
                {
                    f.name: strip(getattr(node, f.name))
                    for f in dataclasses.fields(node)
                    if "loc" not in f.name and "line" not in f.name
                },
            )
        return node

    return strip(spec.items)


def test_keywords_may_name_passes_and_keys_where_only_a_name_fits():
    # Inside a pipeline only names are expected, so a keyword is read as a (unknown) pass name;
    # the resolver then says "unknown pass", which is clearer than a syntax error.
    spec = parse_text("pipeline { model output(pipeline = 1) }")
    assert [p.name for p in spec.items[0].passes] == ["model", "output"]


def test_a_keyword_followed_by_equals_or_colon_is_a_key_or_input_name_anywhere():
    # After a value the lexer offers keywords too (a value may end a section), so without
    # care "output" would be a name before "a = 1" and a keyword after it.
    spec = parse_text(
        'model m from config "c" { config { a = 1  output = 2  model = 3 } }\n'
        "inputs { a: int64[2] = [2]  model: int64[2] }"
    )
    assert [a.key for a in spec.items[0].config] == ["a", "output", "model"]
    assert [d.name for d in spec.items[1].inputs] == ["a", "model"]


def test_a_keyword_starting_a_section_still_ends_an_open_block():
    with pytest.raises(SpecError) as caught:
        parse_text('model m from config "c" {\n  seed = 1\noutput "x"\n')
    assert caught.value.diagnostics[0].message.endswith("(is a '}' missing before it?)")


def test_windows_line_endings_keep_lines_and_columns():
    spec = parse_text('model m from config "c" {\r\n  seed = 1  # one\r\n}\r\n')
    seed = spec.items[0].options[0]
    assert (seed.loc.line, seed.loc.column, seed.loc.line_text) == (2, 3, "  seed = 1  # one")
    assert [(c.line, c.text) for c in spec.comments] == [(2, "# one")]


def test_other_unicode_line_breaks_do_not_shift_lines():
    # str.splitlines() would split at '\x85' and '\u2028'; the parser does not, so comments
    # and carets must not either.
    spec = parse_text('# a\x85b\nmodel m from config "c\u2028" # c\n')
    assert [(c.line, c.own_line) for c in spec.comments] == [(1, True), (2, False)]
    assert spec.items[0].loc.line == 2


def test_an_empty_file_has_no_items():
    assert parse_text("").items == []
    assert parse_text("# only a comment\n").items == []


def test_dollar_and_name_must_touch():
    with pytest.raises(SpecError) as caught:
        parse_text("output $ x")
    assert caught.value.diagnostics[0].message.startswith("'$' must be followed")


def test_syntax_errors_carry_the_source_name_and_line_text():
    with pytest.raises(SpecError) as caught:
        parse_text("model m from config\n", "specs/x.hx")
    (error,) = caught.value.diagnostics
    assert str(error.location) == "specs/x.hx:1:20"
    assert error.message == "unexpected end of file; expected a value"


def test_an_error_in_one_section_does_not_hide_an_error_in_a_later_one():
    text = "pipeline {\n  a(\n}\nexport { opset 18 }\n"
    with pytest.raises(SpecError) as caught:
        parse_text(text)
    assert [(d.location.line, d.location.column) for d in caught.value.diagnostics] == [
        (3, 1),
        (4, 16),
    ]


def test_a_keyword_that_is_a_key_is_not_taken_for_a_new_section():
    # Recovery restarts at "output" in column 1 only when it starts a section, not a key.
    text = "pipeline {\n  a(\n}\noutput = 3\n"
    with pytest.raises(SpecError) as caught:
        parse_text(text)
    assert len(caught.value.diagnostics) == 1
