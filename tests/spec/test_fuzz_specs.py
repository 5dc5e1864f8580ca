"""Fuzzing: whatever a user types, hcc answers with a SpecError, never a traceback.

Specs are made by mutating real ones (the bundled specs and one that uses every construct):
characters deleted, inserted and replaced, tokens swapped, lines duplicated, and tokens of the
grammar's own vocabulary dropped in, which reach deeper than random bytes. Only resolution runs
(no export), so hundreds of examples take seconds. The formatter is fuzzed too: when it
accepts a text, its output must be stable and mean the same.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hcc.diagnostics import SpecError
from hcc.spec.format import format_text
from hcc.spec.resolve import load_spec_text

SPECS = Path(__file__).resolve().parents[2] / "specs"

EVERY_CONSTRUCT = """\
# every construct of the language, to mutate
include "base.hx"
param layers: int = 2  # layers
param label: str = "tiny"
param fast: bool = false
param scale: float = 0.5

model bert from config "bert" {
  task = "masked-lm"
  seed = 3
  config {
    num_hidden_layers = $layers
    names = [a, "b", 1, 2.5, true, [1, 2]]
  }
}

inputs {
  input_ids: int64[batch, seq] = [2, 16]
  mask: int64[batch, 16] = [2, 16]
}

export {
  exporter = dynamo
  opset = 18
  tagging = true
}

pipeline {
  remove-dead-code(aggressive = $fast)
  strip-tags(keys = ["a", b], hierarchy = false)
  topological-sort
}

output "build/${label}-${layers}" {
  name = "bert"
  external_data_threshold = 0
  reports = [hierarchy, ir]
}
"""

SEEDS = [p.read_text() for p in sorted(SPECS.glob("*.hx"))] + [
    EVERY_CONSTRUCT,
    'model m from onnx "m.onnx"\ninputs { text = "hello ${label}" }\n',
    'include "base.hx"\ninclude "missing.hx"\ninclude "../outside.hx"\n',
]


def _vocabulary() -> list[str]:
    """Keywords and punctuation read from the grammar itself, plus a sample of each token
    kind, so new syntax is fuzzed without touching this file."""
    grammar = resources.files("hcc.spec").joinpath("hx.lark").read_text()
    rules = "\n".join(line for line in grammar.splitlines() if not line.startswith("//"))
    literals = sorted(set(re.findall(r'"([^"\\]+)"', rules)))
    samples = [
        "layers",
        "remove-dead-code",
        "strip-tags",
        "hierarchy",
        "opset",
        "name",
        "task",
        "int",
        "str",
        "bool",
        "float",
        "int64",
        "batch",
        "$layers",
        "$nope",
        "$label",
        '"s"',
        '"${layers}"',
        '"${nope}"',
        '"base.hx"',
        '"/etc/hostname"',
        '"\\"',
        '"',
        "0",
        "-1",
        "1.5",
        "1e999",
        "+2",
        ".5",
        "# comment\n",
        "#",
        "\n",
        "\r\n",
        "\t",
        "$",
        "@",
        "\\",
        "\x0b",
        "\x85",
        "\u2028",
        "\x00",
        "é",
    ]
    return literals + samples


VOCABULARY = _vocabulary()
TOKEN = re.compile(
    r'\s+|"(?:[^"\\\n]|\\.)*"|\$?[A-Za-z_][\w-]*|[+-]?[\d.]+(?:[eE][+-]?\d+)?|.', re.S
)


@st.composite
def mutated_specs(draw) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        kind = draw(
            st.sampled_from(["delete", "insert", "replace", "swap", "duplicate", "token", "token"])
        )
        if kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 8)) :]
        elif kind == "insert":
            char = draw(st.one_of(st.characters(), st.sampled_from('{}[]()=:,$"#\\\n ')))
            text = text[:at] + char + text[at:]
        elif kind == "replace" and at < len(text):
            text = text[:at] + draw(st.characters()) + text[at + 1 :]
        elif kind == "swap":
            tokens = TOKEN.findall(text)
            if len(tokens) > 1:
                i = draw(st.integers(0, len(tokens) - 1))
                j = draw(st.integers(0, len(tokens) - 1))
                tokens[i], tokens[j] = tokens[j], tokens[i]
                text = "".join(tokens)
        elif kind == "duplicate":
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            lines.insert(i, lines[i])
            text = "\n".join(lines)
        else:
            token = draw(st.sampled_from(VOCABULARY))
            space = draw(st.sampled_from(["", " "]))
            text = text[:at] + space + token + space + text[at:]
    return text


defines = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from(["layers", "label", "fast", "scale", "nope"]),
        st.sampled_from(["2", "-1", "x", "true", "1.5", "", "1e999"]),
        max_size=2,
    ),
)


@pytest.fixture(scope="module", autouse=True)
def in_a_folder_with_includes(tmp_path_factory):
    # Mutated specs include files relative to the working directory: give them a folder with
    # one good and one broken include, and nothing else to find.
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "base.hx").write_text("param other: int = 1\npipeline { remove-dead-code }\n")
    (folder / "broken.hx").write_text("pipeline { remove-dead-code(\n")
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(before)


def check_resolves_or_reports(text: str, defines) -> None:
    try:
        load_spec_text(text, defines, source="fuzz.hx")
    except SpecError as error:
        # Every diagnostic is printable (the CLI prints them all) and has a message.
        assert str(error)
        assert all(d.message for d in error.diagnostics)


def check_format(text: str) -> None:
    try:
        once = format_text(text)
    except SpecError:
        return
    assert format_text(once) == once  # stable, and the output parses
    try:
        before = load_spec_text(text, source="fuzz.hx")
    except SpecError:
        return
    assert load_spec_text(once, source="fuzz.hx") == before  # same meaning


FAST = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(mutated_specs(), defines)
def test_mutated_specs_raise_only_spec_errors(text, defines):
    check_resolves_or_reports(text, defines)


@FAST
@given(mutated_specs())
def test_formatting_mutated_specs_is_stable_and_keeps_meaning(text):
    check_format(text)


@pytest.mark.slow
@SLOW
@given(mutated_specs(), defines)
def test_many_mutated_specs_raise_only_spec_errors(text, defines):
    check_resolves_or_reports(text, defines)


@pytest.mark.slow
@SLOW
@given(mutated_specs())
def test_formatting_many_mutated_specs_is_stable_and_keeps_meaning(text):
    check_format(text)


def test_the_vocabulary_comes_from_the_grammar():
    assert {"model", "from", "config", "pipeline", "output", "{", "}", "="} <= set(VOCABULARY)
