"""Decoder LLMs for deployment: embedding, per-layer prefill and decode blocks with a KV cache,
and a head, as separate ONNX graphs sharing one copy of the weights (see ``recipe.py``), plus a
reference runtime that drives them (``runtime.py``)."""
