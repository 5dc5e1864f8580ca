"""The tagging passes: scopes from exporter records, helpers by consumers, full coverage."""

from __future__ import annotations

import json

import numpy as np
import pytest

import hcc.ir as ir
from hcc.ir import Attr, Graph, Model, Node, Scope, Value
from hcc.passes._tag_rules import class_segment, scope_from_stack, scopes_by_module_path
from hcc.passes.propagate_tags import PropagateTagsPass
from hcc.passes.recover_scopes import RecoverScopesPass, module_stack, scope_from_node_name
from hcc.passes.tag_attributes import ATTRIBUTES, TagAttributesPass
from hcc.passes.tag_auxiliary import TagAuxiliaryPass

T = "transformers.models.bert.modeling_bert."
ROOT = Scope.root("BertModel")
ENCODER = ROOT.child("encoder", "BertEncoder")
LAYER0 = ENCODER.child("encoder.layer.0", "BertLayer.0")
LAYER1 = ENCODER.child("encoder.layer.1", "BertLayer.1")


def torch_record(stack: list[tuple[str, str]], op: str = "aten.add.Tensor") -> dict[str, str]:
    """Metadata as the dynamo exporter writes it for a node run inside ``stack``."""
    return {
        "pkg.torch.onnx.class_hierarchy": repr([c for _, c in stack] + [op]),
        "pkg.torch.onnx.name_scopes": repr([p for p, _ in stack] + ["add_1"]),
    }


def model_of(graph: Graph) -> Model:
    return Model(graph, opset_imports={"": 20})


# -- tag rules -------------------------------------------------------------------------------


def test_list_elements_are_written_class_dot_index():
    assert class_segment(T + "BertLayer", "encoder.layer.3") == "BertLayer.3"
    assert class_segment(T + "BertEncoder", "encoder") == "BertEncoder"


def test_torch_nn_builtins_are_skipped_and_their_ops_go_to_the_owner():
    stack = [
        ("", T + "BertModel"),
        ("encoder", T + "BertEncoder"),
        ("encoder.layer.0", T + "BertLayer"),
        ("encoder.layer.0.output", T + "BertOutput"),
        ("encoder.layer.0.output.dense", "torch.nn.modules.linear.Linear"),
    ]
    scope = scope_from_stack(stack)
    assert scope.tag == "/BertModel/BertEncoder/BertLayer.0/BertOutput"
    assert scope.module_path == "encoder.layer.0.output"


def test_root_stays_even_when_it_is_a_torch_nn_class():
    scope = scope_from_stack([("", "torch.nn.modules.container.Sequential")])
    assert scope.tag == "/Sequential"


def test_builtin_container_elements_keep_their_index():
    stack = [
        ("", "vision.ResNet"),
        ("layer1", "torch.nn.modules.container.Sequential"),
        ("layer1.0", "vision.Bottleneck"),
    ]
    assert scope_from_stack(stack).tag == "/ResNet/Bottleneck.0"


# -- recover-scopes ----------------------------------------------------------------------------


def test_recover_scopes_reads_the_dynamo_record():
    x = Value("x")
    node = Node(
        "",
        "Add",
        [x, x],
        name="node_add_1",
        metadata_props=torch_record([("", T + "BertModel"), ("encoder", T + "BertEncoder")]),
    )
    graph = Graph([x], [node.outputs[0]], [node])
    result = RecoverScopesPass().run(model_of(graph))
    assert result.changed
    assert node.scope.tag == "/BertModel/BertEncoder"
    assert node.metadata_props["hcc.tag"] == "/BertModel/BertEncoder"
    assert node.metadata_props["hcc.module"] == "encoder"


def test_recover_scopes_leaves_the_empty_stack_hook_unknown():
    record = {
        "pkg.torch.onnx.class_hierarchy": "['_empty_nn_module_stack_from_metadata_hook', 'aten.sym_size.int']",
        "pkg.torch.onnx.name_scopes": "['_empty_nn_module_stack_from_metadata_hook', 'sym_size_int_14']",
    }
    node = Node("", "Shape", [Value("x")], metadata_props=record)
    assert module_stack(node) is None


def test_recover_scopes_does_not_read_hcc_namespace_as_a_torch_record():
    """hcc's namespace ends at the module, torch's at the op: reading ours as theirs would drop
    the innermost module."""
    node = Node("", "Add", [Value("x")], scope=LAYER0)
    assert "namespace" in node.metadata_props
    assert module_stack(node) is None


def test_recover_scopes_falls_back_to_the_namespace():
    node = Node(
        "",
        "Add",
        [Value("x")],
        metadata_props={
            "namespace": f": {T}BertModel/encoder: {T}BertEncoder/add_1: aten.add.Tensor"
        },
    )
    assert module_stack(node) == [("", T + "BertModel"), ("encoder", T + "BertEncoder")]


def test_recover_scopes_reads_torchscript_node_names_through_the_module_tree():
    tree = {
        "path": "",
        "qualified_class": T + "BertModel",
        "children": [
            {
                "path": "encoder",
                "qualified_class": T + "BertEncoder",
                "children": [
                    {
                        "path": "encoder.layer",
                        "qualified_class": "torch.nn.modules.container.ModuleList",
                        "children": [
                            {
                                "path": "encoder.layer.0",
                                "qualified_class": T + "BertLayer",
                                "children": [],
                            }
                        ],
                    }
                ],
            }
        ],
    }
    by_path = scopes_by_module_path(tree)
    assert scope_from_node_name("/encoder/layer.0/attention/self/MatMul", by_path) == LAYER0
    assert scope_from_node_name("/Constant_3", by_path) == ROOT
    assert scope_from_node_name("node_add", by_path) is None


def test_recover_scopes_reads_module_paths_from_node_names_without_a_module_tree():
    """A file exported without hcc has no module tree: the names alone give the module paths,
    each level's name standing in for its unknown class."""
    x = Value("x")
    matmul = Node("", "MatMul", [x, x], name="/model/layers.0/self_attn/q_proj/MatMul")
    second = Node("", "MatMul", [x, x], name="/model/layers.1/self_attn/q_proj/MatMul")
    top = Node("", "Shape", [x], name="/Shape_3")
    anonymous = Node("", "Identity", [x], name="Identity_12")
    nodes = [top, matmul, second, anonymous]
    graph = Graph([x], [matmul.outputs[0], second.outputs[0]], nodes, name="main_graph")
    assert RecoverScopesPass().run(model_of(graph)).changed
    assert matmul.scope.module_path == "model.layers.0.self_attn.q_proj"
    assert matmul.scope.tag == "/main_graph/model/layers.0/self_attn/q_proj"
    assert matmul.scope.qualified_class is None
    layer = matmul.scope.parent.parent
    assert (layer.module_path, layer.class_name) == ("model.layers.0", "layers.0")
    assert top.scope == matmul.scope.root_scope
    assert anonymous.scope.is_unknown  # tag-auxiliary's job
    # The stored tag and module path read back as the same scope.
    assert Scope.from_tag(matmul.scope.tag, matmul.scope.module_path) == matmul.scope


def test_a_lone_numbered_name_adds_no_level_of_its_own():
    """A number alone under a level named like it (a weight norm's ``weight/weight.0``) is the
    one child of a container that runs it; its nodes take the container's scope, so that no
    per-layer pattern takes it for a layer."""
    x = Value("x")
    norm = Node("", "Div", [x, x], name="/conv/weight/weight.0/Div")
    conv = Node("", "Conv", [x, norm.outputs[0]], name="/conv/Conv")
    layers = [Node("", "Relu", [x], name=f"/layers.{i}/Relu") for i in (0, 1)]
    # A list never called is no level: its one element is still a layer.
    group = Node("", "Neg", [x], name="/groups.0/inner/Neg")
    nodes = [norm, conv, *layers, group]
    outputs = [conv.outputs[0], group.outputs[0]] + [n.outputs[0] for n in layers]
    graph = Graph([x], outputs, nodes, name="g")
    RecoverScopesPass().run(model_of(graph))
    assert (norm.scope.module_path, norm.scope.tag) == ("conv.weight", "/g/conv/weight")
    assert [n.scope.tag for n in layers] == ["/g/layers.0", "/g/layers.1"]
    assert group.scope.tag == "/g/groups.0/inner"


def test_scopes_from_names_alone_share_the_root_of_scopes_already_known():
    x = Value("x")
    known = Node("", "Neg", [x], scope=LAYER0)
    named = Node("", "Relu", [x], name="/encoder/layer.1/Relu")
    first = Node("", "Relu", [x], name="/encoder/layer.0/Relu")
    graph = Graph([x], [named.outputs[0], first.outputs[0]], [known, first, named])
    RecoverScopesPass().run(model_of(graph))
    assert named.scope.root_scope == ROOT
    assert named.scope.module_path == "encoder.layer.1"


def test_a_stack_that_skips_a_level_gets_the_scope_the_module_tree_gives():
    """A module whose forward hands its inputs straight to a child may be missing from the
    exporter's stack; the tag follows the module tree, as for every other node."""
    tree = {
        "path": "",
        "qualified_class": T + "BertModel",
        "children": [
            {
                "path": "encoder",
                "qualified_class": T + "BertEncoder",
                "children": [
                    {"path": "encoder.layer.0", "qualified_class": T + "BertLayer", "children": []}
                ],
            }
        ],
    }
    x = Value("x")
    node = Node(
        "",
        "Add",
        [x, x],
        metadata_props=torch_record([("", T + "BertModel"), ("encoder.layer.0", T + "BertLayer")]),
    )
    graph = Graph([x], [node.outputs[0]], [node])
    model = model_of(graph)
    model.metadata_props["hcc.hierarchy"] = json.dumps(tree)
    RecoverScopesPass().run(model)
    assert node.scope == LAYER0


def test_recover_scopes_keeps_existing_scopes_unless_asked():
    node = Node(
        "", "Add", [Value("x")], scope=LAYER1, metadata_props=torch_record([("", T + "BertModel")])
    )
    graph = Graph([], [node.outputs[0]], [node])
    assert not RecoverScopesPass().run(model_of(graph)).changed
    assert node.scope == LAYER1
    assert RecoverScopesPass(overwrite=True).run(model_of(graph)).changed
    assert node.scope == ROOT


# -- tag-auxiliary and propagate-tags ----------------------------------------------------------


def _helper_chain():
    """Shape -> Cast -> (layer 0 Reshape, layer 1 Reshape): helpers feeding two layers."""
    x = Value("x")
    shape = Node("", "Shape", [x], name="shape")
    cast = Node("", "Cast", [shape.outputs[0]], attributes=[Attr.int("to", 7)], name="cast")
    r0 = Node("", "Reshape", [x, cast.outputs[0]], scope=LAYER0, name="r0")
    r1 = Node("", "Reshape", [r0.outputs[0], cast.outputs[0]], scope=LAYER1, name="r1")
    graph = Graph([x], [r1.outputs[0]], [shape, cast, r0, r1])
    return graph, shape, cast


def test_helpers_take_the_common_scope_of_their_consumers():
    graph, shape, cast = _helper_chain()
    assert TagAuxiliaryPass().run(model_of(graph)).changed
    assert cast.scope == ENCODER
    assert shape.scope == ENCODER


def test_helper_feeding_one_layer_joins_that_layer():
    x = Value("x")
    const = Node("", "Constant", [], attributes=[Attr.tensor("value", ir.ArrayTensor([1]))])
    add = Node("", "Add", [x, const.outputs[0]], scope=LAYER0)
    graph = Graph([x], [add.outputs[0]], [const, add])
    TagAuxiliaryPass().run(model_of(graph))
    assert const.scope == LAYER0


def test_nodes_after_the_last_scoped_node_take_their_producers_scope():
    x = Value("x")
    a = Node("", "Relu", [x], scope=LAYER1)
    tail = Node("", "Identity", [a.outputs[0]])
    graph = Graph([x], [tail.outputs[0]], [a, tail])
    model = model_of(graph)
    assert not TagAuxiliaryPass().run(model).changed
    PropagateTagsPass().run(model)
    assert tail.scope == LAYER1


def test_nodes_with_no_neighbours_fall_back_to_the_root():
    x = Value("x")
    a = Node("", "Relu", [x], scope=LAYER1)
    lonely = Node("", "Constant", [], attributes=[Attr.tensor("value", ir.ArrayTensor([1.0]))])
    graph = Graph([x], [a.outputs[0], lonely.outputs[0]], [a, lonely])
    PropagateTagsPass().run(model_of(graph))
    assert lonely.scope == ROOT


def test_root_comes_from_the_module_tree_when_nothing_is_scoped():
    lonely = Node("", "Constant", [], attributes=[Attr.tensor("value", ir.ArrayTensor([1.0]))])
    model = model_of(Graph([], [lonely.outputs[0]], [lonely]))
    model.metadata_props["hcc.hierarchy"] = json.dumps(
        {"path": "", "class": "Net", "qualified_class": "pkg.Net", "tag": "/Net", "children": []}
    )
    PropagateTagsPass().run(model)
    assert lonely.scope.tag == "/Net"


def test_subgraph_nodes_take_the_scope_of_the_owning_node():
    cond = Value("cond")
    inner = Node("", "Constant", [], attributes=[Attr.tensor("value", ir.ArrayTensor([1.0]))])
    then_graph = Graph([], [inner.outputs[0]], [inner], name="then")
    other = Node("", "Constant", [], attributes=[Attr.tensor("value", ir.ArrayTensor([2.0]))])
    else_graph = Graph([], [other.outputs[0]], [other], name="else")
    if_node = Node(
        "",
        "If",
        [cond],
        attributes=[Attr.graph("then_branch", then_graph), Attr.graph("else_branch", else_graph)],
        scope=LAYER0,
    )
    then_graph.parent = if_node
    else_graph.parent = if_node
    graph = Graph([cond], [if_node.outputs[0]], [if_node])
    PropagateTagsPass().run(model_of(graph))
    assert inner.scope == LAYER0 and other.scope == LAYER0


def test_initializers_record_every_scope_that_reads_them():
    x = Value("x")
    weight = Value("w", const_value=ir.ArrayTensor([1.0, 2.0]))
    a = Node("", "Mul", [x, weight], scope=LAYER0)
    b = Node("", "Mul", [a.outputs[0], weight], scope=LAYER1)
    graph = Graph([x], [b.outputs[0]], [a, b], initializers=[weight])
    PropagateTagsPass().run(model_of(graph))
    assert json.loads(weight.const_value.metadata_props["hcc.scopes"]) == [LAYER0.tag, LAYER1.tag]


def test_a_node_several_scopes_read_records_them_and_keeps_its_scope():
    x = Value("x")
    table = Node("", "Cos", [x], scope=ENCODER)  # a RoPE-like table computed once
    a = Node("", "Mul", [x, table.outputs[0]], scope=LAYER0)
    b = Node("", "Mul", [a.outputs[0], table.outputs[0]], scope=LAYER1)
    graph = Graph([x], [b.outputs[0]], [table, a, b])
    PropagateTagsPass().run(model_of(graph))
    assert table.scope == ENCODER
    assert json.loads(table.metadata_props["hcc.scopes"]) == [LAYER0.tag, LAYER1.tag]
    assert "hcc.scopes" not in a.metadata_props  # one reader's scope: nothing to record
    from hcc.inspect.dag import op_metadata

    entries = [e for e in op_metadata(model_of(graph)).values() if e["op_type"] == "Cos"]
    assert entries[0]["tags"] == [ENCODER.tag]
    assert entries[0]["used_by"] == [LAYER0.tag, LAYER1.tag]


def test_a_node_read_by_one_scope_again_loses_its_record():
    x = Value("x")
    table = Node("", "Cos", [x], scope=ENCODER)
    table.metadata_props["hcc.scopes"] = json.dumps([LAYER0.tag, LAYER1.tag])  # stale
    a = Node("", "Mul", [x, table.outputs[0]], scope=LAYER0)
    graph = Graph([x], [a.outputs[0]], [table, a])
    PropagateTagsPass().run(model_of(graph))
    assert "hcc.scopes" not in table.metadata_props


def test_tagging_is_deterministic_and_idempotent():
    graph, shape, cast = _helper_chain()
    model = model_of(graph)
    TagAuxiliaryPass().run(model)
    PropagateTagsPass().run(model)
    before = [n.metadata_props.copy() for n in graph]
    assert not TagAuxiliaryPass().run(model).changed
    assert not PropagateTagsPass().run(model).changed
    assert [n.metadata_props for n in graph] == before


@pytest.mark.parametrize(
    "name", ["recover-scopes", "tag-auxiliary", "propagate-tags", "tag-attributes"]
)
def test_tagging_passes_are_registered(name):
    from hcc.passes._registry import registered_passes

    assert name in registered_passes()


# -- tag-attributes (non-standard, off by default) ---------------------------------------------


def _recorded_and_helper():
    """A node whose scope the exporter recorded, fed by a Constant that tagging inferred."""
    x = Value("x")
    one = ir.ArrayTensor(np.ones(1, dtype=np.float32))
    const = Node("", "Constant", [], attributes=[Attr.tensor("value", one)], name="c", scope=LAYER0)
    stack = [
        ("", T + "BertModel"),
        ("encoder", T + "BertEncoder"),
        ("encoder.layer.0", T + "BertLayer"),
    ]
    add = Node("", "Add", [x, const.outputs[0]], name="add", metadata_props=torch_record(stack))
    add.scope = LAYER0
    graph = Graph([x], [add.outputs[0]], [const, add])
    return model_of(graph), const, add


def _attribute_values(node: Node) -> dict:
    return {name: a.value for name, a in node.attributes.items() if name.startswith("hierarchy_")}


def test_tag_attributes_copy_the_tag_into_seed_002_attributes():
    model, const, add = _recorded_and_helper()
    assert TagAttributesPass().run(model).changed
    assert _attribute_values(add) == {
        "hierarchy_tag": LAYER0.tag,
        "hierarchy_path": LAYER0.tag,
        "hierarchy_tags": [LAYER0.tag],
        "hierarchy_count": 1,
        "hierarchy_method": "recorded",
        "hierarchy_module": "encoder.layer.0",
    }
    assert _attribute_values(const)["hierarchy_method"] == "inferred"
    assert const.attributes["value"].type == ir.AttrType.TENSOR  # the op's own attribute stays


def test_tag_attributes_call_torchscript_names_recorded_through_the_module_tree():
    x = Value("x")
    node = Node("", "Relu", [x], name="/encoder/Relu_1", scope=ENCODER)
    model = model_of(Graph([x], [node.outputs[0]], [node]))
    model.metadata_props["hcc.hierarchy"] = json.dumps(
        {
            "path": "",
            "qualified_class": T + "BertModel",
            "children": [{"path": "encoder", "qualified_class": T + "BertEncoder", "children": []}],
        }
    )
    TagAttributesPass().run(model)
    assert node.attributes["hierarchy_method"].value == "recorded"


def test_tag_attributes_skip_nodes_without_scope_and_drop_stale_ones():
    x = Value("x")
    node = Node("", "Relu", [x], attributes=[Attr.string("hierarchy_tag", "/Old")])
    TagAttributesPass().run(model_of(Graph([x], [node.outputs[0]], [node])))
    assert "hierarchy_tag" not in node.attributes


def test_tag_attributes_can_be_limited_and_removed_and_run_twice_unchanged():
    model, const, add = _recorded_and_helper()
    TagAttributesPass(attributes=["hierarchy_tag"]).run(model)
    assert set(_attribute_values(add)) == {"hierarchy_tag"}
    assert not TagAttributesPass(attributes=["hierarchy_tag"]).run(model).changed
    assert TagAttributesPass(remove=True).run(model).changed
    assert _attribute_values(add) == {} and "value" in const.attributes


def test_tag_attribute_names_are_checked_when_the_pass_is_built():
    from hcc.passes import PipelineError, build_pipeline

    with pytest.raises(PipelineError, match="hierarchy_tag"):
        build_pipeline("tag-attributes(attributes=[hierarchy_tga])")


def test_tag_attributes_are_non_standard_so_the_checker_refuses_them():
    """The documented trade-off: standard storage (metadata_props) passes the checker; the
    attributes do not, and removing them restores a valid file."""
    import onnx

    model, const, add = _recorded_and_helper()
    model.ir_version = 10
    model.graph.name = "g"
    const.outputs[0].name, add.outputs[0].name = "one", "y"
    for value in (model.graph.inputs[0], add.outputs[0]):
        value.type = ir.TensorType(ir.DataType.FLOAT, (1,))
    onnx.checker.check_model(ir.to_onnx(model), full_check=True)
    TagAttributesPass().run(model)
    with pytest.raises(onnx.checker.ValidationError, match="Unrecognized attribute: hierarchy_"):
        onnx.checker.check_model(ir.to_onnx(model), full_check=True)
    TagAttributesPass(remove=True).run(model)
    onnx.checker.check_model(ir.to_onnx(model), full_check=True)


def test_tag_attributes_are_off_by_default():
    from hcc.frontend.torch_export import DEFAULT_PIPELINE

    assert "tag-attributes" not in DEFAULT_PIPELINE
    assert TagAttributesPass.info().options["attributes"].default == list(ATTRIBUTES)
