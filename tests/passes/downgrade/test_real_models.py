"""downgrade-ir on real exports: GPT-2 (4 layers), seed 003's BERT and a small LLaMA.

Each model is exported once per module. For each target (IR, opset) the downgraded file must
pass the checker at that version, run in onnxruntime like the source, keep a tag on every node
as hcc reads it back, still split by layer, and give the nodes their metadata_props back when
saved at IR 10 again.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import hcc
import hcc.ir as ir
import hcc.passes
from hcc.ir.onnx._legacy_tags import NODE_METADATA_KEY

from _models import SMALL, export_module, small_module

TARGETS = [(8, 17), (8, 15), (7, 13)]


class Exported:
    """One export, its reference outputs, and its downgrades (made on first use)."""

    def __init__(self, name: str, folder) -> None:
        self.layers = SMALL[name].layers
        self.layer_count = SMALL[name].layer_count
        model, kwargs = export_module(small_module(name))
        self.folder = folder
        self.source = str(folder / "source" / "model.onnx")
        (folder / "source").mkdir()
        ir.save(model, self.source)
        self.feeds = {k: v.numpy() for k, v in kwargs.items()}
        self.reference = _run(self.source, self.feeds)
        self._done: dict[tuple[int, int], str] = {}

    def downgraded(self, target: tuple[int, int]) -> str:
        if target not in self._done:
            model = ir.load(self.source)
            hcc.passes.run(
                model, f"downgrade-ir(ir={target[0]},opset={target[1]})", verify_each=True
            )
            folder = self.folder / f"ir{target[0]}_opset{target[1]}"
            folder.mkdir()
            self._done[target] = str(folder / "model.onnx")
            ir.save(model, self._done[target])
        return self._done[target]


def _run(path: str, feeds) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"]).run(None, feeds)


@pytest.fixture(scope="module", params=["bert", "gpt2", "llama"])
def exported(request, tmp_path_factory):
    return Exported(request.param, tmp_path_factory.mktemp(request.param))


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: f"ir{t[0]}-opset{t[1]}")
def test_file_is_valid_at_the_target(exported, target):
    path = exported.downgraded(target)
    proto = onnx.load(path, load_external_data=False)
    assert proto.ir_version == target[0]
    assert {o.domain: o.version for o in proto.opset_import}[""] == target[1]
    onnx.checker.check_model(path, full_check=True)
    # Below IR 10 nodes carry no metadata of their own; the model-level map holds it.
    assert not any(len(node.metadata_props) for node in proto.graph.node)
    assert NODE_METADATA_KEY in {e.key for e in proto.metadata_props}


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: f"ir{t[0]}-opset{t[1]}")
def test_runs_like_the_source(exported, target):
    outputs = _run(exported.downgraded(target), exported.feeds)
    for got, want in zip(outputs, exported.reference, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: f"ir{t[0]}-opset{t[1]}")
def test_every_node_is_tagged_when_read_back(exported, target):
    source_tags = {node.scope.tag for node in ir.load(exported.source).graph.all_nodes()}
    model = ir.load(exported.downgraded(target))
    nodes = list(model.graph.all_nodes())
    assert nodes and all(not node.scope.is_unknown for node in nodes)
    # New nodes take the scope of the node they replace: no tag is invented.
    assert {node.scope.tag for node in nodes} <= source_tags


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: f"ir{t[0]}-opset{t[1]}")
def test_split_by_layer_still_works(exported, target):
    model = ir.load(exported.downgraded(target))
    hcc.passes.run(model, f"split(by={exported.layers!r})")
    pieces = model.meta["hcc.pieces"]
    assert len(pieces) == exported.layer_count
    assert sum(len(p.nodes) for p in pieces) == len(model.graph.nodes)


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: f"ir{t[0]}-opset{t[1]}")
def test_saving_at_ir_10_restores_node_metadata(exported, target, tmp_path):
    model = ir.load(exported.downgraded(target))
    model.ir_version = 10  # downgrade-ir never raises it; the opset stays as it is
    ir.save(model, str(tmp_path / "model.onnx"))
    proto = onnx.load(str(tmp_path / "model.onnx"), load_external_data=False)
    assert proto.ir_version == 10
    assert {o.domain: o.version for o in proto.opset_import}[""] == target[1]
    assert NODE_METADATA_KEY not in {e.key for e in proto.metadata_props}
    for node in proto.graph.node:
        keys = {e.key for e in node.metadata_props}
        assert {"hcc.tag", "hcc.module", "namespace"} <= keys, node.name
    onnx.checker.check_model(str(tmp_path / "model.onnx"), full_check=True)
