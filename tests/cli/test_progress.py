"""Progress of long steps: a bar redrawn in place on a terminal, a few plain lines in a log,
nothing with -q; all on stderr, so a command's output stays clean."""

from __future__ import annotations

import io
from pathlib import Path

from hcc.cli import main
from hcc.progress import Meter, step

TINY_MLP = Path(__file__).resolve().parents[2] / "specs" / "models" / "tiny_mlp.onnx"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bytes_in_a_log_are_one_line_per_quarter():
    log = io.StringIO()
    meter = Meter("  weights", unit="bytes", stream=log)
    for done in range(0, 4097, 64):
        meter(done, 4096)
    meter(4096, 4096)  # told again at the end: no second last line
    assert log.getvalue().splitlines() == [
        "  weights: 0 B / 4.0 KB (0%)",
        "  weights: 1.0 KB / 4.0 KB (25%)",
        "  weights: 2.0 KB / 4.0 KB (50%)",
        "  weights: 3.0 KB / 4.0 KB (75%)",
        "  weights: 4.0 KB / 4.0 KB (100%)",
    ]


def test_items_in_a_log_are_one_line_each():
    log = io.StringIO()
    meter = Meter("  pieces", stream=log)
    for index, name in enumerate(["Block.0", "Block.1", "head"], 1):
        meter(index, 3, name)
    assert log.getvalue().splitlines() == [
        "  pieces: 1/3 (33%) Block.0",
        "  pieces: 2/3 (67%) Block.1",
        "  pieces: 3/3 (100%) head",
    ]


def test_a_terminal_gets_one_bar_redrawn_in_place():
    screen = Terminal()
    with step("writing out", screen):
        meter = Meter("  weights", unit="bytes", stream=screen)
        for done in range(0, 2049, 16):
            meter(done, 2048)
    text = screen.getvalue()
    # The step's line is ended before the bar; the bar is redrawn with \r (at most ten times a
    # second) and ends full, then the step's time on a line of its own.
    assert text.startswith("writing out ...\n\r  weights [")
    assert "[########################] 100% 2.0 KB / 2.0 KB\x1b[K\n" in text
    assert text.count("\n") == 3 and text.endswith(" s\n")
    assert text.count("\r") < 10


def test_a_failed_step_leaves_the_error_its_own_line():
    screen = Terminal()
    try:
        with step("writing out", screen):
            Meter("  weights", unit="bytes", stream=screen)(10, 100)
            raise OSError("disk full")
    except OSError:
        pass
    assert screen.getvalue().endswith("\n")


def _spec(tmp_path) -> Path:
    spec = tmp_path / "mlp.hx"
    spec.write_text(
        f'model mlp from onnx "{TINY_MLP}"\n'
        'pipeline {\n  split(by = "*/MLPBlock.*")\n}\n'
        f'output "{tmp_path / "out"}" {{\n  validate = true\n  external_data_threshold = 16\n}}\n'
    )
    return spec


def test_build_shows_weights_and_pieces_in_a_log_and_nothing_with_quiet(tmp_path, capsys):
    assert main(["build", str(_spec(tmp_path))]) == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert any(line.startswith("  weights: ") and line.endswith("(100%)") for line in lines)
    assert "  pieces: 1/2 (50%) MLPBlock.0" in lines and "  pieces: 2/2 (100%) MLPBlock.1" in lines
    assert "weights: " not in captured.out and "pieces: " not in captured.out
    assert main(["build", "-q", str(_spec(tmp_path))]) == 0
    assert capsys.readouterr().err == ""
