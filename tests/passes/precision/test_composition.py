"""The precision passes compose with the rest: split after them gives exact chained pieces that
share one weights file, and downgrade-ir lowers what has an older form and says what has none."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest

import hcc.ir as ir
from hcc.passes import run
from hcc.pieces import read_manifest, write_pieces
from hcc.validate import session, validate_pieces

LAYERS = "*/LlamaDecoderLayer.*"


def chain_with_reference(folder: str, feeds: dict) -> tuple[dict, dict]:
    """The whole model's outputs and the chained pieces' values, from onnx's reference
    evaluator: it computes float16 in float16. (onnxruntime's CPU kernels compute most float16
    ops in float32 and drop the rounding between fused neighbours, so a whole model and its
    pieces, which must round at every boundary, differ there by ~1e-4.)"""
    from onnx.reference import ReferenceEvaluator

    manifest = read_manifest(folder)
    whole = ReferenceEvaluator(os.path.join(folder, manifest["whole"]))
    expected = dict(
        zip(whole.output_names, whole.run(None, {k: feeds[k] for k in whole.input_names}))
    )
    values = dict(feeds)
    for entry in manifest["pieces"]:
        piece = ReferenceEvaluator(entry["path"])
        values.update(
            zip(piece.output_names, piece.run(None, {k: values[k] for k in piece.input_names}))
        )
    return expected, values


def weight_files(folder: str) -> set[str]:
    files = set()
    for entry in read_manifest(folder)["pieces"]:
        proto = onnx.load(entry["path"], load_external_data=False)
        files |= {
            e.value for t in proto.graph.initializer for e in t.external_data if e.key == "location"
        }
    return files


@pytest.mark.parametrize(
    "precision",
    [
        "convert-precision(keep=['*/LlamaRMSNorm'])",
        "convert-precision,quantize-weights(bits=4, target=onnx)",
        "convert-precision(dtype=bfloat16),quantize-weights",
    ],
)
def test_split_after_precision_gives_exact_pieces_on_one_weights_file(
    tiny_llama, tmp_path, precision
):
    model = run(tiny_llama.load(), f"{precision},split(by='{LAYERS}'),internalize-constants")
    assert all(not n.scope.is_unknown for n in model.all_nodes())
    write_pieces(model, str(tmp_path))
    expected, values = chain_with_reference(str(tmp_path), tiny_llama.feeds)
    for name, want in expected.items():
        assert want.dtype == values[name].dtype and np.array_equal(want, values[name]), name
    assert len(weight_files(str(tmp_path))) == 1


def test_matmul_nbits_pieces_chain_exactly_in_onnxruntime(tiny_llama, tmp_path):
    model = run(
        tiny_llama.load(), f"quantize-weights(bits=4),split(by='{LAYERS}'),internalize-constants"
    )
    write_pieces(model, str(tmp_path))
    for gap in validate_pieces(os.path.join(str(tmp_path), "manifest.json")):
        assert gap.ok and gap.max_abs == 0.0, gap.describe()
    assert len(weight_files(str(tmp_path))) == 1


def test_downgrade_lowers_float16_scales_to_opset_17(tiny_llama, tmp_path):
    model = run(tiny_llama.load(), "convert-precision,quantize-weights,downgrade-ir(opset=17)")
    dequantizers = [n for n in model.all_nodes() if n.op_type == "DequantizeLinear"]
    assert dequantizers and all(n.inputs[1].producer.op_type == "Cast" for n in dequantizers)
    assert all(not n.scope.is_unknown for n in model.all_nodes())
    path = str(tmp_path / "lowered.onnx")
    ir.save(model, path)
    outputs = session(path).run(None, tiny_llama.feeds)
    assert outputs[0].shape == tiny_llama.reference[0].shape


def test_downgrade_says_why_blocked_int4_has_no_older_form(tiny_llama):
    from hcc.passes.downgrade import DowngradeError

    with pytest.raises(
        DowngradeError,
        match=r"DequantizeLinear from 21 to 17: blocked scales "
        r"\(block_size\) exist from opset 21",
    ):
        run(tiny_llama.load(), "quantize-weights(bits=4, target=onnx),downgrade-ir(opset=17)")
