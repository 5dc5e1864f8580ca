# A small LLaMA-style decoder cut for an accelerator runtime (seed 001): embedding, one prefill
# block and one decode block per layer with a KV cache, and an lm_head ending in top-k, at
# opset 15. Drive the pieces with hcc.llm.runtime.Runner (see docs/llm.md).
param layers: int = 2
param max_len: int = 64

model llama from config "llama" {
  task = "causal-lm"
  config {
    num_hidden_layers = $layers
    hidden_size = 64
    intermediate_size = 128
    num_attention_heads = 4
    num_key_value_heads = 2
    vocab_size = 1000
    max_position_embeddings = 128
  }
}

export {
  recipe = kv-cache
  max_len = $max_len
  shapes = static
  head = topk
  opset = 15
}

output "build/llama-kv-cache"
