"""SIGTERM or SIGINT while a command writes: the command ends with 128 + the signal and one
line, the destination keeps its old content and no temporary is left. (The slow
test_interrupted_write.py kills real processes at random points of a large write.)"""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

import pytest

from hcc.cli import main
from hcc.ir import files


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize(
    "argv",
    [
        ["opt", "{src}", "-o", "{out}/model.onnx"],
        ["graphml", "{src}", "-o", "{out}/model.graphml"],
        ["json", "dag", "{src}", "-o", "{out}/dag.json"],
    ],
)
def test_a_signal_while_writing_leaves_the_old_files_and_no_temporary(
    capsys, tmp_path, monkeypatch, signum, argv, matmul
):
    src = matmul.save(tmp_path / "src" / "new.onnx", scale=2.0)
    out = tmp_path / "out"
    argv = [a.format(src=src, out=out) for a in argv]
    assert main(argv) == 0  # the old files
    before = _digests(out)
    real_write_all = files.write_all

    def signal_midway(fd, data, offset=None):
        os.kill(os.getpid(), signum)  # delivered on the way out of this call
        return real_write_all(fd, data, offset)

    monkeypatch.setattr(files, "write_all", signal_midway)
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 128 + signum
    assert err == f"hcc: interrupted by {signal.Signals(signum).name}\n"
    assert _digests(out) == before  # old content, and no temporary beside it
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is put back
