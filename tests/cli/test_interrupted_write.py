"""Killing ``hcc opt`` while it replaces a model of more than 100 MB leaves the destination as
the old model or the complete new one, never a mix; after SIGTERM no temporary is left.

Two source models A and B of the same shape but other weights take turns: each round writes
the one the destination does not hold, and is killed at a random moment (from the start of the
process, or from the moment its first temporary appears, so many kills land inside the write).
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

pytestmark = pytest.mark.slow

_ROWS, _COLS, _WEIGHTS = 2048, 4096, 4  # four 32 MiB float32 weights: 128 MiB of data
_HCC = [sys.executable, "-c", "import sys; from hcc.cli import main; sys.exit(main())"]


def _large_model(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    weights = [
        numpy_helper.from_array(rng.standard_normal((_ROWS, _COLS), np.float32), f"w{i}")
        for i in range(_WEIGHTS)
    ]
    nodes, current = [], "x"
    for i in range(_WEIGHTS):
        nodes.append(helper.make_node("Add", [current, f"w{i}"], [f"h{i}"], name=f"add{i}"))
        current = f"h{i}"
    graph = helper.make_graph(
        nodes,
        "big",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [_ROWS, _COLS])],
        [helper.make_tensor_value_info(current, TensorProto.FLOAT, [_ROWS, _COLS])],
        weights,
    )
    model = helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 18)])
    onnx.save(model, str(path), save_as_external_data=True, location=f"{path.name}.data")


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _fingerprint(model_path: Path) -> tuple[str, tuple[str, ...]]:
    """What the model computes with, independent of its data file's name: the proto with
    locations blanked, and the digest of every data file it reads. Loading it with its data
    also checks that every tensor's bytes are there."""
    proto = onnx.load(str(model_path), load_external_data=False)
    locations = set()
    for tensor in proto.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                locations.add(entry.value)
                entry.value = ""
    onnx.load(str(model_path))  # every offset and length is inside its file
    data = tuple(_digest(model_path.parent / name) for name in sorted(locations))
    return hashlib.sha256(proto.SerializeToString()).hexdigest(), data


def _temporaries(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.endswith(".tmp"))


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("big-sources")
    # Both with the usual data file name, as two exports of one model would be.
    paths = {"a": folder / "a" / "model.onnx", "b": folder / "b" / "model.onnx"}
    for seed, path in enumerate(paths.values()):
        path.parent.mkdir()
        _large_model(path, seed)
    assert all(os.path.getsize(f"{p}.data") > 100 * 2**20 for p in paths.values())
    return paths


def _opt(source: Path, output: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*_HCC, "opt", str(source), "-o", str(output)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_a_killed_opt_leaves_the_old_model_or_the_new_one(sources, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "model.onnx"
    expected = {}
    for name, source in sources.items():  # the two possible results, written in full
        subprocess.run([*_HCC, "opt", str(source), "-o", str(out)], check=True)
        expected[name] = _fingerprint(out)
    assert expected["a"] != expected["b"]
    holds = "b"
    started = time.monotonic()
    subprocess.run([*_HCC, "opt", str(sources["a"]), "-o", str(out)], check=True)
    full_run = time.monotonic() - started
    holds = "a"

    rng = random.Random(15)
    outcomes = []
    for round_ in range(16):
        signum = signal.SIGKILL if round_ % 2 == 0 else signal.SIGTERM
        writes = "b" if holds == "a" else "a"
        process = _opt(sources[writes], out)
        if round_ % 4 < 2:  # from the start: anywhere in loading, writing or renaming
            time.sleep(rng.uniform(0.3, 1.05) * full_run)
        else:  # from the first temporary: inside the write
            deadline = time.monotonic() + 3 * full_run
            while not _temporaries(out_dir) and process.poll() is None:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.001)
            time.sleep(rng.uniform(0.0, 0.5))
        process.send_signal(signum)
        _, err = process.communicate(timeout=120)
        finished = process.returncode == 0
        if signum == signal.SIGTERM:
            assert process.returncode in (0, 128 + signal.SIGTERM, -signal.SIGTERM), err
            assert b"Traceback" not in err, err
            assert _temporaries(out_dir) == [], f"round {round_}: temporaries left after SIGTERM"
        else:
            for name in _temporaries(out_dir):  # SIGKILL cannot clean up; the next round may
                os.remove(out_dir / name)
        now = _fingerprint(out)
        assert now in (expected[holds], expected[writes]), f"round {round_}: a mixed model"
        holds = writes if now == expected[writes] else holds
        outcomes.append((signum, finished))
    # Some rounds of each signal must really have been interrupted, or this proves nothing.
    for signum in (signal.SIGKILL, signal.SIGTERM):
        assert outcomes.count((signum, False)) >= 2, outcomes
    # Only the current model's data file is left beside it (at most one stray after SIGKILL).
    left = sorted(os.listdir(out_dir))
    assert "model.onnx" in left and len(left) <= 3, left
