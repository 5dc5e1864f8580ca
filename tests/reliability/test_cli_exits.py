"""How ``hcc`` ends when something outside a command's own checks goes wrong: a reader that
went away, user code that exits, Python errors only hostile input can cause."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hcc import cli


def _hcc() -> str:
    return str(Path(sys.executable).with_name("hcc"))


def test_a_closed_pipe_ends_hcc_passes_quietly():
    # The reader closes its end before hcc writes: as `hcc passes | head -0` would.
    process = subprocess.Popen([_hcc(), "passes"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    stderr = process.stderr.read()
    process.stderr.close()
    assert process.wait(timeout=120) == cli.EXIT_BROKEN_PIPE
    assert stderr == b""


class _ClosedPipe:
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_pipe_in_process_says_nothing(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert cli.main(["passes"]) == cli.EXIT_BROKEN_PIPE
    assert capsys.readouterr().err == ""


def _command_raising(error: BaseException):
    def run(args):
        raise error

    return run


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (SystemExit(0), "user code called exit(0) while hcc was running"),
        (RecursionError("maximum recursion depth exceeded"), "input nested too deeply"),
        (ValueError("embedded null byte"), "a path or name contains a NUL byte"),
        (
            ValueError("Exceeds the limit (4300 digits) for integer string conversion"),
            "a number has more digits than hcc reads",
        ),
        (
            UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
            "input is not UTF-8 text: byte 0xff at offset 0",
        ),
        (MemoryError("Unable to allocate 2.91 TiB"), "out of memory: Unable to allocate 2.91 TiB"),
    ],
)
def test_errors_only_input_can_cause_are_one_line_with_exit_2(monkeypatch, capsys, error, message):
    monkeypatch.setattr(cli, "_COMMANDS", [(cli.passes.add_passes, _command_raising(error))])
    assert cli.main(["passes"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hcc: error: ") and message in err and err.count("\n") == 1


def test_a_bug_keeps_its_traceback(monkeypatch):
    monkeypatch.setattr(
        cli, "_COMMANDS", [(cli.passes.add_passes, _command_raising(TypeError("a bug")))]
    )
    with pytest.raises(TypeError, match="a bug"):
        cli.main(["passes"])
