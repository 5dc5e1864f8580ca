"""The installed ``hcc`` console script, run as a separate process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _hcc() -> str:
    script = Path(sys.executable).with_name("hcc")
    if not script.exists():
        pytest.fail(
            f"no hcc console script beside {sys.executable}: is hcc installed (pip install -e .)?"
        )
    return str(script)


def test_console_script_reports_a_user_error_without_traceback(tmp_path):
    result = subprocess.run(
        [
            _hcc(),
            "opt",
            str(tmp_path / "in.onnx"),
            "-o",
            str(tmp_path / "out.onnx"),
            "-p",
            "strip-tag",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[0] == (
        "hcc: error: pipeline:1:1: unknown pass 'strip-tag'; did you mean 'strip-tags'?"
    )
    assert "Traceback" not in result.stderr


def test_console_script_round_trip(tmp_path, model_path):
    output = tmp_path / "out.onnx"
    result = subprocess.run(
        [_hcc(), "opt", str(model_path), "-o", str(output), "-p", "remove-dead-code"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert output.exists()


def test_python_dash_m_hcc():
    result = subprocess.run(
        [sys.executable, "-m", "hcc", "--version"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and result.stdout.startswith("hcc ")
