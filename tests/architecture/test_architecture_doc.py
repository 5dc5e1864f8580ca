"""docs/architecture.md draws the package folders as they are: the tree in its "The folders"
section lists every package folder and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
SOURCE_ROOTS = ("compiler", "ir", "passes")


def folders_in_doc(text: str) -> set[str]:
    """The folder paths drawn in the first text block after the "## The folders" heading."""
    section = text.split("## The folders", 1)[1]
    block = re.search(r"```text\n(.*?)```", section, re.S).group(1)
    paths: set[str] = set()
    stack: list[str] = []
    for line in block.splitlines():
        match = re.match(r"^([│ ]*(?:├── |└── )?)(\S+/)", line)
        if not match:
            continue
        depth = len(match.group(1)) // 4
        del stack[depth:]
        stack.append(match.group(2).rstrip("/"))
        paths.add("/".join(stack))
    return paths


def package_folders() -> set[str]:
    return {
        init.parent.relative_to(ROOT).as_posix()
        for top in SOURCE_ROOTS
        for init in (ROOT / top).rglob("__init__.py")
    }


def test_the_tree_in_the_doc_is_the_tree_of_package_folders():
    drawn, real = folders_in_doc(DOC.read_text()), package_folders()
    assert drawn == real, (
        f"missing from docs/architecture.md: {sorted(real - drawn)}; "
        f"drawn but not a package folder: {sorted(drawn - real)}"
    )


def test_the_parser_reads_nesting_from_the_tree_drawing():
    drawn = folders_in_doc(
        "## The folders\n\n```text\na/    x\n├── b/   y\n│   └── c/\n└── d/\ne/\n```\n"
    )
    assert drawn == {"a", "a/b", "a/b/c", "a/d", "e"}
