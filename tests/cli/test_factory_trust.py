"""A spec's ``factory`` source runs Python code: only with ``--allow-factory`` / ``allow_factory``,
and whatever that code raises (even ``sys.exit(0)``) is an error, never a success."""

from __future__ import annotations

import sys
import textwrap

import pytest

import hcc
from hcc.cli import main
from hcc.diagnostics import SpecError

FACTORIES = """
import sys

import torch

IMPORTED = True


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x)


class ExitsInForward(torch.nn.Module):
    def forward(self, x):
        sys.exit(0)


def make():
    return Tiny(), (torch.ones(2, 4),)


def exits_ok():
    sys.exit(0)


def interrupts():
    raise KeyboardInterrupt


def fails():
    raise ValueError("no weights here")


def exits_in_forward():
    return ExitsInForward(), (torch.ones(2, 4),)
"""


@pytest.fixture
def factories(tmp_path, monkeypatch):
    package = tmp_path / "site" / "trusty"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text(FACTORIES)
    (package / "exits_on_import.py").write_text("import sys\nsys.exit(0)\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("trusty")]:
        del sys.modules[name]


def _spec(folder, reference: str) -> str:
    path = folder / "f.hx"
    path.write_text(
        textwrap.dedent(f'''\
        model tiny from factory "{reference}"
        output "{folder / "out"}"
        ''')
    )
    return str(path)


def _run(capsys, *argv: str) -> tuple[int, list[str]]:
    code = main(list(argv))
    return code, capsys.readouterr().err.splitlines()


def test_a_factory_spec_is_refused_without_the_opt_in_and_nothing_is_imported(factories, capsys):
    spec = _spec(factories, "trusty.models:make")
    code, err = _run(capsys, "build", "-q", spec)
    assert code == 2
    assert err[0].startswith(
        f"hcc: error: {spec}:1:17: the model comes from factory "
        "'trusty.models:make', which imports and runs Python code"
    )
    assert "--allow-factory" in err[0] and "allow_factory=True" in err[0]
    assert "trusty.models" not in sys.modules
    assert not (factories / "out").exists()


def test_hcc_build_from_python_needs_allow_factory(factories):
    spec = _spec(factories, "trusty.models:make")
    with pytest.raises(SpecError, match="allow_factory=True"):
        hcc.build(spec)
    assert "trusty.models" not in sys.modules


def test_a_dry_run_needs_no_opt_in_it_runs_nothing(factories, capsys):
    spec = _spec(factories, "trusty.models:make")
    assert main(["build", "--dry-run", spec]) == 0
    assert "trusty.models" not in sys.modules


def test_with_the_opt_in_the_factory_builds(factories):
    spec = _spec(factories, "trusty.models:make")
    result = hcc.build(spec, allow_factory=True)
    assert result.outputs == [str(factories / "out" / "tiny.onnx")]
    assert len(result.model.graph) >= 1


@pytest.mark.parametrize(
    ("reference", "raised"),
    [
        ("trusty.models:exits_ok", "raised SystemExit(0) (the code called sys.exit)"),
        ("trusty.models:interrupts", "raised KeyboardInterrupt"),
        ("trusty.models:fails", "raised ValueError: no weights here"),
        ("trusty.exits_on_import:make", "'trusty.exits_on_import' raised SystemExit(0)"),
    ],
)
def test_whatever_a_factory_raises_is_an_error_not_a_success(factories, capsys, reference, raised):
    code, err = _run(capsys, "build", "-q", "--allow-factory", _spec(factories, reference))
    assert code == 2
    assert [line for line in err if line.startswith("hcc: error:")] == err[:1]
    assert raised in err[0]
    assert not (factories / "out").exists()


def test_user_code_that_exits_during_export_is_an_error(factories, capsys):
    code, err = _run(
        capsys, "build", "-q", "--allow-factory", _spec(factories, "trusty.models:exits_in_forward")
    )
    assert code == 2
    assert err[0].startswith("hcc: error:") and "exit" in err[0]
    assert not (factories / "out" / "tiny.onnx").exists()
