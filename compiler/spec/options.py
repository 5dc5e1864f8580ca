"""The options each section of a spec accepts, typed and documented: one table per section.

docs/spec-language.md lists them (tests/spec/test_docs_examples.py keeps the two in step).
"""

from __future__ import annotations

from hcc.frontend.sources import TASKS
from hcc.passes._options import Option

REPORTS = ("hierarchy", "ir", "dag", "op-metadata", "graphml", "report", "html")
SECTIONS = ("model", "inputs", "export", "pipeline", "output")

# Options each section accepts, typed and documented (docs/spec-language.md lists them).
MODEL_OPTIONS = {
    "task": Option(
        str, "base", "which head to build (transformers Auto class)", choices=list(TASKS)
    ),
    "seed": Option(int, 0, "seed of the random weights and example inputs", min=0),
    "distinct_weights": Option(bool, True, "perturb fresh weights so no two tensors are equal"),
    "revision": Option(
        str, "", "pretrained: branch, tag or commit in the local hub cache (default main)"
    ),
}
INPUTS_OPTIONS = {
    "text": Option(str, "", "example text, run through the source's own tokenizer"),
}
EXPORT_OPTIONS = {
    "exporter": Option(str, "dynamo", "torch exporter", choices=["dynamo", "torchscript"]),
    "opset": Option(
        int,
        0,
        "opset of the export (0: the exporter's default); below the "
        "dynamo exporter's lowest (18) the export is lowered with downgrade-ir",
        min=0,
        max=28,
    ),
    "ir_version": Option(
        int,
        0,
        "lower the model's IR version to this (0: as exported; below "
        "10 the nodes lose their scopes)",
        min=0,
        max=11,
    ),
    "tagging": Option(bool, True, "run recover-scopes, tag-auxiliary, propagate-tags first"),
    "recipe": Option(
        str,
        "none",
        "kv-cache: a decoder LLM as embedding, prefill and decode "
        "blocks and a head (replaces the pipeline)",
        choices=["none", "kv-cache"],
    ),
    "max_len": Option(int, 128, "kv-cache: longest prompt plus generated tokens", min=1),
    "shapes": Option(
        str,
        "dynamic",
        "kv-cache: fixed (max_len) or dynamic block shapes",
        choices=["static", "dynamic"],
    ),
    "head": Option(
        str, "topk", "kv-cache: what lm_head returns", choices=["topk", "argmax", "logits"]
    ),
    "top_k": Option(int, 1, "kv-cache: k of a topk head", min=1),
    "dtype": Option(
        str,
        "float32",
        "kv-cache: weights and activations",
        choices=["float32", "float16", "bfloat16"],
    ),
    "cache_layout": Option(
        str,
        "bhsd",
        "kv-cache: cache tensors' layout, bhsd = [batch, "
        "kv_heads, positions, head_dim] or bshd = [batch, positions, "
        "kv_heads, head_dim]",
        choices=["bhsd", "bshd"],
    ),
    "decode_cache": Option(
        str,
        "new",
        "kv-cache: what decode returns per layer, the new entry or the whole updated cache",
        choices=["new", "whole"],
    ),
    "attention_mask": Option(
        str,
        "ones",
        "kv-cache: the blocks' mask, 0/1 per position or an additive float mask "
        "[batch, 1, queries, keys] (0 or -10000)",
        choices=["ones", "additive"],
    ),
}
OUTPUT_OPTIONS = {
    "name": Option(str, "", "file name of the model, without .onnx (default: the model's name)"),
    "external_data_threshold": Option(
        int, 1024, "tensors of at least this many bytes go to the .data file", min=0
    ),
    "reports": Option(list[str], [], "extra files to write", choices=list(REPORTS)),
    "validate": Option(
        bool,
        False,
        "after a split, chain the pieces in onnxruntime and "
        "compare with the whole model; with a PyTorch source, compare the "
        "model and every piece's boundary tensors with the torch module too",
    ),
    "tolerance": Option(
        float,
        0.0,
        "largest max-abs deviation of the pieces from the whole model that validation accepts",
        min=0.0,
    ),
    "torch_tolerance": Option(
        float,
        1e-4,
        "largest max-abs deviation from the torch module that validation accepts",
        min=0.0,
    ),
    "weights": Option(
        str,
        "load",
        "load the model and write its weights (load), or read a checkpoint's weights in place "
        "without loading them and hard-link its .safetensors beside the model (link), copy them "
        "(copy) or link where possible (auto)",
        choices=["load", "link", "copy", "auto"],
    ),
}
