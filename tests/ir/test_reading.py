"""Input files are read whole only when they are regular files, and never past their size:
a device or a FIFO named as a model is refused at once instead of hanging or filling memory."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import hcc.ir as ir
from hcc.ir.reading import read_bytes


def test_a_device_is_refused():
    with pytest.raises(ir.LoadError, match="/dev/zero: is not a regular file"):
        ir.load("/dev/zero")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_nobody_writes_to_is_refused_without_waiting(tmp_path):
    fifo = tmp_path / "model.onnx"
    os.mkfifo(fifo)
    # In a child process: a regression would block in open() for ever.
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, hcc.ir as ir\n"
            "try:\n    ir.load(sys.argv[1])\nexcept ir.LoadError as e:\n    print(e)",
            str(fifo),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (
        result.stdout.strip() == f"{fifo}: is not a regular file (a device, pipe or "
        "socket); hcc reads an ONNX model file only from a regular file"
    )


def test_a_regular_file_is_read_whole(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * 1000)
    assert read_bytes(path) == bytes(range(256)) * 1000


def test_a_path_with_a_nul_byte_is_an_error_not_a_value_error():
    with pytest.raises(ir.LoadError, match="contains a NUL byte"):
        read_bytes("model\0.onnx")
