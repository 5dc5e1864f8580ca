"""quantize-weights: int8 per channel written by hcc, int4 block-wise by onnxruntime's own
quantizer with every scope re-attached; the scope policy chooses the weights."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

import hcc.ir as ir
from hcc.deviation import deviation
from hcc.ir import Attr, DataType, Scope, TensorType
from hcc.passes import PassManager, VerifyEach, build_pipeline, run
from hcc.passes.precision import QUANTIZED_KEY, PrecisionError
from hcc.passes.precision.int4 import block_scales, matmul_nbits_tensors
from hcc.passes.precision.int8 import quantize_int8

from .conftest import quantized_bytes

ROOT = Scope.root("Net")
MLP, HEAD = ROOT.child("mlp", "Mlp"), ROOT.child("head", "Head")
X = {"x": np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)}


def quantize(model, text="quantize-weights"):
    return PassManager(build_pipeline(text), [VerifyEach(require_scopes=True)]).run(model)


def two_linears(builder, *, gemm_trans_b=False, tied=False):
    rng = np.random.default_rng(0)
    b = builder()
    x = b.input("x")
    w1 = b.weight("mlp.weight", rng.standard_normal((4, 4)))
    w2 = b.weight("head.weight", rng.standard_normal((4, 4)))
    h = b.op("MatMul", "mlp", x, w1, scope=MLP)
    if gemm_trans_b:
        y = b.op("Gemm", "head", h, w2, scope=HEAD, attributes=[Attr.int("transB", 1)])
    else:
        y = b.op("MatMul", "head", h, w2, scope=HEAD)
    outputs = [y]
    if tied:
        outputs.append(b.op("Add", "reuse", x, w2, scope=HEAD))  # another reader of the weight
    return b.model(*outputs)


def dequantizers(model):
    return [n for n in model.all_nodes() if n.op_type == "DequantizeLinear"]


def test_int8_is_per_channel_symmetric_and_exact_to_its_formula():
    w = np.array([[1.0, -0.5], [-2.0, 0.25], [0.5, 0.0]], np.float32)
    q, scale = quantize_int8(w, axis=1)
    assert scale.tolist() == pytest.approx([2 / 127, 0.5 / 127])
    assert q.dtype == np.int8 and q.min() >= -127 and q[1, 0] == -127
    assert np.abs(q * scale - w).max() <= scale.max() / 2 + 1e-7
    zeros = quantize_int8(np.zeros((2, 2), np.float32), axis=1)
    assert zeros[1].tolist() == [1.0, 1.0] and not zeros[0].any()


def test_int8_dequantizes_before_each_matmul_in_its_scope(builder, ort_run):
    model = two_linears(builder)
    reference = ort_run(two_linears(builder), X)[0]
    model = quantize(model).model
    made = dequantizers(model)
    assert len(made) == 2 and {n.scope for n in made} == {MLP, HEAD}
    for node in made:
        (reader,) = node.outputs[0].consumers()
        assert reader.op_type == "MatMul" and reader.scope == node.scope
        assert node.inputs[0].const_value.dtype == DataType.INT8
        assert node.attributes["axis"].value == 1
    assert "mlp.weight" not in model.graph.initializers
    assert deviation("y", reference, ort_run(model, X)[0]).within(0.05)


def test_gemm_with_transposed_weight_takes_scales_along_its_rows(builder, ort_run):
    reference = ort_run(two_linears(builder, gemm_trans_b=True), X)[0]
    model = quantize(two_linears(builder, gemm_trans_b=True)).model
    gemm_dq = next(n for n in dequantizers(model) if n.scope == HEAD)
    assert gemm_dq.attributes["axis"].value == 0
    assert deviation("y", reference, ort_run(model, X)[0]).within(0.05)


def test_keep_and_only_choose_weights_by_scope(builder):
    kept = quantize(two_linears(builder), "quantize-weights(keep=['*/Head'])").model
    assert [n.scope for n in dequantizers(kept)] == [MLP]
    only = quantize(two_linears(builder), "quantize-weights(only=['head'])").model  # module path
    assert [n.scope for n in dequantizers(only)] == [HEAD]
    assert [name for name, _ in only.meta[QUANTIZED_KEY]] == ["head.weight"]


def test_a_weight_other_nodes_read_stays_float(builder):
    model = quantize(two_linears(builder, tied=True)).model
    assert [n.scope for n in dequantizers(model)] == [MLP]
    assert model.graph.initializers["head.weight"].const_value.dtype == DataType.FLOAT


def test_a_pattern_matching_nothing_is_an_error(builder):
    with pytest.raises(PrecisionError, match="only pattern 'Mpl' matches no scope"):
        quantize(two_linears(builder), "quantize-weights(only=['Mpl'])")


def test_block_size_must_be_a_power_of_two(builder):
    with pytest.raises(PrecisionError, match="power of two"):
        quantize(two_linears(builder), "quantize-weights(bits=4, block_size=48)")


def test_float16_weights_get_float16_scales(builder):
    model = two_linears(builder)
    model.opset_imports[""] = 19
    model = quantize(model, "convert-precision(keep_ops=[]),quantize-weights").model
    for node in dequantizers(model):
        assert node.inputs[1].const_value.dtype == DataType.FLOAT16
        assert node.outputs[0].dtype == DataType.FLOAT16


# -- exported LLaMA (2 layers, hidden 32) ----------------------------------------------------------


def quantized_session(exported, text, tmp_path):
    result = quantize(exported.load(), text)
    path = str(tmp_path / "q.onnx")
    ir.save(result.model, path)
    return result.model, ort.InferenceSession(path, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize(
    "text, ratio, tolerance",
    [
        # int8: 1 byte per weight plus one float32 scale per output channel of K (32 or 64) rows.
        ("quantize-weights", 0.25 + 1 / 32, 0.02),
        # int4 at block 32, MatMulNBits: half a byte per weight plus one float16 scale per 32
        # weights (a Cast widens them to the activations' type, as the schema wants).
        ("quantize-weights(bits=4)", 0.125 + 2 / 32 / 4, 0.15),
        ("quantize-weights(bits=4, scales=weight)", 0.125 + 4 / 32 / 4, 0.15),
        # DequantizeLinear stores float16 scales: 2 bytes per 32 weights.
        ("quantize-weights(bits=4, target=onnx)", 0.125 + 2 / 32 / 4, 0.15),
        ("quantize-weights(bits=4, target=onnx, scales=weight)", 0.125 + 4 / 32 / 4, 0.15),
    ],
)
def test_llama_weights_shrink_and_outputs_stay_close(tiny_llama, tmp_path, text, ratio, tolerance):
    model, session = quantized_session(tiny_llama, text, tmp_path)
    stored, original = quantized_bytes(model)
    assert original and stored <= ratio * original + 1
    assert all(not n.scope.is_unknown for n in model.all_nodes())
    outputs = session.run(None, tiny_llama.feeds)
    gap = deviation("logits", tiny_llama.reference[0], outputs[0])
    assert gap.within(tolerance), gap.describe()


@pytest.mark.parametrize("target", ["onnxruntime", "onnx"])
def test_int4_of_a_float16_model_stores_at_most_0_15_of_float32(tiny_llama, tmp_path, target):
    text = f"convert-precision,quantize-weights(bits=4, target={target})"
    model, session = quantized_session(tiny_llama, text, tmp_path)
    stored, original = quantized_bytes(model)
    assert original and stored <= (0.125 + 2 / 32 / 4) * original + 1 <= 0.15 * original
    outputs = session.run(None, tiny_llama.feeds)
    gap = deviation("logits", tiny_llama.reference[0], outputs[0].astype(np.float32))
    assert gap.within(0.15), gap.describe()


def onnxruntime_int4(path: str, dequantize_linear: bool):
    """onnxruntime's own weight quantizer on every MatMul with a constant weight."""
    import logging

    import onnx

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    from onnxruntime.quantization import QuantFormat
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    root.handlers[:] = handlers  # the module calls logging.basicConfig(level=INFO) on import
    root.setLevel(level)
    quantizer = MatMulNBitsQuantizer(
        onnx.load(path),
        bits=4,
        block_size=32,
        is_symmetric=True,
        quant_format=QuantFormat.QDQ if dequantize_linear else QuantFormat.QOperator,
    )
    logging.getLogger(type(quantizer).__module__).setLevel(logging.ERROR)
    quantizer.process()
    return quantizer.model.model


@pytest.mark.parametrize("float16", [False, True], ids=["float32", "float16"])
@pytest.mark.parametrize("target", ["onnxruntime", "onnx"])
def test_int4_equals_onnxruntimes_own_quantizer_bit_for_bit(tiny_llama, tmp_path, target, float16):
    source = tiny_llama.path
    if float16:  # both quantize the same float16 model
        source = str(tmp_path / "float16.onnx")
        ir.save(quantize(tiny_llama.load(), "convert-precision").model, source)
    model = quantize(
        ir.load(source), f"quantize-weights(bits=4, target={target}, scales=weight)"
    ).model
    ir.save(model, str(tmp_path / "ours.onnx"))
    session = ort.InferenceSession(str(tmp_path / "ours.onnx"), providers=["CPUExecutionProvider"])
    theirs = onnxruntime_int4(source, dequantize_linear=target == "onnx")
    reference = ort.InferenceSession(theirs.SerializeToString(), providers=["CPUExecutionProvider"])
    for want, got in zip(
        reference.run(None, tiny_llama.feeds), session.run(None, tiny_llama.feeds)
    ):
        assert want.dtype == got.dtype and np.array_equal(want, got)
    packed = {
        t.name: t.raw_data for t in theirs.graph.initializer if t.name.endswith(("_Q4", "_scales"))
    }
    ours = {
        v.name: v.const_value.tobytes()
        for v in model.graph.initializers.values()
        if v.name.endswith(("_Q4", "_int4", "_scales"))
    }
    assert len(ours) == len(packed) > 0
    assert sorted(ours.values()) == sorted(packed.values())


def test_int4_codes_match_onnxruntimes_kernels_on_random_weights():
    from onnxruntime.capi._pybind_state import quantize_matmul_4bits, quantize_qdq_matmul_4bits

    for seed in range(40):
        rng = np.random.default_rng(seed)
        dtype = (np.float32, np.float16)[seed % 2]
        w = (rng.standard_normal((64, 16)) * 10 ** rng.uniform(-3, 2)).astype(dtype)
        w[5, 3] = -np.abs(w[:32, 3]).max()  # a tie between the two ends of a block
        packed, scales = np.zeros((16, 2, 16), np.uint8), np.zeros((16, 2), dtype)
        quantize_matmul_4bits(packed, w, scales, np.zeros((16, 1), np.uint8), 32, 16, 64, True)
        mine_packed, mine_scales = matmul_nbits_tensors(w, 32)
        assert np.array_equal(mine_packed, packed) and np.array_equal(mine_scales, scales)
        flat, qscales = np.zeros(512, np.uint8), np.zeros((2, 16), dtype)
        quantize_qdq_matmul_4bits(flat, w, qscales, np.zeros(16, np.uint8), 32, 16, 64, True)
        codes, mine_scales = block_scales(w, 32)
        nibbles = codes.reshape(-1).astype(np.uint8) & 15
        assert np.array_equal(nibbles[0::2] | (nibbles[1::2] << 4), flat)
        assert np.array_equal(mine_scales, qscales)


def test_int4_for_onnx_is_a_blocked_dequantize_at_opset_21(tiny_llama, tmp_path):
    model, _ = quantized_session(tiny_llama, "quantize-weights(bits=4, target=onnx)", tmp_path)
    assert model.opset_imports[""] == 21
    made = dequantizers(model)
    assert made and all(n.attributes["block_size"].value == 32 for n in made)
    assert all(n.inputs[0].const_value.dtype == DataType.INT4 for n in made)
    for node in made:
        (reader,) = node.outputs[0].consumers()
        assert reader.scope == node.scope  # the new node serves its MatMul's module


def test_only_the_mlp_weights_are_quantized_when_asked(tiny_llama, tmp_path):
    model, _ = quantized_session(tiny_llama, "quantize-weights(only=['*/LlamaMLP'])", tmp_path)
    scopes = {n.scope.class_name for n in dequantizers(model)}
    assert scopes == {"LlamaMLP"}


def test_quantizing_again_changes_nothing(builder):
    model = quantize(two_linears(builder)).model
    again = quantize(model)
    assert not again.changed and len(dequantizers(again.model)) == 2


# -- int4 on Gemm and on shared weights ---------------------------------------------------------

K, N = 64, 16
WIDE = {"x": np.random.default_rng(1).standard_normal((3, K)).astype(np.float32)}


def wide(n: int) -> TensorType:
    return TensorType(DataType.FLOAT, ("batch", n))


def int4_reference(weight: np.ndarray, axis: int, target: str, float16_scales: bool):
    """The weight as the int4 form dequantizes it, ``[K, N]``."""
    matrix = weight if axis == 0 else weight.T
    scale_dtype = np.float16 if float16_scales else np.float32
    codes, scales = block_scales(
        matrix, 32, unsigned=target == "onnxruntime", scale_dtype=scale_dtype
    )
    if target == "onnxruntime":  # MatMulNBits reads its scales widened to float32
        scales = scales.astype(np.float32)
    dequantized = codes[: matrix.shape[0]] * np.repeat(scales, 32, axis=0)[: matrix.shape[0]]
    return dequantized.astype(np.float32)


TARGETS = [
    ("onnxruntime", "quantize-weights(bits=4)", True),
    ("onnxruntime", "quantize-weights(bits=4, scales=weight)", False),
    ("onnx", "quantize-weights(bits=4, target=onnx)", True),
    ("onnx", "quantize-weights(bits=4, target=onnx, scales=weight)", False),
]


@pytest.mark.parametrize("target, text, float16_scales", TARGETS)
@pytest.mark.parametrize("bias_shape", [None, (N,), (1, N)])
def test_int4_quantizes_a_gemm_with_transposed_weight(
    builder, ort_run, target, text, float16_scales, bias_shape
):
    rng = np.random.default_rng(2)
    w = rng.standard_normal((N, K)).astype(np.float32)  # transB: [N, K]
    bias = rng.standard_normal(bias_shape or (N,)).astype(np.float32)
    b = builder()
    x = b.input("x", wide(K))
    inputs = [x, b.weight("head.weight", w)]
    if bias_shape:
        inputs.append(b.weight("head.bias", bias))
    y = b.op("Gemm", "head", *inputs, scope=HEAD, type=wide(N), attributes=[Attr.int("transB", 1)])
    model = quantize(b.model(y, opset=18), text).model
    assert "head.weight" not in model.graph.initializers
    assert bool([n for n in model.all_nodes() if n.op_type == "Gemm"]) == (target == "onnx")
    made = [n for n in model.all_nodes() if n.op_type in ("MatMulNBits", "DequantizeLinear")]
    assert len(made) == 1 and all(n.scope == HEAD for n in model.all_nodes())
    if target == "onnx":
        assert made[0].attributes["axis"].value == 1  # blocks along K, the weight's rows
    expected = WIDE["x"] @ int4_reference(w, 1, target, float16_scales)
    expected = expected + (bias if bias_shape else 0)
    assert np.allclose(ort_run(model, WIDE)[0], expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("target, text, float16_scales", TARGETS)
def test_int4_quantizes_a_shared_weight_once_for_all_its_readers(
    builder, ort_run, target, text, float16_scales
):
    w = np.random.default_rng(3).standard_normal((K, K)).astype(np.float32)
    b = builder()
    x = b.input("x", wide(K))
    shared = b.weight("shared.weight", w)
    h = b.op("MatMul", "mlp", x, shared, scope=MLP, type=wide(K))
    y = b.op("MatMul", "head", h, shared, scope=HEAD, type=wide(K))
    model = quantize(b.model(y), text).model
    stored = [v for v in model.graph.initializers.values() if v.name.startswith("shared.weight")]
    assert len(stored) == 2  # the codes and the scales, once
    made = [n for n in model.all_nodes() if n.op_type in ("MatMulNBits", "DequantizeLinear")]
    assert [n.scope for n in made] == [MLP, HEAD]
    assert len({n.inputs[0 if target == "onnx" else 1].name for n in made}) == 1
    dequantized = int4_reference(w, 0, target, float16_scales)
    expected = (WIDE["x"] @ dequantized) @ dequantized
    assert np.allclose(ort_run(model, WIDE)[0], expected, atol=1e-3, rtol=1e-4)


def test_int4_leaves_a_weight_read_along_two_axes(builder):
    # One reader sums over the rows, the other (transB) over the columns: no one block layout.
    b = builder()
    x = b.input("x", wide(K))
    shared = b.weight("shared.weight", np.ones((K, K)))
    h = b.op("MatMul", "mlp", x, shared, scope=MLP, type=wide(K))
    y = b.op(
        "Gemm", "head", h, shared, scope=HEAD, type=wide(K), attributes=[Attr.int("transB", 1)]
    )
    result = quantize(b.model(y), "quantize-weights(bits=4, target=onnx)")
    assert not result.changed and "shared.weight" in result.model.graph.initializers


def test_matmul_nbits_leaves_a_gemm_it_cannot_compute(builder):
    b = builder()
    x = b.input("x", TensorType(DataType.FLOAT, (K, "batch")))
    w = b.weight("head.weight", np.ones((K, N)))
    y = b.op("Gemm", "head", x, w, scope=HEAD, type=wide(N), attributes=[Attr.int("transA", 1)])
    assert not quantize(b.model(y), "quantize-weights(bits=4)").changed
    b = builder()
    x = b.input("x", TensorType(DataType.FLOAT, (K, "batch")))
    w = b.weight("head.weight", np.ones((K, N)))
    y = b.op("Gemm", "head", x, w, scope=HEAD, type=wide(N), attributes=[Attr.int("transA", 1)])
    assert quantize(b.model(y), "quantize-weights(bits=4, target=onnx)").changed


@pytest.mark.parametrize("target", ["onnxruntime", "onnx"])
def test_float16_scales_fall_back_to_float32_beyond_float16s_range(builder, target):
    w = np.ones((K, N), np.float32)
    w[3, 2] = 1e6  # its block's scale, 1e6 / 8, is beyond float16's 65504
    b = builder()
    x = b.input("x", wide(K))
    y = b.op("MatMul", "mlp", x, b.weight("mlp.weight", w), scope=MLP, type=wide(N))
    model = quantize(b.model(y), f"quantize-weights(bits=4, target={target})").model
    (made,) = [n for n in model.all_nodes() if n.op_type in ("DequantizeLinear", "MatMulNBits")]
    scales = made.inputs[1 if target == "onnx" else 2]
    assert scales.const_value.dtype == DataType.FLOAT
    assert not [n for n in model.all_nodes() if n.op_type == "Cast"]


def test_matmul_nbits_reads_float16_scales_through_a_cast_onnxruntime_folds(builder, tmp_path):
    w = np.random.default_rng(4).standard_normal((K, K)).astype(np.float32)
    b = builder()
    x = b.input("x", wide(K))
    shared = b.weight("shared.weight", w)
    h = b.op("MatMul", "mlp", x, shared, scope=MLP, type=wide(K))
    y = b.op("MatMul", "head", h, shared, scope=HEAD, type=wide(K))
    model = quantize(b.model(y), "quantize-weights(bits=4)").model
    nbits = [n for n in model.all_nodes() if n.op_type == "MatMulNBits"]
    casts = [n.inputs[2].producer for n in nbits]
    # One float16 copy of the scales; a Cast to float32 per reader, in the reader's scope.
    assert len({c.inputs[0].name for c in casts}) == 1
    assert casts[0].inputs[0].const_value.dtype == DataType.FLOAT16
    assert [(c.op_type, c.scope) for c in casts] == [("Cast", MLP), ("Cast", HEAD)]
    ir.save(model, str(tmp_path / "q.onnx"))
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(tmp_path / "q.onnx"), options, providers=["CPUExecutionProvider"])
    import onnx

    optimized = onnx.load(str(tmp_path / "optimized.onnx"))
    assert [n.op_type for n in optimized.graph.node] == ["MatMulNBits", "MatMulNBits"]


@pytest.mark.parametrize("bits", [8, 4])
def test_a_weight_with_nan_is_refused_with_its_name_and_scope(builder, bits):
    w = np.ones((K, N), np.float32)
    w[1, 1] = np.nan
    b = builder()
    x = b.input("x", wide(K))
    y = b.op("MatMul", "mlp", x, b.weight("mlp.weight", w), scope=MLP, type=wide(N))
    with pytest.raises(PrecisionError, match=r"'mlp.weight' \(read in /Net/Mlp\) has NaN"):
        quantize(b.model(y), f"quantize-weights(bits={bits})")


def test_an_empty_weight_is_left_as_it_is(builder):
    b = builder()
    x = b.input("x", wide(0))
    y = b.op("MatMul", "mlp", x, b.weight("mlp.weight", np.ones((0, N))), scope=MLP, type=wide(N))
    assert not quantize(b.model(y)).changed


def test_a_nan_weight_without_a_scope_is_named_by_its_reader(builder):
    w = np.full((K, N), np.inf, np.float32)
    b = builder()
    x = b.input("x", wide(K))
    y = b.op("MatMul", "mm", x, b.weight("w", w), scope=Scope.unknown(), type=wide(N))
    with pytest.raises(PrecisionError, match=r"'w' \(read in node 'mm', which has no scope\)"):
        run(b.model(y), "quantize-weights")
