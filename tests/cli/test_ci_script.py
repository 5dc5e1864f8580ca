""".ci/run passes only when every test it started has run and passed.

The script is run for real, in a copy of the repository's .ci folder, with a stand-in python3 on
PATH whose venv holds a pip that does nothing and a python that plays pytest: each case decides
how the fast and the slow test runs end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The venv python stands in for pytest: "-m not slow" is the fast run, "-m slow" the slow one.
FAKE_PYTHON = """\
#!/usr/bin/env bash
case " $* " in
  *" not slow "*) echo "3 passed in 0.01s"; exit "${FAKE_FAST_STATUS:-0}" ;;
  *" slow "*) [ -n "${FAKE_SLOW_SLEEP:-}" ] && exec sleep "$FAKE_SLOW_SLEEP"
              echo "2 passed in 0.01s"; exit "${FAKE_SLOW_STATUS:-0}" ;;
esac
exit 0
"""

# python3 on PATH: "--version" answers, "-m venv DIR" makes the stand-in venv.
FAKE_PYTHON3 = """\
#!/usr/bin/env bash
if [ "$1" = "--version" ]; then echo "Python 3.fake"; exit 0; fi
if [ "$1 $2" = "-m venv" ]; then
  mkdir -p "$3/bin"
  printf '#!/usr/bin/env bash\\nexit 0\\n' > "$3/bin/pip"
  cp "$(dirname "$0")/venv-python" "$3/bin/python"
  chmod +x "$3/bin/pip" "$3/bin/python"
  exit 0
fi
exit 99
"""


def _executable(path: Path, text: str) -> None:
    path.write_text(textwrap.dedent(text))
    path.chmod(0o755)


def _run_ci(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / ".ci", repo / ".ci")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    _executable(bin_dir / "python3", FAKE_PYTHON3)
    _executable(bin_dir / "venv-python", FAKE_PYTHON)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("HCC_CI_", "FAKE_"))}
    environ["PATH"] = f"{bin_dir}{os.pathsep}{environ.get('PATH', '')}"
    environ["TMPDIR"] = str(tmp_path)
    # A browser command that every machine has, so only the tests that ask for the install
    # step reach apt-get (a fake one), never the machine's own.
    environ["HCC_CI_BROWSER"] = "bash"
    environ.update(env)
    return subprocess.run(
        ["bash", str(repo / ".ci" / "run")], env=environ, capture_output=True, text=True, timeout=60
    )


def test_ci_passes_when_both_test_runs_pass(tmp_path):
    result = _run_ci(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "== hcc ci: passed" in result.stdout


def test_ci_fails_when_the_slow_tests_hit_their_time_limit(tmp_path):
    result = _run_ci(tmp_path, FAKE_SLOW_SLEEP="30", HCC_CI_SLOW_TIMEOUT="1s")
    assert result.returncode != 0
    assert "did not finish within 1s" in result.stderr
    assert "== hcc ci: passed" not in result.stdout


@pytest.mark.parametrize("which", ["FAKE_FAST_STATUS", "FAKE_SLOW_STATUS"])
@pytest.mark.parametrize("status", ["1", "5"])
def test_ci_fails_when_a_test_run_fails_or_the_fast_run_collects_nothing(tmp_path, which, status):
    result = _run_ci(tmp_path, **{which: status})
    if which == "FAKE_SLOW_STATUS" and status == "5":
        # No slow tests at all is allowed: the fast run has already tested something.
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode != 0
        assert "== hcc ci: passed" not in result.stdout


# apt-get on PATH: records what it was asked, as root would run it.
FAKE_APT_GET = """\
#!/usr/bin/env bash
echo "$@" >> "$FAKE_APT_LOG"
exit "${FAKE_APT_STATUS:-0}"
"""


def _with_apt(tmp_path: Path) -> dict:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    _executable(bin_dir / "apt-get", FAKE_APT_GET)
    # sudo, for when the tests do not run as root: runs its command as it is.
    _executable(bin_dir / "sudo", '#!/usr/bin/env bash\nexec "$@"\n')
    return {"FAKE_APT_LOG": str(tmp_path / "apt.log"), "HCC_CI_BROWSER": "hcc-no-such-browser"}


def test_ci_installs_chromium_when_it_is_missing(tmp_path):
    result = _run_ci(tmp_path, **_with_apt(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "apt.log").read_text().splitlines() == [
        "update -q",
        "install -y -q chromium",
    ]


def test_ci_fails_when_chromium_cannot_be_installed(tmp_path):
    result = _run_ci(tmp_path, FAKE_APT_STATUS="100", **_with_apt(tmp_path))
    assert result.returncode != 0
    assert "could not install chromium" in result.stderr
