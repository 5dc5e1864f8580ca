"""`hcc fmt`: one canonical layout, stable under a second run, meaning and comments kept.

Three properties, checked on the bundled specs and on inputs chosen to be awkward:
formatting twice changes nothing, the formatted spec resolves to the same build settings, and
every comment is still there (a formatter that drops a comment destroys the user's notes).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hcc.diagnostics import SpecError
from hcc.spec.format import format_file, format_text
from hcc.spec.resolve import load_spec_text

SPECS = Path(__file__).resolve().parents[2] / "specs"
BUNDLED = sorted(SPECS.glob("*.hx"))

TRICKY = {
    "comments everywhere": """\
# header
include "base.hx"   # trailing on an include
# between includes and parameters
param layers: int = 2   # trailing on a parameter
param label: str = "x#y"  # a '#' inside a string is not a comment
# before the model
model bert from config "bert" {  # on the opening line
  # first inside the block
  seed = 1  # trailing on an option
  config {
    # first inside config
    num_hidden_layers = $layers  # trailing in config
    # before the config's closing brace
  }  # after the config's closing brace
  # before the model's closing brace
}  # after the model's closing brace
# before inputs
inputs {
  input_ids: int64[batch, seq] = [2, 16]  # trailing on an input
}
pipeline {
  # before the first pass
  remove-dead-code  # trailing on a pass
  # before the closing brace
}
output "build/${label}" { name = "m" }  # after a one-line block
# at the very end
""",
    "comments inside values spread over lines": """\
model bert from config "bert" {
  config {
    sizes = [1,  # after the first item
      2,
      # between items
      3]
  }
}
pipeline {
  strip-tags(
    keys = [a, b],  # trailing on an argument
    hierarchy = false
  )  # after the closing parenthesis
  remove-dead-code
}
""",
    "everything on one line": 'model bert from config "bert" { seed = 1 config { a = 1 } } '
    "inputs { x: int64[2] } "
    "pipeline { remove-dead-code strip-tags(hierarchy = false) } "
    'output "o"  # c\n',
    "no comments, odd spacing": '\n\n\nmodel   bert from config "bert"{seed=1}\n\n\n\n'
    "pipeline{remove-dead-code}\n\n\n",
    "options and inputs interleaved": """\
model bert from config "bert" {
  config { a = 1 }
  seed = 2
}
inputs {
  text = "hi"  # text first
}
""",
    "windows line endings": 'model bert from config "bert" {  # c\r\n  seed = 1\r\n}\r\n',
    "only comments": "# one\n\n# two\n",
    "empty": "",
    "strings and numbers": 'model bert from config "a \\"b\\" \\\\ c\\td" {\n'
    "  config { x = 1e999  y = -0.5  z = +3  w = .5  v = 5.  u = 1E3 }\n}\n",
    "empty blocks": 'model m from config "c" { config { } }\ninputs { }\nexport { }\n'
    'pipeline { topological-sort() }\noutput "o" { }\n',
}

# Resolving needs the base.hx that "comments everywhere" includes: resolve in a folder with it.


@pytest.fixture
def in_folder_with_base(tmp_path, monkeypatch):
    (tmp_path / "base.hx").write_text("param other: int = 1\n")
    monkeypatch.chdir(tmp_path)


def _comments(text: str) -> list[str]:
    """The comments in a spec, in order (a small scan that skips strings)."""
    found = []
    for line in text.split("\n"):
        code = re.sub(r'"([^"\\\n]|\\.)*"', lambda m: " " * len(m.group()), line)
        if "#" in code:
            found.append(line[code.index("#") :].rstrip())
    return found


@pytest.mark.parametrize("path", BUNDLED, ids=[p.name for p in BUNDLED])
def test_formatting_a_bundled_spec_twice_changes_nothing(path):
    once = format_file(str(path))
    assert format_text(once) == once


@pytest.mark.parametrize("path", BUNDLED, ids=[p.name for p in BUNDLED])
def test_formatting_a_bundled_spec_keeps_its_meaning_and_comments(path):
    text = path.read_text()
    once = format_text(text)
    assert load_spec_text(once, source=str(path)) == load_spec_text(text, source=str(path))
    assert _comments(once) == _comments(text)


@pytest.mark.parametrize("name", TRICKY)
def test_formatting_twice_changes_nothing(name):
    once = format_text(TRICKY[name])
    assert format_text(once) == once


@pytest.mark.parametrize("name", TRICKY)
def test_every_comment_survives_in_order(name):
    assert _comments(format_text(TRICKY[name])) == _comments(TRICKY[name])


@pytest.mark.parametrize("name", [n for n in TRICKY if n not in ("only comments", "empty")])
def test_formatting_keeps_the_meaning(name, in_folder_with_base):
    text = TRICKY[name]
    assert load_spec_text(format_text(text)) == load_spec_text(text)


def test_the_canonical_layout():
    # Pinned in full: the layout is what `hcc fmt --check` holds every spec to.
    assert (
        format_text(TRICKY["comments everywhere"])
        == """\
# header
include "base.hx"  # trailing on an include

# between includes and parameters
param layers: int = 2  # trailing on a parameter
param label: str = "x#y"  # a '#' inside a string is not a comment

# before the model
model bert from config "bert" {  # on the opening line
  # first inside the block
  seed = 1  # trailing on an option
  config {
    # first inside config
    num_hidden_layers = $layers  # trailing in config
    # before the config's closing brace
  }  # after the config's closing brace
  # before the model's closing brace
}  # after the model's closing brace

# before inputs
inputs {
  input_ids: int64[batch, seq] = [2, 16]  # trailing on an input
}

pipeline {
  # before the first pass
  remove-dead-code  # trailing on a pass
  # before the closing brace
}

output "build/${label}" {
  name = "m"
}  # after a one-line block
# at the very end
"""
    )


def test_a_comment_on_a_line_the_layout_drops_becomes_its_own_line():
    assert (
        format_text(TRICKY["comments inside values spread over lines"])
        == """\
model bert from config "bert" {
  config {
    sizes = [1, 2, 3]  # after the first item
    # between items
  }
}

pipeline {
  strip-tags(keys = [a, b], hierarchy = false)
  # trailing on an argument
  # after the closing parenthesis
  remove-dead-code
}
"""
    )


def test_entries_stay_in_the_order_written():
    assert (
        format_text(TRICKY["options and inputs interleaved"])
        == """\
model bert from config "bert" {
  config {
    a = 1
  }
  seed = 2
}

inputs {
  text = "hi"  # text first
}
"""
    )


def test_values_are_written_canonically_and_read_back_the_same():
    out = format_text(TRICKY["strings and numbers"])
    assert 'from config "a \\"b\\" \\\\ c\\td"' in out
    # An infinite float stays a number (repr would write the bare word inf).
    assert "x = 1e999" in out and "z = 3" in out and "w = 0.5" in out and "v = 5.0" in out
    assert "u = 1000.0" in out


def test_empty_blocks_and_argument_lists():
    assert format_text(TRICKY["empty blocks"]) == (
        'model m from config "c" {\n  config {}\n}\n\ninputs {\n}\n\nexport {\n}\n\n'
        'pipeline {\n  topological-sort\n}\n\noutput "o"\n'
    )


def test_formatting_reports_syntax_errors():
    with pytest.raises(SpecError):
        format_text("pipeline {")


def test_an_export_block_is_printed_where_it_was_written_with_its_comments():
    text = (
        "export {\n  recipe = kv-cache\n  names { preset = seed001  # as seed 001\n"
        '    token = "t" }\n  max_len = 8\n  names {}\n}\n'
    )
    assert format_text(text) == (
        "export {\n  recipe = kv-cache\n  names {\n    preset = seed001  # as seed 001\n"
        '    token = "t"\n  }\n  max_len = 8\n  names {}\n}\n'
    )
