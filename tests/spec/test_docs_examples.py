"""The docs' examples run here, so the docs cannot say what the code no longer does.

docs/spec-language.md:
  ```hx        a spec that must resolve (with load_spec_text, as the file "spec.hx")
  ```hx-error  a spec that must fail; the ```text block right after it is str(SpecError)
  An HTML comment on the line before a block configures it:
  <!-- file: base.hx -->            the block is the file base.hx (others may include it)
  <!-- defines: a=1, b=x -->        resolve with these -D values

docs/python-api.md:
  ```python blocks preceded by <!-- test --> run in order, in one namespace, in a fresh folder
  (they build on each other as a reader would). Blocks without it (torch export) do not run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from hcc.diagnostics import SpecError
from hcc.spec.format import format_text
from hcc.spec.resolve import (
    EXPORT_OPTIONS,
    INPUTS_OPTIONS,
    MODEL_OPTIONS,
    OUTPUT_OPTIONS,
    load_spec,
    load_spec_text,
)

DOCS = Path(__file__).resolve().parents[2] / "docs"
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```\n", re.S | re.M)
ANNOTATION = re.compile(r"<!--\s*(.*?)\s*-->\s*\n$")


@dataclass
class Block:
    lang: str
    code: str
    line: int  # where the block starts in the doc, for failure messages
    note: str  # the HTML comment right before it, or ""
    after: Block | None = None  # the next block

    @property
    def id(self) -> str:
        return f"line {self.line}"

    def setting(self, key: str) -> str | None:
        match = re.fullmatch(rf"{key}:\s*(.*)", self.note)
        return match.group(1) if match else None

    @property
    def defines(self) -> dict[str, str] | None:
        text = self.setting("defines")
        if text is None:
            return None
        return dict(item.strip().split("=", 1) for item in text.split(","))


def _blocks(name: str) -> list[Block]:
    text = (DOCS / name).read_text()
    blocks: list[Block] = []
    for match in FENCE.finditer(text):
        before = text[: match.start()]
        note = ANNOTATION.search(before)
        block = Block(
            match.group(1), match.group(2), before.count("\n") + 1, note.group(1) if note else ""
        )
        if blocks:
            blocks[-1].after = block
        blocks.append(block)
    return blocks


SPEC_BLOCKS = _blocks("spec-language.md")
GOOD = [b for b in SPEC_BLOCKS if b.lang == "hx"]
BAD = [b for b in SPEC_BLOCKS if b.lang == "hx-error"]


@pytest.fixture
def doc_folder(tmp_path, monkeypatch):
    """A folder holding the doc's named files, as the working directory."""
    for block in GOOD:
        name = block.setting("file")
        if name:
            (tmp_path / name).write_text(block.code)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("block", GOOD, ids=[b.id for b in GOOD])
def test_spec_example_resolves(block, doc_folder):
    name = block.setting("file")
    if name:
        load_spec(str(doc_folder / name), block.defines)
    else:
        load_spec_text(block.code, block.defines, source="spec.hx")


@pytest.mark.parametrize("block", BAD, ids=[b.id for b in BAD])
def test_spec_mistake_gives_the_message_shown(block, doc_folder):
    assert block.after is not None and block.after.lang == "text", (
        f"the hx-error block at line {block.line} needs a ```text block with its message"
    )
    with pytest.raises(SpecError) as caught:
        load_spec_text(block.code, block.defines, source="spec.hx")
    assert str(caught.value) == block.after.code.rstrip("\n")


@pytest.mark.parametrize("block", GOOD + BAD, ids=[b.id for b in GOOD + BAD])
def test_spec_examples_are_in_canonical_layout(block):
    # The docs teach by example: they should look like what `hcc fmt` makes. (A mistake that
    # is a syntax error cannot be formatted; the other mistakes can.)
    try:
        formatted = format_text(block.code)
    except SpecError:
        assert block.lang == "hx-error"
        return
    assert formatted == block.code


def test_the_language_reference_has_examples_of_both_kinds():
    assert len(GOOD) >= 10 and len(BAD) >= 5


@pytest.mark.parametrize(
    "section, options",
    [
        ("model", MODEL_OPTIONS),
        ("inputs", INPUTS_OPTIONS),
        ("export", EXPORT_OPTIONS),
        ("output", OUTPUT_OPTIONS),
    ],
)
def test_every_section_option_is_documented(section, options):
    text = (DOCS / "spec-language.md").read_text()
    part = text[text.index(f"\n## {section}\n") :]
    part = part[: part.index("\n## ", 1)]
    for name in options:
        assert f"`{name}`" in part, f"option {name!r} of {section} is not in its section"


PYTHON_BLOCKS = [b for b in _blocks("python-api.md") if b.lang == "python" and b.note == "test"]


def test_python_api_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "docs_example"}
    assert len(PYTHON_BLOCKS) >= 8
    for block in PYTHON_BLOCKS:
        code = compile(block.code, f"docs/python-api.md:{block.line}", "exec")
        exec(code, namespace)  # a failure's traceback names the doc line
