# GPT-2 from its config, split per layer: embeddings go with the first block, the head with
# the last (seed 000). More layers: hcc build specs/gpt2-layers.hx -D layers=12
param layers: int = 4

model gpt2 from config "gpt2" {
  task = "causal-lm"
  config {
    n_layer = $layers
  }
}

inputs {
  input_ids: int64[batch, seq] = [2, 16]
}

pipeline {
  remove-dead-code
  split(by = "*/GPT2Block.*", embeddings = first, head = last)
  internalize-constants
}

output "build/gpt2-${layers}-layers" {
  reports = [hierarchy, html]
  validate = true
}
