"""The README's commands, .ci/run and the bundled model stay true to each other."""

from __future__ import annotations

import os
import re
import runpy
import shlex
import shutil
from pathlib import Path

import onnx

from hcc.cli import main

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI_RUN = ROOT / ".ci" / "run"


def _setup_commands() -> list[str]:
    """The shell commands of the README's "Set up" section, one per code block."""
    section = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.S)]


def _in_ci_form(step: str) -> str:
    """A README step as .ci/run writes it: the venv lives outside the working tree."""
    return step.replace(".venv/bin/", '"$VENV"/bin/').replace(".venv", '"$VENV"')


def test_readme_has_exactly_two_setup_commands():
    commands = _setup_commands()
    assert len(commands) == 2
    assert all("\n" not in command for command in commands)
    assert all(command.startswith("python3 -m venv .venv && ") for command in commands)


def test_ci_runs_the_readme_test_command():
    test_command = _setup_commands()[1]
    steps = test_command.split(" && ")
    assert steps[-1] == '.venv/bin/python -m pytest -m "not slow"'
    ci_lines = CI_RUN.read_text(encoding="utf-8").splitlines()
    for step in steps:
        form = _in_ci_form(step)
        assert any(line.strip().startswith(form) for line in ci_lines), f".ci/run lacks: {form}"


def test_ci_script_is_strict_and_executable():
    text = CI_RUN.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert os.access(CI_RUN, os.X_OK)


def test_the_readme_main_job_works(tmp_path, capsys):
    install_and_run = _setup_commands()[0]
    hcc_step = install_and_run.split(" && ")[-1]
    argv = shlex.split(hcc_step)
    assert argv[:2] == [".venv/bin/hcc", "build"]
    argv = [str(ROOT / a) if a.startswith("specs/") else a for a in argv[1:]]
    argv += ["-o", str(tmp_path / "out"), "--quiet"]  # not into the repository's build/
    assert main(argv) == 0, capsys.readouterr().err
    written = tmp_path / "out" / "bert.onnx"
    proto = onnx.load(str(written), load_external_data=False)
    assert all("hcc.tag" in {p.key for p in n.metadata_props} for n in proto.graph.node)


def test_the_readme_python_examples_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert blocks
    (tmp_path / "specs" / "models").mkdir(parents=True)
    shutil.copy(ROOT / "specs" / "models" / "tiny_mlp.onnx", tmp_path / "specs" / "models")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:  # later blocks may use names of earlier ones, as a reader would
        exec(compile(block, "README.md", "exec"), namespace)
    assert (tmp_path / "tiny_mlp.opt.onnx").exists()


def test_the_bundled_model_is_what_its_script_makes():
    script = ROOT / "specs" / "models" / "make_tiny_mlp.py"
    made = runpy.run_path(str(script))["make_model"]()
    committed = (ROOT / "specs" / "models" / "tiny_mlp.onnx").read_bytes()
    assert made.SerializeToString() == committed, "run: python specs/models/make_tiny_mlp.py"
    model = onnx.load_from_string(committed)
    assert len(committed) < 16_000
    assert all(any(p.key == "hcc.tag" for p in n.metadata_props) for n in model.graph.node)
    assert any(p.key == "hcc.hierarchy" for p in model.metadata_props)
