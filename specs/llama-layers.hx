# A small LLaMA-style decoder from its config, split per decoder layer.
param layers: int = 2

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

inputs {
  input_ids: int64[batch, seq] = [2, 16]
  attention_mask: int64[batch, seq] = [2, 16]
}

pipeline {
  remove-dead-code
  split(by = "*/LlamaDecoderLayer.*")
  internalize-constants
}

output "build/llama-${layers}-layers" {
  reports = [hierarchy]
  validate = true
}
