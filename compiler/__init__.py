"""hcc: ONNX graph surgery that keeps every node's nn.Module scope."""

__version__ = "0.1.0"
