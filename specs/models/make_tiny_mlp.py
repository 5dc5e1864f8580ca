"""Write ``tiny_mlp.onnx``: a small, tagged two-block MLP for the README and the tests.

The model is what hcc would make of this module (without torch, so the file can be rebuilt
anywhere)::

    class MLPBlock(nn.Module):            # fc: Linear, act: ReLU
        def forward(self, x): return self.act(self.fc(x))

    class TinyMLP(nn.Module):             # layers: ModuleList of 2 MLPBlock, head: Linear
        def forward(self, x): return self.head(self.layers[1](self.layers[0](x)))

Every node carries ``hcc.tag``, ``hcc.module`` and ``namespace`` metadata, and the model carries
the module tree as ``hcc.hierarchy``. On purpose, it also holds one node whose result nobody
reads and one initializer nobody uses, so that ``remove-dead-code`` has something to show.

Weights come from integer arithmetic, not a random generator, so the bytes are the same on
every machine: ``python specs/models/make_tiny_mlp.py`` rewrites the committed file exactly.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from hcc.ir import Scope, namespace_of

WIDTHS = (8, 16, 16, 4)  # input, block 0, block 1, head
MODULE = "tiny_mlp"


def _weights(shape: tuple[int, ...], salt: int) -> np.ndarray:
    index = np.arange(int(np.prod(shape)), dtype=np.int64)
    return (((index * 37 + salt * 11) % 17 - 8) / 32.0).astype(np.float32).reshape(shape)


def _scopes() -> dict[str, Scope]:
    root = Scope.root("TinyMLP", f"{MODULE}.TinyMLP")
    scopes = {"": root}
    for i in range(2):
        scopes[f"layers.{i}"] = root.child(f"layers.{i}", f"MLPBlock.{i}", f"{MODULE}.MLPBlock")
    return scopes


def _tagged(node: onnx.NodeProto, scope: Scope) -> onnx.NodeProto:
    for key, value in (("hcc.tag", scope.tag), ("hcc.module", scope.module_path),
                       ("namespace", namespace_of(scope))):
        entry = node.metadata_props.add()
        entry.key, entry.value = key, value
    return node


def _hierarchy() -> str:
    linear, relu = "torch.nn.modules.linear.Linear", "torch.nn.modules.activation.ReLU"

    def leaf(path: str, qualified: str, tag: str, parameters: int) -> dict:
        return {"path": path, "class": qualified.rsplit(".", 1)[-1], "qualified_class": qualified,
                "tag": tag, "builtin": True, "parameters": parameters, "children": []}

    blocks = []
    for i in range(2):
        tag = f"/TinyMLP/MLPBlock.{i}"
        fc = WIDTHS[i] * WIDTHS[i + 1] + WIDTHS[i + 1]
        blocks.append({
            "path": f"layers.{i}", "class": "MLPBlock", "qualified_class": f"{MODULE}.MLPBlock",
            "tag": tag, "builtin": False, "parameters": fc,
            "children": [leaf(f"layers.{i}.fc", linear, tag, fc), leaf(f"layers.{i}.act", relu, tag, 0)],
        })
    head = WIDTHS[2] * WIDTHS[3] + WIDTHS[3]
    layers = {"path": "layers", "class": "ModuleList",
              "qualified_class": "torch.nn.modules.container.ModuleList", "tag": "/TinyMLP",
              "builtin": True, "parameters": sum(b["parameters"] for b in blocks), "children": blocks}
    tree = {"path": "", "class": "TinyMLP", "qualified_class": f"{MODULE}.TinyMLP",
            "tag": "/TinyMLP", "builtin": False, "parameters": layers["parameters"] + head,
            "children": [layers, leaf("head", linear, "/TinyMLP", head)]}
    return json.dumps(tree, separators=(",", ":"))


def make_model() -> onnx.ModelProto:
    scopes = _scopes()
    nodes, initializers = [], []
    previous = "x"
    for i in range(2):
        path, scope = f"layers.{i}", scopes[f"layers.{i}"]
        weight, bias = f"{path}.fc.weight", f"{path}.fc.bias"
        initializers += [
            numpy_helper.from_array(_weights((WIDTHS[i + 1], WIDTHS[i]), 2 * i), weight),
            numpy_helper.from_array(_weights((WIDTHS[i + 1],), 2 * i + 1), bias),
        ]
        hidden, activated = f"/{path}/fc/Gemm_output_0", f"/{path}/act/Relu_output_0"
        nodes.append(_tagged(helper.make_node("Gemm", [previous, weight, bias], [hidden],
                                              name=f"/{path}/fc/Gemm", transB=1), scope))
        nodes.append(_tagged(helper.make_node("Relu", [hidden], [activated],
                                              name=f"/{path}/act/Relu"), scope))
        previous = activated
    initializers += [
        numpy_helper.from_array(_weights((WIDTHS[3], WIDTHS[2]), 4), "head.weight"),
        numpy_helper.from_array(_weights((WIDTHS[3],), 5), "head.bias"),
        numpy_helper.from_array(_weights((WIDTHS[3],), 6), "unused.bias"),  # nobody reads it
    ]
    nodes.append(_tagged(helper.make_node("Gemm", [previous, "head.weight", "head.bias"], ["y"],
                                          name="/head/Gemm", transB=1), scopes[""]))
    # A leftover shape computation whose result nobody reads.
    nodes.append(_tagged(helper.make_node("Shape", ["x"], ["/Shape_output_0"], name="/Shape"),
                         scopes[""]))
    graph = helper.make_graph(
        nodes, "tiny_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", WIDTHS[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", WIDTHS[3]])],
        initializers,
    )
    model = helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 18)],
                              producer_name="hcc specs/models/make_tiny_mlp.py")
    helper.set_model_props(model, {"hcc.hierarchy": _hierarchy()})
    onnx.checker.check_model(model, full_check=True)
    return model


def main(argv: list[str]) -> int:
    target = Path(argv[0]) if argv else Path(__file__).with_name("tiny_mlp.onnx")
    target.write_bytes(make_model().SerializeToString())
    print(f"wrote {target} ({target.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
