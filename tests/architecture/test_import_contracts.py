"""The import contracts in pyproject.toml hold, and each one fails when it is broken.

import-linter runs through .ci/lint_imports.py, as in CI. A broken contract is planted in a copy
of the source tree, never in the tree itself.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / ".ci" / "lint_imports.py"


def _lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _verdicts(output: str) -> dict[str, str]:
    """Contract name -> KEPT or BROKEN, from import-linter's summary lines."""
    verdicts = {}
    for line in output.splitlines():
        for verdict in ("KEPT", "BROKEN"):
            if line.endswith(" " + verdict):
                verdicts[line[: -len(verdict) - 1].strip()] = verdict
    return verdicts


@pytest.fixture
def tree_copy(tmp_path) -> Path:
    """The parts of the repository import-linter reads: pyproject.toml and the package folders."""
    copy = tmp_path / "hcc"
    copy.mkdir()
    shutil.copy(ROOT / "pyproject.toml", copy)
    for folder in ("compiler", "ir", "passes"):
        shutil.copytree(ROOT / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_every_import_contract_is_kept():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    verdicts = _verdicts(result.stdout)
    assert len(verdicts) >= 6 and set(verdicts.values()) == {"KEPT"}, result.stdout


# (file in the copy, line appended to it, name of the contract that must break)
VIOLATIONS = {
    "torch in the IR": (
        "ir/printer.py",
        "import torch",
        "hcc.ir and hcc.passes do not import torch, transformers, onnxruntime",
    ),
    "onnxruntime in a pass": (
        "passes/strip_tags.py",
        "import onnxruntime",
        "hcc.ir and hcc.passes do not import torch, transformers, onnxruntime",
    ),
    "onnx outside hcc.ir.onnx": ("ir/_nodes.py", "import onnx", "Only hcc.ir.onnx imports onnx"),
    "a pass importing the driver": (
        "passes/strip_tags.py",
        "import hcc.driver",
        "Layers: compiler -> hcc.passes -> hcc.ir",
    ),
    "the IR importing a pass": (
        "ir/printer.py",
        "import hcc.passes",
        "Layers: compiler -> hcc.passes -> hcc.ir",
    ),
    "one pass family using another": (
        "passes/downgrade/generic.py",
        "from hcc.passes.functions import keys",
        "Pass families do not use each other",
    ),
    "a library module reading arguments": (
        "compiler/exporting.py",
        "import argparse",
        "Only hcc.cli parses arguments",
    ),
    "a cycle between two modules": (
        "ir/onnx/_value_info.py",
        "from . import exporter",
        "No import cycles between the modules of a package",
    ),
}


@pytest.mark.parametrize("violation", VIOLATIONS, ids=list(VIOLATIONS))
def test_a_planted_violation_breaks_its_contract(tree_copy, violation):
    relative, line, contract = VIOLATIONS[violation]
    path = tree_copy / relative
    path.write_text(path.read_text() + f"\n{line}  # planted by the test\n")
    result = _lint(tree_copy)
    assert result.returncode != 0, result.stdout
    verdicts = _verdicts(result.stdout)
    assert verdicts.get(contract) == "BROKEN", result.stdout


def test_a_new_compiler_module_must_be_placed_in_a_layer(tree_copy):
    (tree_copy / "compiler" / "unplaced.py").write_text('"""Not listed in any layer."""\n')
    result = _lint(tree_copy)
    assert _verdicts(result.stdout).get("Layers: compiler -> hcc.passes -> hcc.ir") == "BROKEN"
    assert "hcc.unplaced" in result.stdout


def test_no_two_modules_import_each_other_even_through_others():
    result = _lint(ROOT)
    assert "Import cycles between modules: 0" in result.stdout, result.stdout


def test_the_cycle_search_finds_a_planted_cycle(tree_copy):
    path = tree_copy / "passes" / "_infra.py"  # _registry imports _infra
    path.write_text(path.read_text() + "\nfrom . import _registry  # planted by the test\n")
    result = _lint(tree_copy)
    assert result.returncode != 0
    assert "import cycle: hcc.passes._infra <-> hcc.passes._registry" in result.stdout
