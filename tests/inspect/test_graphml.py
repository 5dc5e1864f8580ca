"""GraphML for yEd and back: the rebuilt ONNX model is the same model, bit for bit in ORT."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import networkx as nx
import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import hcc.ir as ir
from hcc.cli import main
from hcc.inspect.graphml import NS, NS_Y, write_graphml
from hcc.inspect.graphml_import import read_graphml


@pytest.fixture(scope="module", params=["bert", "gpt2", "llama"])
def round_trip(request, exported, tmp_path_factory):
    """(original path, GraphML path, rebuilt path) for one model, through the command line."""
    source = exported(request.param)
    folder = tmp_path_factory.mktemp(f"graphml-{request.param}")
    graphml = folder / f"{request.param}.graphml"
    rebuilt = folder / "rebuilt" / f"{request.param}.onnx"
    assert main(["graphml", str(source), "-o", str(graphml)]) == 0
    assert main(["import-graphml", str(graphml), "-o", str(rebuilt)]) == 0
    return source, graphml, rebuilt


def _meta(entries) -> dict[str, str]:
    return {p.key: p.value for p in entries}


def test_rebuilt_model_gives_bit_identical_outputs(round_trip, run_ort, make_feeds):
    source, _, rebuilt = round_trip
    feeds = make_feeds(source)
    for want, got in zip(run_ort(source, feeds), run_ort(rebuilt, feeds), strict=True):
        assert want.dtype == got.dtype and want.shape == got.shape
        assert want.tobytes() == got.tobytes()


def test_rebuilt_model_has_the_same_nodes_and_tags(round_trip):
    source, _, rebuilt = round_trip
    a = onnx.load(str(source), load_external_data=False).graph
    b = onnx.load(str(rebuilt), load_external_data=False).graph
    assert len(a.node) == len(b.node)
    for x, y in zip(a.node, b.node):
        # Name, op, inputs, outputs, attributes and metadata (hcc.tag, hcc.module, namespace).
        assert x == y, x.name
    assert a.input == b.input and a.output == b.output and a.value_info == b.value_info


def test_rebuilt_model_has_the_same_initializers(round_trip):
    source, _, rebuilt = round_trip
    a = onnx.load(str(source)).graph.initializer
    b = onnx.load(str(rebuilt)).graph.initializer
    assert [t.name for t in a] == [t.name for t in b]
    for x, y in zip(a, b):
        assert (x.data_type, list(x.dims)) == (y.data_type, list(y.dims))
        assert numpy_helper.to_array(x).tobytes() == numpy_helper.to_array(y).tobytes()
        assert _meta(x.metadata_props) == _meta(y.metadata_props)  # hcc.scopes


def test_rebuilt_model_keeps_the_model_metadata(round_trip):
    source, _, rebuilt = round_trip
    a, b = (onnx.load(str(p), load_external_data=False) for p in (source, rebuilt))
    assert _meta(a.metadata_props) == _meta(b.metadata_props)  # hcc.hierarchy
    assert a.opset_import == b.opset_import and a.ir_version == b.ir_version
    onnx.checker.check_model(str(rebuilt), full_check=True)


def test_networkx_reads_every_op_and_module_group(round_trip):
    source, graphml, _ = round_trip
    model = ir.load(str(source))
    graph = nx.read_graphml(str(graphml))
    kinds: dict[str, int] = {}
    for _, data in graph.nodes(data=True):
        kinds[data["kind"]] = kinds.get(data["kind"], 0) + 1
    scopes = {level for n in model.graph for level in n.scope.ancestors(include_self=True)}
    assert kinds["op"] == len(model.graph)
    assert kinds["module"] == len(scopes)
    assert kinds["input"] == len(model.graph.inputs)
    assert kinds["output"] == len(model.graph.outputs)
    ops = {d["name"]: d for _, d in graph.nodes(data=True) if d["kind"] == "op"}
    for node in model.graph:
        assert ops[node.name]["op_type"] == node.op_type
        assert ops[node.name]["hierarchy_tag"] == node.scope.tag
        assert ops[node.name]["label"] == node.op_type  # yEd's label, read by networkx
    # Every tensor between two ops is an edge.
    assert graph.number_of_edges() >= len(model.graph) - 1


def test_groups_follow_yeds_nesting_conventions(round_trip):
    _, graphml, _ = round_trip
    root = ET.parse(graphml).getroot()
    keys = {k.get("id"): k for k in root.findall(f"{{{NS}}}key")}
    assert any(k.get("yfiles.type") == "nodegraphics" for k in keys.values())
    groups = [n for n in root.iter(f"{{{NS}}}node") if n.get("yfiles.foldertype") == "group"]
    assert groups
    for group in groups:
        inner = group.find(f"{{{NS}}}graph")
        assert inner is not None and inner.get("id") == group.get("id") + ":"
        # yEd's nested ids: a child of n0 is n0::nK.
        for child in inner.findall(f"{{{NS}}}node"):
            assert child.get("id").startswith(group.get("id") + "::")
        assert group.find(f"{{{NS}}}data/{{{NS_Y}}}ProxyAutoBoundsNode") is not None
    # A layer's group sits inside its parent module's group, as deep as its scope.
    deepest = max(groups, key=lambda g: g.get("id").count("::"))
    assert deepest.get("id").count("::") >= 2


def test_moving_nodes_in_the_file_does_not_change_the_model(
    exported, tmp_path, run_ort, make_feeds
):
    # A viewer may rewrite the file in another order; import follows the recorded op order.
    source = exported("bert")
    graphml, _ = write_graphml(ir.load(str(source)), str(tmp_path / "m.graphml"))
    tree = ET.parse(graphml)
    top = tree.getroot().find(f"{{{NS}}}graph")
    nodes = top.findall(f"{{{NS}}}node")
    for node in nodes:
        top.remove(node)
    for node in reversed(nodes):
        top.insert(0, node)
    tree.write(graphml, encoding="utf-8", xml_declaration=True)
    model = read_graphml(graphml, check_digest=True)
    assert [n.name for n in model.graph] == [n.name for n in ir.load(str(source)).graph]


# -- bad input ------------------------------------------------------------------------------------


def _error(capsys, *argv) -> str:
    assert main(list(argv)) == 2
    return capsys.readouterr().err


def test_not_an_onnx_file_is_refused(tmp_path, capsys):
    bogus = tmp_path / "notes.onnx"
    bogus.write_text("these are notes, not a model\n")
    err = _error(capsys, "graphml", str(bogus), "-o", str(tmp_path / "x.graphml"))
    assert "not a valid ONNX model" in err
    assert not (tmp_path / "x.graphml").exists() and not (tmp_path / "x.onnxdata").exists()


def test_graphml_given_where_onnx_is_expected_gets_a_hint(tiny_mlp, tmp_path, capsys):
    graphml = tmp_path / "m.graphml"
    assert main(["graphml", str(tiny_mlp), "-o", str(graphml)]) == 0
    capsys.readouterr()
    err = _error(capsys, "analyze", str(graphml))
    assert "is GraphML, not ONNX" in err and "import-graphml" in err


def test_graphml_without_its_sidecar_is_refused(tiny_mlp, tmp_path, capsys):
    graphml = tmp_path / "m.graphml"
    write_graphml(ir.load(str(tiny_mlp)), str(graphml))
    (tmp_path / "m.onnxdata").unlink()
    err = _error(capsys, "import-graphml", str(graphml), "-o", str(tmp_path / "out.onnx"))
    assert "the weights sidecar 'm.onnxdata' is missing" in err
    assert not (tmp_path / "out.onnx").exists()


def test_sidecar_of_another_export_is_refused(tiny_mlp, exported, tmp_path, capsys):
    graphml = tmp_path / "m.graphml"
    write_graphml(ir.load(str(tiny_mlp)), str(graphml))
    other = tmp_path / "other" / "o.graphml"
    write_graphml(ir.load(str(exported("llama"))), str(other))
    (tmp_path / "m.onnxdata").write_bytes((tmp_path / "other" / "o.onnxdata").read_bytes())
    err = _error(capsys, "import-graphml", str(graphml), "-o", str(tmp_path / "out.onnx"))
    assert "belongs to another export" in err


def test_sidecar_with_other_bytes_of_the_same_size_is_refused(tiny_mlp, tmp_path, capsys):
    graphml = tmp_path / "m.graphml"
    write_graphml(ir.load(str(tiny_mlp)), str(graphml))
    data = bytearray((tmp_path / "m.onnxdata").read_bytes())
    data[0] ^= 0xFF
    (tmp_path / "m.onnxdata").write_bytes(bytes(data))
    err = _error(capsys, "import-graphml", str(graphml), "-o", str(tmp_path / "out.onnx"))
    assert "does not match this GraphML (sha256 differs)" in err


def test_graphml_not_written_by_hcc_is_refused(tmp_path, capsys):
    foreign = tmp_path / "foreign.graphml"
    nx.write_graphml(nx.path_graph(3, create_using=nx.DiGraph), str(foreign))
    err = _error(capsys, "import-graphml", str(foreign), "-o", str(tmp_path / "out.onnx"))
    assert "not written by hcc" in err


def test_an_onnx_file_given_to_import_graphml_is_refused(tiny_mlp, tmp_path, capsys):
    err = _error(capsys, "import-graphml", str(tiny_mlp), "-o", str(tmp_path / "out.onnx"))
    assert "not a GraphML file" in err


def test_import_refuses_to_overwrite_its_sidecar(tiny_mlp, tmp_path, capsys):
    graphml = tmp_path / "m.graphml"
    write_graphml(ir.load(str(tiny_mlp)), str(graphml))
    err = _error(capsys, "import-graphml", str(graphml), "-o", str(tmp_path / "m.onnxdata"))
    assert "which this command reads" in err


def test_tiny_model_round_trips_through_python(tiny_mlp, tmp_path, run_ort):
    graphml, sidecar = write_graphml(ir.load(str(tiny_mlp)), str(tmp_path / "t.graphml"))
    assert sidecar.endswith("t.onnxdata")
    rebuilt = tmp_path / "t.onnx"
    # The rebuilt tensors read from the sidecar: save names its own data file.
    ir.save(read_graphml(graphml), str(rebuilt), external_data="t.onnx.data")
    x = {"x": np.arange(16, dtype=np.float32).reshape(2, 8)}
    assert run_ort(tiny_mlp, x)[0].tobytes() == run_ort(rebuilt, x)[0].tobytes()


def test_subgraphs_functions_and_constant_attributes_round_trip(tmp_path, run_ort):
    # Written with onnx itself: an If with two bodies reading an outer value, a Constant with
    # a tensor attribute, a string attribute, and a call of a model-local function.
    from onnx import TensorProto, helper

    f32 = TensorProto.FLOAT
    scale = helper.make_tensor("scale", f32, [2], [2.0, 3.0])
    then_body = helper.make_graph(
        [helper.make_node("Mul", ["x", "scale"], ["t"])],
        "then",
        [],
        [helper.make_tensor_value_info("t", f32, [2])],
    )
    else_body = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["e"])],
        "else",
        [],
        [helper.make_tensor_value_info("e", f32, [2])],
    )
    square = helper.make_function(
        "local",
        "Square",
        ["a"],
        ["b"],
        [helper.make_node("Mul", ["a", "a"], ["b"])],
        [helper.make_opsetid("", 18)],
    )
    nodes = [
        helper.make_node(
            "Constant",
            [],
            ["c"],
            name="const",
            value=helper.make_tensor("v", f32, [2], [1.0, -1.0]),
        ),
        helper.make_node(
            "If", ["cond"], ["y0"], name="branch", then_branch=then_body, else_branch=else_body
        ),
        helper.make_node("Add", ["y0", "c"], ["y1"], name="add"),
        helper.make_node("Square", ["y1"], ["y"], name="square", domain="local"),
    ]
    for node, tag, module in zip(
        nodes, ["/M", "/M/B.0", "/M/B.0", "/M/B.1"], ["", "b.0", "b.0", "b.1"]
    ):
        node.metadata_props.add(key="hcc.tag", value=tag)
        node.metadata_props.add(key="hcc.module", value=module)
    graph = helper.make_graph(
        nodes,
        "g",
        [
            helper.make_tensor_value_info("x", f32, [2]),
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
        ],
        [helper.make_tensor_value_info("y", f32, [2])],
        initializer=[scale],
    )
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("local", 1)],
        functions=[square],
        ir_version=10,
    )
    onnx.checker.check_model(proto)
    source = tmp_path / "sub.onnx"
    onnx.save(proto, str(source))

    graphml, _ = write_graphml(ir.load(str(source)), str(tmp_path / "sub.graphml"))
    rebuilt = tmp_path / "rebuilt.onnx"
    ir.save(read_graphml(graphml), str(rebuilt), external_data="rebuilt.onnx.data")
    again = onnx.load(str(rebuilt))
    assert [_plain(n) for n in again.graph.node] == [_plain(n) for n in proto.graph.node]
    assert list(again.functions) == list(proto.functions)
    for cond in (True, False):
        feeds = {"x": np.array([1.5, -2.0], np.float32), "cond": np.array(cond)}
        assert run_ort(source, feeds)[0].tobytes() == run_ort(rebuilt, feeds)[0].tobytes()


def _plain(node: onnx.NodeProto) -> tuple:
    """A node with tensor attributes as values: float_data and raw_data hold the same tensor."""
    attributes = []
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.TENSOR:
            array = numpy_helper.to_array(attr.t)
            attributes.append((attr.name, attr.t.name, array.dtype.str, array.tobytes()))
        else:
            attributes.append((attr.name, attr.SerializeToString()))
    return (
        node.name,
        node.op_type,
        node.domain,
        list(node.input),
        list(node.output),
        attributes,
        _meta(node.metadata_props),
    )
