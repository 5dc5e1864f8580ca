"""The architecture zoo: every capability of hcc on many transformers architectures.

    python benchmarks/zoo.py [--only llama,bert] [--timeout 240] [--jobs 1] [--out docs/zoo.md]

Each architecture is built from its config class (2 layers, tiny sizes, seeded random weights)
in a child process of its own with a time limit, so a crash or a hang is one row's ✗, never the
end of the run. The child checks each capability on its own: a failing step is recorded with
its one-line reason and the next step still runs (a step that needs an earlier one's result is
✗ "needs ..."). The columns:

export      ``hcc.export`` with scopes (dynamo; the TorchScript exporter where dynamo fails:
            ✓ with a letter, torch's error below the table)
tags        every node has a scope
rule        every node's tag is the one the tag rules give its module, computed here again from
            ``named_modules`` (not from hcc's stored module tree)
ort         onnxruntime against torch at two batch and sequence sizes, within 1e-4
split       ``split(by='*.[0-9]*')`` + ``internalize-constants``: the chained pieces against the
            whole model at onnxruntime's basic level, deviation exactly 0.0
standalone  every piece passes the full onnx checker and loads in onnxruntime on its own
layers      every piece's boundary tensors against the output of its torch module, within 1e-4
outline     ``outline-functions(by='*/*.[0-9]*')``: outputs bit-exact at the basic level (the
            JSON notes functions and calls: layers of one structure share one function; ALBERT,
            whose one layer runs twice, has one call)
ir8/15      ``downgrade-ir`` to (IR 8, opset 15): full checker, onnxruntime within 1e-5 of the
ir7/13      source, every node tagged when read back; the same at (IR 7, opset 13)
kv-cache    decoder-only: the KV-cache recipe's pieces decode 16 greedy tokens equal to
            transformers ``generate``
foreign     the model exported by plain ``torch.onnx.export(..., dynamo=False)`` without hcc,
            scopes recovered from node names, split per layer: as many pieces as the hcc export
            has, chained deviation 0.0

Writes the table (with totals and each architecture's time) to ``--out`` and the raw results
to ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback

# Column key -> heading.
CAPABILITIES = {
    "export": "export",
    "tags": "tags",
    "rule": "rule",
    "ort": "ort",
    "split": "split",
    "standalone": "standalone",
    "layers": "layers",
    "outline": "outline",
    "ir8_15": "ir8/15",
    "ir7_13": "ir7/13",
    "kv_cache": "kv-cache",
    "foreign": "foreign",
}

# Sizes shared by most text models: 2 layers, hidden 32, 4 heads (2 for KV), vocab 128.
TEXT = dict(
    num_hidden_layers=2,
    hidden_size=32,
    num_attention_heads=4,
    intermediate_size=64,
    vocab_size=128,
    max_position_embeddings=64,
)
DECODER = dict(TEXT, num_key_value_heads=2)
GPT2_LIKE = dict(n_layer=2, n_embd=32, n_head=4, vocab_size=128, n_positions=64)
SEQ2SEQ = dict(
    encoder_layers=2,
    decoder_layers=2,
    d_model=32,
    encoder_attention_heads=4,
    decoder_attention_heads=4,
    encoder_ffn_dim=64,
    decoder_ffn_dim=64,
    vocab_size=128,
    max_position_embeddings=64,
)
T5_LIKE = dict(
    num_layers=2,
    num_decoder_layers=2,
    d_model=32,
    d_kv=8,
    d_ff=64,
    num_heads=4,
    vocab_size=128,
)
VISION = dict(
    num_hidden_layers=2,
    hidden_size=32,
    num_attention_heads=4,
    intermediate_size=64,
    image_size=32,
    patch_size=8,
)
AUDIO = dict(
    num_hidden_layers=2,
    hidden_size=32,
    num_attention_heads=4,
    intermediate_size=64,
    conv_dim=[32, 32],
    conv_kernel=[10, 3],
    conv_stride=[5, 2],
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=4,
)
CLIP_LIKE = dict(
    text_config=dict(TEXT, max_position_embeddings=32),
    vision_config=dict(VISION),
    projection_dim=16,
)


def _inputs(*specs):
    """Declared example inputs: (name, dtype, dims with names for dynamic axes, sizes)."""
    from hcc.frontend.sources import InputSpec

    return [InputSpec(name, dtype, dims, sizes) for name, dtype, dims, sizes in specs]


TOKENS = ("input_ids", "int64", ["batch", "seq"], [2, 16])
MASK = ("attention_mask", "int64", ["batch", "seq"], [2, 16])
AUDIO_INPUT = ("input_values", "float32", ["batch", "samples"], [2, 400])
PIXELS = ("pixel_values", "float32", ["batch", 3, 32, 32], [2, 3, 32, 32])

# name -> (family, model type, task, config overrides, declared inputs or None)
ARCHITECTURES: dict[str, tuple] = {
    # decoder-only
    "llama": ("decoder", "llama", "causal-lm", DECODER, None),
    "mistral": ("decoder", "mistral", "causal-lm", DECODER, None),
    "qwen2": ("decoder", "qwen2", "causal-lm", DECODER, None),
    "qwen3": ("decoder", "qwen3", "causal-lm", dict(DECODER, head_dim=8), None),
    "gemma": ("decoder", "gemma", "causal-lm", dict(DECODER, head_dim=8), None),
    "gemma2": ("decoder", "gemma2", "causal-lm", dict(DECODER, head_dim=8), None),
    "phi": ("decoder", "phi", "causal-lm", DECODER, None),
    "phi3": ("decoder", "phi3", "causal-lm", dict(DECODER, pad_token_id=0), None),
    "gpt2": ("decoder", "gpt2", "causal-lm", GPT2_LIKE, None),
    "gpt_neo": (
        "decoder",
        "gpt_neo",
        "causal-lm",
        dict(
            num_layers=2,
            hidden_size=32,
            num_heads=4,
            vocab_size=128,
            max_position_embeddings=64,
            attention_types=[[["global", "local"], 1]],
            window_size=8,
        ),
        None,
    ),
    "gptj": ("decoder", "gptj", "causal-lm", dict(GPT2_LIKE, rotary_dim=4), None),
    "gpt_neox": ("decoder", "gpt_neox", "causal-lm", TEXT, None),
    "opt": (
        "decoder",
        "opt",
        "causal-lm",
        dict(
            num_hidden_layers=2,
            hidden_size=32,
            num_attention_heads=4,
            ffn_dim=64,
            word_embed_proj_dim=32,
            vocab_size=128,
            max_position_embeddings=64,
        ),
        None,
    ),
    "bloom": (
        "decoder",
        "bloom",
        "causal-lm",
        dict(n_layer=2, hidden_size=32, n_head=4, vocab_size=128),
        None,
    ),
    "falcon": (
        "decoder",
        "falcon",
        "causal-lm",
        dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, vocab_size=128),
        None,
    ),
    "mpt": (
        "decoder",
        "mpt",
        "causal-lm",
        dict(n_layers=2, d_model=32, n_heads=4, vocab_size=128, max_seq_len=64),
        None,
    ),
    "starcoder2": ("decoder", "starcoder2", "causal-lm", DECODER, None),
    "codegen": ("decoder", "codegen", "causal-lm", dict(GPT2_LIKE, n_ctx=64, rotary_dim=4), None),
    "olmo": ("decoder", "olmo", "causal-lm", DECODER, None),
    "stablelm": ("decoder", "stablelm", "causal-lm", DECODER, None),
    "gpt_bigcode": ("decoder", "gpt_bigcode", "causal-lm", GPT2_LIKE, None),
    "biogpt": ("decoder", "biogpt", "causal-lm", TEXT, None),
    "granite": ("decoder", "granite", "causal-lm", DECODER, None),
    # encoder-only
    "bert": ("encoder", "bert", "base", TEXT, None),
    "roberta": ("encoder", "roberta", "base", TEXT, None),
    "distilbert": (
        "encoder",
        "distilbert",
        "base",
        dict(
            n_layers=2, dim=32, hidden_dim=64, n_heads=4, vocab_size=128, max_position_embeddings=64
        ),
        None,
    ),
    "albert": ("encoder", "albert", "base", dict(TEXT, embedding_size=16), None),
    "electra": ("encoder", "electra", "base", dict(TEXT, embedding_size=16), None),
    "deberta-v2": ("encoder", "deberta-v2", "base", TEXT, None),
    "xlm-roberta": ("encoder", "xlm-roberta", "base", TEXT, None),
    "mpnet": ("encoder", "mpnet", "base", TEXT, None),
    "roformer": ("encoder", "roformer", "base", dict(TEXT, embedding_size=32), None),
    # encoder-decoder
    "t5": ("encoder-decoder", "t5", "seq2seq-lm", T5_LIKE, None),
    "bart": ("encoder-decoder", "bart", "seq2seq-lm", SEQ2SEQ, None),
    "marian": (
        "encoder-decoder",
        "marian",
        "seq2seq-lm",
        dict(SEQ2SEQ, pad_token_id=0, decoder_start_token_id=0),
        None,
    ),
    "mbart": ("encoder-decoder", "mbart", "seq2seq-lm", SEQ2SEQ, None),
    "pegasus": ("encoder-decoder", "pegasus", "seq2seq-lm", SEQ2SEQ, None),
    "whisper": (
        "audio",
        "whisper",
        "base",
        dict(
            {k: v for k, v in SEQ2SEQ.items() if k != "max_position_embeddings"},
            num_mel_bins=8,
            max_source_positions=16,
            max_target_positions=32,
            pad_token_id=0,
            bos_token_id=1,
            eos_token_id=2,
            decoder_start_token_id=1,
        ),
        [
            ("input_features", "float32", ["batch", 8, 32], [2, 8, 32]),
            ("decoder_input_ids", "int64", ["batch", "decoder_seq"], [2, 8]),
        ],
    ),
    # vision
    "vit": ("vision", "vit", "base", VISION, [PIXELS]),
    "deit": ("vision", "deit", "base", VISION, [PIXELS]),
    "beit": ("vision", "beit", "base", VISION, [PIXELS]),
    "dinov2": (
        "vision",
        "dinov2",
        "base",
        dict({k: v for k, v in VISION.items() if k != "intermediate_size"}, mlp_ratio=2),
        [PIXELS],
    ),
    "swin": (
        "vision",
        "swin",
        "base",
        dict(
            image_size=32,
            patch_size=4,
            embed_dim=16,
            depths=[1, 1],
            num_heads=[2, 2],
            window_size=4,
        ),
        [PIXELS],
    ),
    "resnet": (
        "vision",
        "resnet",
        "base",
        dict(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1], layer_type="basic"),
        [PIXELS],
    ),
    "convnext": (
        "vision",
        "convnext",
        "base",
        dict(hidden_sizes=[16, 32], depths=[1, 1], num_stages=2),
        [PIXELS],
    ),
    # audio
    "wav2vec2": ("audio", "wav2vec2", "base", AUDIO, [AUDIO_INPUT]),
    "hubert": ("audio", "hubert", "base", AUDIO, [AUDIO_INPUT]),
    "wavlm": ("audio", "wavlm", "base", dict(AUDIO, num_buckets=32), [AUDIO_INPUT]),
    # multimodal
    "clip": ("multimodal", "clip", "base", CLIP_LIKE, [TOKENS, MASK, PIXELS]),
    "siglip": (
        "multimodal",
        "siglip",
        "base",
        {k: v for k, v in CLIP_LIKE.items() if k != "projection_dim"},
        [TOKENS, ("pixel_values", "float32", ["batch", 3, 32, 32], [2, 3, 32, 32])],
    ),
}

# The steps other steps need, and what they make.
PRODUCES = {"build": "the model", "export": "the export", "split": "the pieces"}
LAYERS = "*.[0-9]*"  # the outermost elements of module lists: one piece per layer
TOLERANCE = 1e-4
DOWNGRADE_TOLERANCE = 1e-5
# (batch, sequence) for onnxruntime against torch; audio's sequence is in samples.
SIZES = ((2, 16), (3, 7))
AUDIO_SIZES = ((2, 400), (3, 320))
PROMPT = [5, 17, 42, 7, 99, 3]
NEW_TOKENS = 16


# -- the child: one architecture ---------------------------------------------------------------


class Failed(Exception):
    """A capability that did not hold; the message is the table's reason."""


class Child:
    def __init__(self, name: str, folder: str, out: str) -> None:
        self.name = name
        self.family, self.model_type, self.task, self.overrides, self.declared = ARCHITECTURES[name]
        self.folder = folder
        self.out = out
        self.results: dict[str, dict] = {}
        self.sizes = AUDIO_SIZES if self.declared and AUDIO_INPUT in self.declared else SIZES
        self.why: dict[str, str] = {}  # what a failed step would have made -> its reason
        self.module = None
        self.model = None
        self.path = None  # the hcc export
        self.manifest = None  # the split pieces
        self.pieces = None

    def record(self, key: str, status: str, reason: str = "", seconds: float = 0.0) -> None:
        self.results[key] = {"status": status, "reason": reason, "seconds": round(seconds, 2)}
        self.results["cpu"] = round(_cpu_seconds(), 1)
        # Written after every step: a child killed at the time limit keeps what it did.
        with open(self.out + ".tmp", "w") as f:
            json.dump(self.results, f)
        os.replace(self.out + ".tmp", self.out)

    def step(self, key: str, function) -> None:
        start = time.perf_counter()
        try:
            note = function()
        except Failed as error:
            self.failed(key, str(error), time.perf_counter() - start)
        except Exception as error:  # noqa: BLE001 - every error is this step's result
            self.failed(key, _one_line(error), time.perf_counter() - start)
            if os.environ.get("HCC_ZOO_TRACE"):
                traceback.print_exc()
        else:
            if note == "n/a":
                self.record(key, "n/a", "", time.perf_counter() - start)
            else:
                self.record(key, "ok", note or "", time.perf_counter() - start)

    def failed(self, key: str, reason: str, seconds: float) -> None:
        self.record(key, "fail", reason, seconds)
        if key in PRODUCES and PRODUCES[key] not in self.why:
            self.why[PRODUCES[key]] = reason

    def need(self, what: str, value):
        """``value``, which an earlier step made; a step that needs what failed fails too."""
        if value is None:
            why = self.why.get(what)
            raise Failed(f"needs {what}" + (f" ({why})" if why else ""))
        return value

    def run(self) -> None:
        self.step("build", self.build)
        self.step("export", self.export)
        self.step("tags", self.tags)
        self.step("rule", self.rule)
        self.step("ort", self.ort)
        self.step("split", self.split)
        self.step("standalone", self.standalone)
        self.step("layers", self.layers)
        self.step("outline", self.outline)
        self.step("ir8_15", lambda: self.downgrade(8, 15))
        self.step("ir7_13", lambda: self.downgrade(7, 13))
        self.step("kv_cache", self.kv_cache)
        self.step("foreign", self.foreign)

    # -- steps ---------------------------------------------------------------------------------

    def build(self) -> str:
        from hcc.frontend import sources

        self.module = sources.from_config(self.model_type, self.overrides, task=self.task, seed=0)
        declared = _inputs(*self.declared) if self.declared else None
        self.kwargs, self.shapes = sources.example_inputs(self.module, declared)
        count = sum(p.numel() for p in self.module.parameters())
        return f"{type(self.module).__name__}, {count} parameters"

    def export(self) -> str:
        import hcc

        module = self.need("the model", self.module)
        try:
            model = hcc.export(module, (), self.kwargs, dynamic_shapes=self.shapes)
            note = "dynamo"
        except Exception as dynamo_error:  # noqa: BLE001 - then the TorchScript exporter
            try:
                model = hcc.export(
                    module, (), self.kwargs, dynamic_shapes=self.shapes, exporter="torchscript"
                )
            except Exception as ts_error:  # noqa: BLE001
                raise Failed(
                    f"dynamo: {_one_line(dynamo_error)}; torchscript: {_one_line(ts_error)}"
                ) from None
            note = _one_line(dynamo_error, 400)
        self.path = self.save(model, "export")
        self.model = model
        return note

    def tags(self) -> str:
        model = self.need("the export", self.model)
        nodes = list(model.all_nodes())
        untagged = [n for n in nodes if n.scope.is_unknown]
        if untagged:
            raise Failed(
                f"{len(untagged)} of {len(nodes)} nodes untagged (first {untagged[0].name!r})"
            )
        return f"{len(nodes)} nodes"

    def rule(self) -> str:
        model = self.need("the export", self.model)
        expected = expected_tags(self.module)
        wrong = []
        for node in model.all_nodes():
            scope = node.scope
            want = expected.get(scope.module_path)
            if want is None or want != scope.tag:
                wrong.append((node.name, scope.module_path, scope.tag, want))
        if wrong:
            name, path, tag, want = wrong[0]
            raise Failed(
                f"{len(wrong)} nodes; {name!r} at {path!r} has {tag!r}, the rule gives {want!r}"
            )
        return ""

    def ort(self) -> str:
        from hcc.torch_reference import validate_against_torch

        path = self.need("the export", self.path)
        worst = 0.0
        for batch, seq in self.sizes:
            result = validate_against_torch(self.module, path, batch=batch, seq=seq)
            problems = result.failures(TOLERANCE)
            if problems:
                raise Failed(f"batch {batch}, seq {seq}: {problems[0]}")
            worst = max([worst] + [d.max_abs for d in result.whole])
        return f"max {worst:.1e}"

    def split(self) -> str:
        import hcc.ir as ir

        path = self.need("the export", self.path)
        self.manifest, self.pieces = self.split_exactly(ir.load(path), "pieces")
        return f"{self.pieces} pieces"

    def standalone(self) -> str:
        import onnx

        from hcc.ort import Session
        from hcc.pieces import read_manifest

        manifest = read_manifest(self.need("the pieces", self.manifest))
        for entry in manifest["pieces"]:
            try:
                onnx.checker.check_model(entry["path"], full_check=True)
            except Exception as error:  # noqa: BLE001
                raise Failed(f"{entry['name']}: checker: {_one_line(error)}") from None
            Session(entry["path"], what=f"piece {entry['name']!r}")
        return f"{len(manifest['pieces'])} pieces"

    def layers(self) -> str:
        from hcc.torch_reference import validate_against_torch

        manifest = self.need("the pieces", self.manifest)
        batch, seq = self.sizes[0]
        result = validate_against_torch(self.module, self.path, manifest, batch=batch, seq=seq)
        problems = [
            f"{c.label}: {c.deviation.describe()}"
            for c in result.pieces
            if c.deviation is not None and not c.deviation.within(TOLERANCE)
        ]
        if problems:
            raise Failed(problems[0])
        compared = {c.piece for c in result.pieces if c.deviation is not None}
        every = {c.piece for c in result.pieces}
        if compared != every:
            missing = sorted(every - compared)
            raise Failed(f"no torch module output to compare for {', '.join(missing)}")
        return f"{len(compared)} pieces compared"

    def outline(self) -> str:
        import hcc.ir as ir
        from hcc.passes import run

        path = self.need("the export", self.path)
        model = run(ir.load(path), f"outline-functions(by='*/{LAYERS}')")
        calls = [n for n in model.graph.nodes if n.domain == "hcc.functions"]
        functions = len(model.functions)
        if not calls:
            raise Failed("no scope outlined")
        target = self.save(model, "outlined")
        feeds = self.feeds()
        expected, actual = _run(path, feeds), _run(target, feeds)
        for name in expected:
            if expected[name].tobytes() != actual[name].tobytes():
                raise Failed(f"output {name!r} differs from the source")
        return f"{functions} functions, {len(calls)} calls"

    def downgrade(self, ir_version: int, opset: int) -> str:
        import numpy as np
        import onnx

        import hcc.ir as ir
        from hcc.passes import run

        path = self.need("the export", self.path)
        model = run(ir.load(path), f"downgrade-ir(ir={ir_version},opset={opset})")
        target = self.save(model, f"ir{ir_version}_{opset}")
        try:
            onnx.checker.check_model(target, full_check=True)
        except Exception as error:  # noqa: BLE001
            raise Failed(f"checker: {_one_line(error)}") from None
        feeds = self.feeds()
        expected, actual = _run(path, feeds), _run(target, feeds)
        worst = 0.0
        for name, want in expected.items():
            got = actual[name]
            if got.shape != want.shape or not np.all(np.isfinite(got) == np.isfinite(want)):
                raise Failed(f"output {name!r}: shape or non-finite values differ")
            finite = np.isfinite(want)
            if finite.any():
                worst = max(worst, float(np.abs(got[finite] - want[finite]).max()))
        if worst > DOWNGRADE_TOLERANCE:
            raise Failed(f"max abs deviation {worst:.1e} from the source")
        untagged = [n for n in ir.load(target).all_nodes() if n.scope.is_unknown]
        if untagged:
            raise Failed(f"{len(untagged)} nodes untagged when read back")
        return f"max {worst:.1e}"

    def kv_cache(self) -> str:
        if self.family != "decoder":
            return "n/a"
        import torch

        from hcc.frontend import sources
        from hcc.llm.recipe import LLMOptions, build_pieces
        from hcc.llm.runtime import Runner

        self.need("the model", self.module)
        module = sources.from_config(self.model_type, self.overrides, task=self.task, seed=0)
        folder = os.path.join(self.folder, "kv-cache")
        build_pieces(module, folder, LLMOptions(max_len=32, head="argmax"), name=self.name)
        module.config.use_cache = True
        with torch.no_grad():
            out = module.generate(
                torch.tensor([PROMPT]),
                max_new_tokens=NEW_TOKENS,
                min_new_tokens=NEW_TOKENS,
                do_sample=False,
                pad_token_id=0,
            )
        reference = out[0, len(PROMPT) :].tolist()
        tokens = Runner(folder).generate(PROMPT, NEW_TOKENS).tokens
        if tokens != reference:
            first = next(i for i, (a, b) in enumerate(zip(tokens, reference)) if a != b)
            raise Failed(f"token {first} differs: {tokens[first]} against {reference[first]}")
        return f"{NEW_TOKENS} tokens"

    def foreign(self) -> str:
        import hcc.ir as ir
        from hcc.passes import run

        module = self.need("the model", self.module)
        source = os.path.join(self.folder, "foreign", "model.onnx")
        os.makedirs(os.path.dirname(source))
        try:
            torchscript_export(module, self.kwargs, self.shapes, source)
        except Exception as error:  # noqa: BLE001
            raise Failed(f"torch.onnx.export(dynamo=False): {_one_line(error)}") from None
        model = ir.load(source)
        run(model, "recover-scopes,tag-auxiliary,propagate-tags")
        untagged = [n for n in model.all_nodes() if n.scope.is_unknown]
        if untagged:
            raise Failed(f"{len(untagged)} nodes untagged")
        _, count = self.split_exactly(model, "foreign-pieces")
        if self.pieces is not None and count != self.pieces:
            raise Failed(f"{count} pieces, the hcc export splits into {self.pieces}")
        return f"{count} pieces"

    # -- helpers -------------------------------------------------------------------------------

    def split_exactly(self, model, name: str) -> tuple[str, int]:
        """Split ``model`` per layer into the folder ``name``, check the chained pieces against
        the whole at onnxruntime's basic level (deviation exactly 0.0); return the manifest's
        path and the number of pieces."""
        from hcc.passes import run
        from hcc.pieces import write_pieces
        from hcc.validate import validate_pieces

        run(model, f"split(by={LAYERS!r}),internalize-constants")
        folder = os.path.join(self.folder, name)
        write_pieces(model, folder)
        manifest = os.path.join(folder, "manifest.json")
        batch, seq = self.sizes[0]
        for d in validate_pieces(manifest, batch=batch, seq=seq):
            if d.problem or d.max_abs != 0.0:
                raise Failed(f"{d.name}: {d.describe()}")
        return manifest, len(model.meta["hcc.pieces"])

    def save(self, model, name: str) -> str:
        """Write ``model`` as ``name/model.onnx`` in the architecture's folder."""
        import hcc.ir as ir

        target = os.path.join(self.folder, name, "model.onnx")
        os.makedirs(os.path.dirname(target))
        ir.save(model, target)
        return target

    def feeds(self):
        import hcc.ir as ir
        from hcc.ort import Session, generated_inputs

        batch, seq = self.sizes[0]
        return generated_inputs(Session(self.path), ir.load(self.path), batch=batch, seq=seq)


def expected_tags(module) -> dict[str, str]:
    """The tag of every module path by the tag rules (see docs/export.md), from named_modules:
    torch.nn's own classes take their parent's tag, list elements are ``Class.index``."""
    tags = {"": "/" + type(module).__name__}
    for path, sub in module.named_modules(remove_duplicate=False):
        if not path:
            continue
        parent = tags[path.rpartition(".")[0]]
        if type(sub).__module__.startswith("torch.nn."):
            tags[path] = parent
            continue
        last = path.rpartition(".")[2]
        segment = type(sub).__name__ + (f".{last}" if last.isdigit() else "")
        tags[path] = f"{parent}/{segment}"
    return tags


def torchscript_export(module, kwargs: dict, shapes: dict, path: str) -> None:
    """What scripts without hcc do: ``torch.onnx.export(dynamo=False)`` of a thin wrapper
    (transformers 5 needs positional inputs), dynamic axes where the dynamo export has them."""
    import warnings

    import torch

    from hcc.torch_reference import flatten

    names = list(kwargs)

    class Wrapper(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = module

        def forward(self, *tensors):
            return tuple(flatten(self.model(**dict(zip(names, tensors)))))

    axes = {
        name: {axis: str(dim.__name__) for axis, dim in (shapes.get(name) or {}).items()}
        for name in names
    }
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Wrapper().eval(),
            tuple(kwargs[name] for name in names),
            path,
            dynamo=False,
            input_names=names,
            dynamic_axes={name: a for name, a in axes.items() if a},
        )


def _cpu_seconds() -> float:
    """CPU time of this process so far: what the run costs on an idle machine, whatever the
    load of a shared one does to wall time."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _run(path: str, feeds) -> dict:
    from hcc.ort import Session

    return Session(path).run(feeds)


def _one_line(error: BaseException, limit: int = 160) -> str:
    text = " ".join(str(error).split())
    text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def child_main(name: str, out: str) -> None:
    import contextlib
    import io
    import warnings

    warnings.simplefilter("ignore")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    # Inside the parent's folder: a child killed at the time limit leaves nothing behind.
    with tempfile.TemporaryDirectory(prefix=f"{name}-", dir=os.path.dirname(out)) as folder:
        child = Child(name, folder, out)
        quiet = io.StringIO()
        with contextlib.redirect_stdout(quiet):
            child.run()


# -- the parent: run every child, write the table -----------------------------------------------


def run_one(name: str, timeout: float, folder: str) -> dict:
    out = os.path.join(folder, f"{name}.json")
    start = time.perf_counter()
    command = [sys.executable, os.path.abspath(__file__), "--child", name, "--child-out", out]
    # One thread per child: architectures run side by side, and tiny models gain nothing from
    # more.
    env = dict(os.environ, OMP_NUM_THREADS="1", TRANSFORMERS_VERBOSITY="error")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        _, stderr = process.communicate(timeout=timeout)
        ended = None if process.returncode == 0 else f"crashed (exit {process.returncode})"
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
        ended = f"time limit of {timeout:.0f} s reached"
    results = {}
    if os.path.exists(out):
        with open(out) as f:
            results = json.load(f)
    if ended:
        last = stderr.decode(errors="replace").strip().splitlines()[-1:] if stderr else []
        why = ended + (f": {last[0][:120]}" if last else "")
        for key in ["build", *CAPABILITIES]:
            results.setdefault(key, {"status": "fail", "reason": why, "seconds": 0.0})
    results["seconds"] = round(time.perf_counter() - start, 1)
    return results


def write_table(results: dict[str, dict], path: str, jobs: int) -> None:
    families = {}
    for name in results:
        families.setdefault(ARCHITECTURES[name][0], []).append(name)
    keys = list(CAPABILITIES)
    lines = [
        "# The architecture zoo",
        "",
        "Generated by `python benchmarks/zoo.py` (see its docstring for what each column "
        "checks). Every architecture is built from its transformers config with 2 layers, tiny "
        "sizes and seeded random weights, and checked in a process of its own; ✓ holds, ✗ "
        "fails (the reason below the table), n/a does not apply. `time` is the architecture's "
        "wall time, `cpu` its CPU time (what it costs on an idle machine).",
        "",
        "| architecture | family | " + " | ".join(CAPABILITIES.values()) + " | time | cpu |",
        "|---" * (len(keys) + 4) + "|",
    ]
    reasons = []
    notes = []  # exports torch's dynamo exporter could not make: its error, lettered
    totals = {key: {"ok": 0, "fail": 0, "n/a": 0} for key in keys}
    for family in ("decoder", "encoder", "encoder-decoder", "vision", "audio", "multimodal"):
        for name in families.get(family, []):
            row = results[name]
            cells = []
            for key in keys:
                entry = row.get(key, {"status": "fail", "reason": "not run"})
                totals[key][entry["status"]] += 1
                if entry["status"] == "ok" and key == "export" and entry["reason"] != "dynamo":
                    letter = chr(ord("a") + len(notes))
                    notes.append(f"- **{letter}.** **{name}**: {_md(entry['reason'])}")
                    cells.append(f"✓ [{letter}]")
                elif entry["status"] == "ok":
                    cells.append("✓")
                elif entry["status"] == "n/a":
                    cells.append("n/a")
                else:
                    reasons.append(f"- **{name}**, {CAPABILITIES[key]}: {_md(entry['reason'])}")
                    cells.append(f"✗ [{len(reasons)}]")
            lines.append(
                f"| {name} | {family} | "
                + " | ".join(cells)
                + f" | {row['seconds']:.0f} s | {row.get('cpu', 0):.0f} s |"
            )
    cpu = sum(row.get("cpu", 0) for row in results.values())
    wall = sum(row["seconds"] for row in results.values())
    lines.append(
        "| **✓ / ✗ / n/a** | | "
        + " | ".join(f"{t['ok']}/{t['fail']}/{t['n/a']}" for t in totals.values())
        + f" | {wall / 60:.0f} min | {cpu / 60:.0f} min |"
    )
    lines += [
        "",
        f"{len(results)} architectures: {wall / 60:.1f} min of wall time in all (run {jobs} "
        f"at a time on a shared 2-core machine), {cpu / 60:.1f} min of CPU time.",
        "",
    ]
    if reasons:
        lines += ["## Failures", ""]
        lines += [f"{i}. {text[2:]}" for i, text in enumerate(reasons, start=1)]
        lines.append("")
    if notes:
        lines += [
            "## Exported by TorchScript",
            "",
            "torch's dynamo exporter fails on these; hcc exported them with the TorchScript "
            "exporter, and every other column checks that export. torch's error:",
            "",
            *notes,
            "",
        ]
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    os.replace(path + ".tmp", path)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated architectures")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds per architecture")
    parser.add_argument("--jobs", type=int, default=1, help="architectures at a time")
    parser.add_argument("--out", default=os.path.join(_root(), "docs", "zoo.md"))
    parser.add_argument("--json", default="", help="also write the raw results here")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the results in --json of the architectures not run now (rerun a few rows)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(args.child, args.child_out)
        return 0
    names = [n for n in args.only.split(",") if n] or list(ARCHITECTURES)
    unknown = [n for n in names if n not in ARCHITECTURES]
    if unknown:
        parser.error(f"unknown architectures: {', '.join(unknown)}")
    from concurrent.futures import ThreadPoolExecutor

    start = time.perf_counter()
    results: dict[str, dict] = {}
    if args.keep and args.json and os.path.exists(args.json):
        with open(args.json) as f:
            kept = json.load(f)
        results = {name: row for name, row in kept.items() if name in ARCHITECTURES}
    with tempfile.TemporaryDirectory(prefix="hcc-zoo-") as folder:
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = {name: pool.submit(run_one, name, args.timeout, folder) for name in names}
            for name in names:
                results[name] = futures[name].result()
                row = results[name]
                marks = "".join(
                    {"ok": "✓", "fail": "✗", "n/a": "-"}[row.get(k, {"status": "fail"})["status"]]
                    for k in CAPABILITIES
                )
                print(f"{name:14} {marks} {row['seconds']:6.1f} s", flush=True)
    wall = time.perf_counter() - start
    write_table(results, args.out, args.jobs)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print(f"{len(names)} architectures in {wall / 60:.1f} min; table in {args.out}")
    return 0


def _root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


if __name__ == "__main__":
    sys.exit(main())
