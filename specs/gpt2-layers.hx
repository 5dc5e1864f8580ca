# GPT-2 from its config, tagged per module. Layers: hcc build specs/gpt2-layers.hx -D layers=12
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
}

output "build/gpt2-${layers}-layers" {
  reports = [hierarchy]
}
