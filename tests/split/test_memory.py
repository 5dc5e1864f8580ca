"""Splitting streams weights: no pass and no writer reads a weight's bytes into memory; the
writer copies them from the model's data file to the pieces' file in the kernel."""

from __future__ import annotations

import pytest
import split_support as kit

import hcc.ir as ir
from hcc.frontend.load import ModelSource, load_model
from hcc.ir._tensors import ExternalTensor
from hcc.passes import run
from hcc.pieces import write_pieces


@pytest.fixture
def no_weight_reads(monkeypatch):
    """Make reading any external tensor's bytes in Python an error."""

    def refuse(self, *args, **kwargs):
        raise AssertionError(f"the bytes of {self.name!r} were read")

    for method in ("raw_view", "numpy", "tobytes"):
        monkeypatch.setattr(ExternalTensor, method, refuse)


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_load_split_and_write_never_read_a_weight(name, request, tmp_path, no_weight_reads):
    built = request.getfixturevalue(name)
    source = tmp_path / "source"
    source.mkdir()
    # ir.save copies external tensors file to file too: the patched methods are not needed.
    ir.save(built.model, str(source / "model.onnx"), external_data="model.onnx.data")
    model = load_model(ModelSource("onnx", str(source / "model.onnx")))  # with the tagging
    tensors = [
        v.const_value
        for v in model.graph.initializers.values()
        if isinstance(v.const_value, ExternalTensor)
    ]
    assert tensors
    run(model, f"split(by={built.layers!r}),internalize-constants")
    write_pieces(model, str(tmp_path / "pieces"))
    assert all(t._map is None for t in tensors)  # never even memory-mapped


def test_written_pieces_compute_the_same_after_streaming(llama, tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    ir.save(llama.model, str(source / "model.onnx"), external_data="model.onnx.data")
    model = ir.load(str(source / "model.onnx"))
    run(model, f"split(by={llama.layers!r},embeddings=own,head=own),internalize-constants")
    write_pieces(model, str(tmp_path / "pieces"))
    from hcc.validate import run_pieces

    expected = kit.run_whole(tmp_path / "pieces", llama.feeds)
    assert kit.max_deviation(expected, run_pieces(str(tmp_path / "pieces"), llama.feeds)) == 0.0
