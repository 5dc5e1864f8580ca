"""Models and helpers for the split tests (loaded by conftest.py as ``split_support``).

Models are built from transformers configs with seeded random weights, exported once per test
session with the dynamo exporter; every test re-splits the same IR (``split`` only records
pieces in ``model.meta``, so splitting again replaces the previous choice).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

import hcc.ir as ir
from hcc.passes import run
from hcc.pieces import read_manifest, write_pieces

from _models import SMALL, export_module

# The shared small models (tests/_models.py), each with its LM head where it has one.
TASKS = {"gpt2": "causal-lm", "bert": "base", "llama": "causal-lm"}


@dataclass
class Built:
    name: str
    module: Any  # the torch model the export came from (same weights)
    model: ir.Model  # its export, dead code removed
    layers: str  # glob choosing one piece per layer
    feeds: dict[str, np.ndarray]  # inputs for both torch and onnxruntime


def build(name: str, **config_changes) -> Built:
    small = SMALL[name]
    overrides = {**small.overrides, **config_changes}
    return build_from(small.model_type, overrides, TASKS[name], small.layers, name=name)


def build_from(
    model_type: str,
    overrides: dict,
    task: str,
    layers: str,
    *,
    declared=None,
    name: str | None = None,
) -> Built:
    from hcc.frontend.sources import from_config

    module = from_config(model_type, overrides, task=task, seed=0)
    model, kwargs = export_module(module, declared)
    return built_from_export(name or model_type, module, model, kwargs, layers)


def built_from_export(name: str, module, model: ir.Model, kwargs: dict, layers: str) -> Built:
    """A :class:`Built` from an export made elsewhere (``kwargs``: its example inputs)."""
    run(model, "remove-dead-code")
    examples = {k: v.numpy() for k, v in kwargs.items()}
    made = feeds(module.config, [k for k, v in examples.items() if v.dtype == np.int64])
    made.update({k: v for k, v in examples.items() if k not in made})  # pixels: the example
    return Built(name, module, model, layers, made)


def feeds(config, names: list[str], batch: int = 2, seq: int = 11) -> dict[str, np.ndarray]:
    """Another batch than the export's example (seq 11, not 16), with padding at the end of the
    second row, so the pieces are run with dynamic shapes and a mask that matters."""
    rng = np.random.default_rng(7)
    vocab = min(int(getattr(config, "vocab_size", 1000)), 1000)
    result = {}
    for name in names:
        if "mask" in name:
            mask = np.ones((batch, seq), np.int64)
            mask[1, -3:] = 0
            result[name] = mask
        else:
            result[name] = rng.integers(0, vocab, (batch, seq), dtype=np.int64)
    return result


def split(
    built: Built, folder, *, by: str | None = None, shared_weights: str = "share", **options
) -> dict[str, Any]:
    """Split ``built`` (per layer unless ``by``, ``depth`` or ``scopes`` choose), write the
    pieces into ``folder`` and return the manifest (with each piece's ``path``)."""
    choice = [] if "depth" in options or "scopes" in options else [f"by={by or built.layers!r}"]
    text = ",".join(
        choice + [f"{k}={v!r}" if isinstance(v, list) else f"{k}={v}" for k, v in options.items()]
    )
    run(built.model, f"split({text}),internalize-constants(shared_weights={shared_weights})")
    write_pieces(built.model, str(folder))
    return read_manifest(str(folder))


def session(path: str, optimization: str = "basic"):
    """onnxruntime at basic optimization by default: its fusions depend on where a graph is cut
    (see hcc.validate), and the tests compare graphs, not fusions."""
    from hcc.validate import session as make

    return make(path, optimization)


def run_whole(folder, feeds: dict[str, np.ndarray], optimization: str = "basic"):
    manifest = read_manifest(str(folder))
    whole = session(os.path.join(str(folder), manifest["whole"]), optimization)
    names = [o.name for o in whole.get_outputs()]
    return dict(zip(names, whole.run(None, {i.name: feeds[i.name] for i in whole.get_inputs()})))


def max_deviation(expected: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> float:
    """The largest deviation of ``got`` from ``expected`` over every expected output; a NaN,
    a shape or a dtype that differ fail the test (see hcc.deviation)."""
    from hcc.deviation import deviation

    worst = 0.0
    for name, want in expected.items():
        assert name in got, name
        gap = deviation(name, want, got[name])
        assert gap.ok, gap.problem
        worst = max(worst, gap.max_abs)
    return worst


def weight_bytes(paths: list[str]) -> dict[str, int]:
    """Bytes of the initializers the models at ``paths`` hold: ``external`` counts each range of
    a data file once (however many models point at it), ``inline`` the bytes in the protos."""
    import onnx
    from onnx import numpy_helper

    seen: set[tuple] = set()
    external = inline = 0
    for path in paths:
        proto = onnx.load(path, load_external_data=False)
        folder = os.path.dirname(os.path.abspath(path))
        for tensor in proto.graph.initializer:
            if tensor.data_location == onnx.TensorProto.EXTERNAL:
                entries = {e.key: e.value for e in tensor.external_data}
                key = (
                    os.path.realpath(os.path.join(folder, entries["location"])),
                    int(entries.get("offset", 0)),
                    int(entries["length"]),
                )
                if key not in seen:
                    seen.add(key)
                    external += key[2]
            else:
                inline += numpy_helper.to_array(tensor).nbytes
    return {"external": external, "inline": inline, "total": external + inline}


def external_files(path: str) -> set[str]:
    import onnx

    proto = onnx.load(path, load_external_data=False)
    return {
        e.value for t in proto.graph.initializer for e in t.external_data if e.key == "location"
    }


def node_tags(path: str) -> dict[str, str]:
    """Node name -> its stored scope tag (``hcc.tag``), for the main graph of a file."""
    import onnx

    proto = onnx.load(path, load_external_data=False)
    return {
        n.name: {p.key: p.value for p in n.metadata_props}.get("hcc.tag", "")
        for n in proto.graph.node
    }


def manifest_json(folder) -> dict[str, Any]:
    with open(os.path.join(str(folder), "manifest.json"), encoding="utf-8") as f:
        return json.load(f)
