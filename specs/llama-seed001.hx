# Seed 001's deployment interface for a small LLaMA-style decoder: embedding, block_<i> and
# block_cache_<i> per layer, lm_head ending in top-1, at opset 15, with the runtime's choices:
# the cache as [batch, positions, kv_heads, head_dim], an additive float attention mask
# (0 / -10000), decode returning the whole updated cache, and seed 001's tensor names
# (input_states, history_k, past_k, ...; see docs/llm.md). Drive the pieces with
# hcc.llm.runtime.Runner.
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
  cache_layout = bshd
  attention_mask = additive
  decode_cache = whole
  names {
    preset = seed001
  }
}

output "build/llama-seed001"
