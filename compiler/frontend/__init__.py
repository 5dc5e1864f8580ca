"""Front ends: turn a PyTorch module or an ONNX file into hcc IR with module scopes."""
