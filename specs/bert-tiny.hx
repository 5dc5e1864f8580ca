# A small BERT (seed 003's shape) from its config: random seeded weights, fully offline.
# Build it with:  hcc build specs/bert-tiny.hx
model bert from config "bert" {
  seed = 0
  config {
    num_hidden_layers = 2
    hidden_size = 128
    num_attention_heads = 2
    intermediate_size = 512
  }
}

inputs {
  input_ids: int64[batch, seq] = [2, 16]
  attention_mask: int64[batch, seq] = [2, 16]
}

pipeline {
  remove-dead-code
}

output "build/bert-tiny" {
  reports = [hierarchy]
}
