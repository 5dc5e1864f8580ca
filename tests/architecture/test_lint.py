"""ruff's lint rules and format (pyproject.toml [tool.ruff]) hold for the whole repository, and
a file that breaks them fails the check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _ruff(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_ruff_check_passes():
    result = _ruff("check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_file_breaking_a_rule_fails_the_check(tmp_path):
    # The repository's configuration, on a file with an unused import and a mutable default.
    source = tmp_path / "bad.py"
    source.write_text("import os\n\n\ndef f(items=[]):\n    return items\n")
    result = _ruff("check", "--config", str(ROOT / "pyproject.toml"), str(source), cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "F401" in result.stdout and "B006" in result.stdout


def test_ruff_format_check_passes():
    result = _ruff("format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_file_not_in_the_format_fails_the_format_check(tmp_path):
    source = tmp_path / "unformatted.py"
    source.write_text("x = {  'a':1 }\n")
    result = _ruff(
        "format", "--check", "--config", str(ROOT / "pyproject.toml"), str(source), cwd=tmp_path
    )
    assert result.returncode == 1, result.stdout + result.stderr
