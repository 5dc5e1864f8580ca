"""Time to produce all KV-cache pieces next to one plain dynamo export of the same model.

Both run in this process on the same seeded model (built once); the plain export writes one
ONNX file with external data, hcc writes embedding, block_i, block_cache_i, lm_head and the
manifest. Also prints the weight bytes on disk against the model's parameter bytes.

    python benchmarks/llm.py [--model llama|gpt2] [--layers 4] [--static]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
import time
import warnings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="llama", choices=["llama", "gpt2"])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--static", action="store_true")
    parser.add_argument("--max-len", type=int, default=128)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    import torch

    from hcc.frontend import sources
    from hcc.llm.recipe import LLMOptions, build_pieces

    if args.model == "gpt2":
        overrides = {"n_layer": args.layers}
    else:
        overrides = dict(num_hidden_layers=args.layers, hidden_size=512, intermediate_size=1376,
                         num_attention_heads=8, num_key_value_heads=4, vocab_size=32000)
    model = sources.from_config(args.model, overrides, task="causal-lm", seed=0)
    params = sum(p.numel() * p.element_size() for p in {id(p): p for p in model.parameters()}.values())
    with tempfile.TemporaryDirectory() as folder:
        ids = torch.ones(2, 16, dtype=torch.long)
        batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq")
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
            model.config.use_cache = False
            program = torch.onnx.export(model, (ids,), dynamo=True,
                                        dynamic_shapes={"input_ids": {0: batch, 1: seq}})
            program.save(os.path.join(folder, "plain.onnx"), external_data=True)
        plain = time.perf_counter() - start

        start = time.perf_counter()
        paths = build_pieces(model, os.path.join(folder, "pieces"),
                             LLMOptions(max_len=args.max_len, static=args.static), name="m")
        pieces = time.perf_counter() - start
        data = sum(os.path.getsize(p) for p in paths if p.endswith(".data"))
    count = len([p for p in paths if p.endswith(".onnx")])
    print(f"model: {args.model}, {args.layers} layers, {params / 1e6:.1f} MB of parameters")
    print(f"plain dynamo export (one graph):       {plain:7.2f} s")
    print(f"hcc kv-cache pieces ({count} graphs{', static' if args.static else ''}): {pieces:7.2f} s"
          f"  ({pieces / plain:.2f}x)")
    print(f"weights on disk: {data / 1e6:.1f} MB = {data / params:.3f}x the parameter bytes "
          "(goal <= 1.05x)")


if __name__ == "__main__":
    main()
