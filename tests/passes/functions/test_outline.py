"""outline-functions on small hand-built models: sharing, scopes, records, options, errors."""

from __future__ import annotations

import json

import pytest

import hcc.ir as ir
from hcc.ir import Attr, Graph, Node, Scope, Value
from hcc.ir.verifier import verify
from hcc.passes import PipelineError, run
from hcc.passes.functions import OutlineError, OutlineFunctionsPass

DOMAIN = "hcc.functions"
LAYERS = "outline-functions(by='*/Layer.*')"


def calls(model):
    return [n for n in model.graph.nodes if n.domain == DOMAIN]


def outline(model, text=LAYERS):
    result = run(model, text, verify_each=True)
    verify(result, require_scopes=True)
    return result


# -- sharing -------------------------------------------------------------------------------------


def test_identical_layers_share_one_definition(make_layered):
    model = outline(make_layered(3))
    assert list(model.functions) == [(DOMAIN, "Layer", "")]
    assert [(n.op_type, n.name) for n in calls(model)] == [
        ("Layer", "layers.0"),
        ("Layer", "layers.1"),
        ("Layer", "layers.2"),
    ]
    assert model.opset_imports[DOMAIN] == 1


def test_each_call_keeps_the_scope_it_stands_for(make_layered, scopes):
    model = outline(make_layered(3))
    assert [n.scope for n in calls(model)] == [scopes.layer(i) for i in range(3)]
    assert calls(model)[1].metadata_props["hcc.tag"] == "/Net/Layer.1"
    assert calls(model)[1].metadata_props["hcc.module"] == "layers.1"


def test_body_tags_are_relative_to_the_function(make_layered):
    model = outline(make_layered(3))
    function = model.functions[(DOMAIN, "Layer", "")]
    assert function.metadata_props["hcc.scope_root"] == "/Layer"
    tags = {(n.op_type, n.scope.tag, n.scope.module_path) for n in function.graph.nodes}
    assert tags == {
        ("Mul", "/Layer/Inner", "inner"),
        ("Reshape", "/Layer/Inner", "inner"),
        ("Add", "/Layer", ""),
        ("Relu", "/Layer", ""),
    }
    namespaces = {n.metadata_props["namespace"] for n in function.graph.nodes}
    assert namespaces == {": Layer", ": Layer/inner: Inner"}


def test_weights_are_inputs_named_from_their_module(make_layered):
    model = outline(make_layered(3))
    function = model.functions[(DOMAIN, "Layer", "")]
    assert [v.name for v in function.inputs] == ["embed", "inner.weight", "shape", "bias"]
    assert [v.name for v in calls(model)[2].inputs] == [
        "relu_1",
        "layers.2.inner.weight",
        "shape",
        "layers.2.bias",
    ]


def test_a_computation_shared_by_layers_stays_in_the_caller(make_layered, scopes):
    model = outline(make_layered(3))
    (shape,) = [n for n in model.graph.nodes if n.op_type == "Shape"]
    assert shape.scope == scopes.inner(0)  # still where it came from
    assert all(call.inputs[2] is shape.outputs[0] for call in calls(model))


def test_metadata_every_instance_agrees_on_stays_in_the_body(make_layered):
    model = outline(make_layered(3))
    function = model.functions[(DOMAIN, "Layer", "")]
    for node in function.graph.nodes:
        assert node.metadata_props.get("kind") == "demo"
        assert "note" not in node.metadata_props  # differs per layer: the calls keep it


def test_different_structures_with_one_class_get_distinct_functions(make_layered):
    model = outline(make_layered(3, odd_last=True))
    assert [key[1] for key in model.functions] == ["Layer", "Layer_2"]
    assert [n.op_type for n in calls(model)] == ["Layer", "Layer", "Layer_2"]


def test_depth_chooses_every_scope_at_that_depth(make_layered):
    model = outline(make_layered(2), "outline-functions(depth=1)")
    assert [n.name for n in calls(model)] == ["layers.0", "layers.1"]


def test_alternatives_and_nesting_outline_inner_scopes_first(make_layered):
    model = outline(make_layered(3), "outline-functions(by='*/Layer.*|*/Inner', nested=true)")
    assert sorted(key[1] for key in model.functions) == ["Inner", "Layer"]
    layer = model.functions[(DOMAIN, "Layer", "")]
    (inner_call,) = [n for n in layer.graph.nodes if n.domain == DOMAIN]
    assert inner_call.op_type == "Inner"
    assert (inner_call.scope.tag, inner_call.scope.module_path) == ("/Layer/Inner", "inner")


def test_two_runs_nest_like_one_nested_run(make_layered, same_model):
    once = outline(make_layered(3), "outline-functions(by='*/Layer.*|*/Inner', nested=true)")
    twice = outline(
        make_layered(3), "outline-functions(by='*/Inner'),outline-functions(by='*/Layer.*')"
    )
    assert [n.op_type for n in once.graph.nodes] == [n.op_type for n in twice.graph.nodes]
    assert set(once.functions) == set(twice.functions)


def test_outlining_again_changes_nothing(make_layered):
    model = outline(make_layered(3))
    result = OutlineFunctionsPass(by="*/Layer.*").run(model)
    assert result.changed is False
    assert len(calls(model)) == 3 and len(model.functions) == 1


def test_later_runs_reuse_an_equal_function(make_layered):
    model = outline(make_layered(3), "outline-functions(by='*/Layer.0|*/Layer.1')")
    model = outline(model, "outline-functions(by='*/Layer.2')")
    assert list(model.functions) == [(DOMAIN, "Layer", "")]
    assert len(calls(model)) == 3


# -- the round trip ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pipeline",
    [
        LAYERS,
        "outline-functions(depth=1)",
        "outline-functions(by='*/Layer.*|*/Inner', nested=true)",
        "outline-functions(by='*/Inner'),outline-functions(by='*/Layer.*')",
        "outline-functions(by='layers.*')",
    ],
)
def test_inline_undoes_outline_node_for_node(make_layered, same_model, pipeline):
    original = make_layered(3)
    model = outline(make_layered(3), pipeline)
    model = run(model, "inline-functions", verify_each=True)
    verify(model, require_scopes=True)
    same_model(original, model)
    assert model.functions == {}


def test_the_round_trip_survives_the_onnx_file(make_layered, same_model):
    outlined = outline(make_layered(3), "outline-functions(by='*/Layer.*|*/Inner', nested=true)")
    reread = ir.from_onnx(ir.to_onnx(outlined))  # records, relative tags, hcc.scope_root
    assert OutlineFunctionsPass(by="*/Layer.*").run(reread).changed is False
    model = run(reread, "inline-functions", verify_each=True)
    verify(model, require_scopes=True)
    same_model(make_layered(3), model)


def test_outlined_model_computes_the_same(make_layered, ort_run, feeds):
    expected = ort_run(make_layered(3), feeds)
    actual = ort_run(outline(make_layered(3)), feeds)
    assert [a.tobytes() for a in actual] == [e.tobytes() for e in expected]


def test_the_outlined_file_passes_the_onnx_checker(make_layered):
    import onnx

    proto = ir.to_onnx(
        outline(make_layered(3), "outline-functions(by='*/Layer.*|*/Inner', nested=true)")
    )
    onnx.checker.check_model(proto, full_check=True)


def test_record_names_keeps_names_and_tags_but_not_instance_metadata(make_layered, node_key):
    original = make_layered(3)
    model = run(
        outline(make_layered(3), "outline-functions(by='*/Layer.*', record='names')"),
        "inline-functions",
    )

    def strip(key):  # the metadata that differs per layer is what record=names drops
        return key[:-1] + ({k: v for k, v in key[-1].items() if k != "note"},)

    assert [strip(node_key(n)) for n in model.graph.nodes] == [
        strip(node_key(n)) for n in original.graph.nodes
    ]
    assert not any(
        "note" in n.metadata_props
        for n in model.graph.nodes
        if n.scope.depth > 0 and n.op_type != "Shape"
    )


def test_record_none_gives_fresh_names_and_the_same_scopes(make_layered):
    original = make_layered(3)
    outlined = outline(make_layered(3), "outline-functions(by='*/Layer.*', record='none')")
    assert not any("hcc.outline" in n.metadata_props for n in calls(outlined))
    model = run(outlined, "inline-functions", verify_each=True)
    assert [(n.op_type, n.scope) for n in model.graph.nodes] == [
        (n.op_type, n.scope) for n in original.graph.nodes
    ]
    assert "layers.1/mul_0" in {n.name for n in model.graph.nodes}


def test_the_call_record_holds_what_the_body_does_not(make_layered):
    model = outline(make_layered(3))
    first, second = (json.loads(n.metadata_props["hcc.outline"]) for n in calls(model)[:2])
    assert "nodes" not in first  # the body has the first layer's names
    assert second["nodes"] == ["mul_1", "reshape_1", "add_1", "relu_1"]
    assert second["meta"]["0"] == {"note": "layer 1"}


def test_constants_inside_are_copied_and_come_back_as_initializers(
    make_layered, same_model, ort_run, feeds
):
    original = make_layered(3)
    model = outline(make_layered(3), "outline-functions(by='*/Layer.*', constants='inside')")
    # Each layer has its own weights, so no two bodies are equal any more.
    assert len(model.functions) == 3
    body = model.functions[(DOMAIN, "Layer", "")].graph
    assert [n.op_type for n in body.nodes][:2] == ["Constant", "Constant"]
    assert not any(name.startswith("layers.") for name in model.graph.initializers)
    assert [a.tobytes() for a in ort_run(model, feeds)] == [
        a.tobytes() for a in ort_run(original, feeds)
    ]
    back = run(model, "inline-functions", verify_each=True)
    same_model(original, back, initializer_order=False)


def test_inside_limit_keeps_larger_tensors_as_inputs(make_layered):
    model = outline(
        make_layered(3), "outline-functions(by='*/Layer.*', constants='inside', inside_limit=2)"
    )
    assert len(model.functions) == 1  # the 4-element weights stayed inputs


def test_a_subgraph_inside_the_scope_moves_with_its_node(builder, scopes, same_model, ort_run):
    import numpy as np

    def make():
        b = builder()
        x = b.input("x")
        flag = b.input("flag", ir.TensorType(ir.DataType.BOOL, ()))
        h = x
        for i in range(2):
            w = b.weight(f"layers.{i}.w", 2.0 + i)
            scale = b.op("Mul", f"scale_{i}", h, w, scope=scopes.layer(i))
            # The branches read the layer's value and a weight from outside the If.
            then = Graph(name=f"then_{i}")
            then.append(
                Node(
                    "",
                    "Add",
                    [scale, w],
                    outputs=[Value(f"t_{i}", ir.TensorType(ir.DataType.FLOAT, ("batch", 4)))],
                    name=f"then_add_{i}",
                    scope=scopes.layer(i),
                )
            )
            then.outputs.append(then.nodes[0].outputs[0])
            other = Graph(name=f"else_{i}")
            other.append(
                Node(
                    "",
                    "Sub",
                    [scale, w],
                    outputs=[Value(f"e_{i}", ir.TensorType(ir.DataType.FLOAT, ("batch", 4)))],
                    name=f"else_sub_{i}",
                    scope=scopes.layer(i),
                )
            )
            other.outputs.append(other.nodes[0].outputs[0])
            h = b.op(
                "If",
                f"if_{i}",
                flag,
                scope=scopes.layer(i),
                attributes=[Attr.graph("then_branch", then), Attr.graph("else_branch", other)],
            )
        return b.model(b.op("Abs", "head", h, scope=scopes.root))

    model = outline(make())
    assert len(model.functions) == 1 and len(calls(model)) == 2
    feeds = {"x": np.ones((2, 4), np.float32), "flag": np.array(True)}
    assert [a.tobytes() for a in ort_run(model, feeds)] == [
        a.tobytes() for a in ort_run(make(), feeds)
    ]
    same_model(make(), run(model, "inline-functions", verify_each=True))


def test_usable_from_pipeline_text_spec_and_command_line(tmp_path, make_layered, capsys):
    import onnx

    from hcc.cli import main
    from hcc.passes import build_pipeline
    from hcc.spec.resolve import load_spec_text

    spec = load_spec_text(
        'model m from config "gpt2"\npipeline {\n'
        '  outline-functions(by = "*/Layer.*", record = names)\n'
        '  inline-functions(domains = ["hcc.functions"])\n}\n'
    )
    passes = build_pipeline(spec.pipeline)
    assert [str(p) for p in passes] == [
        "outline-functions(by='*/Layer.*',record='names')",
        "inline-functions(domains=['hcc.functions'])",
    ]

    source, target = tmp_path / "in.onnx", tmp_path / "out.onnx"
    ir.save(make_layered(3), source)
    code = main(["opt", str(source), "-p", LAYERS, "-o", str(target), "--verify-each"])
    assert code == 0, capsys.readouterr().err
    proto = onnx.load(target)
    assert [f.name for f in proto.functions] == ["Layer"]
    onnx.checker.check_model(proto, full_check=True)


# -- bad input -----------------------------------------------------------------------------------


def test_a_pattern_matching_nothing_lists_scopes_near_it(make_layered):
    with pytest.raises(OutlineError) as error:
        run(make_layered(2), "outline-functions(by='*/Layr.*')")
    message = str(error.value)
    assert "'*/Layr.*' matches no scope" in message
    assert "scopes near it:" in message and "/Net/Layer.0" in message


def test_by_and_depth_exclude_each_other(make_layered):
    with pytest.raises(OutlineError, match="exactly one of by= or depth="):
        run(make_layered(2), "outline-functions(by='*', depth=1)")
    with pytest.raises(OutlineError, match="exactly one of by= or depth="):
        run(make_layered(2), "outline-functions")


def test_a_depth_without_scopes_names_the_deepest(make_layered):
    with pytest.raises(OutlineError, match="no scope at depth 5; the deepest is 2"):
        run(make_layered(2), "outline-functions(depth=5)")


def test_the_onnx_domains_are_refused(make_layered):
    with pytest.raises(OutlineError, match="belongs to ONNX"):
        run(make_layered(2), "outline-functions(by='*/Layer.*', domain='')")


def test_a_bad_option_value_is_a_pipeline_error(make_layered):
    with pytest.raises(PipelineError, match="one of 'inputs', 'inside'"):
        run(make_layered(2), "outline-functions(by='*/Layer.*', constants='outside')")


def _interleaved(builder, scopes, second: Scope):
    """a1 -> b -> a2: node ``b`` (scope ``second``) runs between two nodes of Layer.0, and
    Layer.0 reads a1 only through ``b`` (else a1 would be a shared computation, left outside)."""
    b = builder()
    x = b.input("x")
    a1 = b.op("Relu", "a1", x, scope=scopes.layer(0))
    mid = b.op("Neg", "b", a1, scope=second)
    a2 = b.op("Add", "a2", mid, x, scope=scopes.layer(0))
    return b.model(b.op("Abs", "head", a2, scope=scopes.root))


def test_scopes_that_overlap_without_nesting_are_refused(builder, scopes):
    model = _interleaved(builder, scopes, scopes.layer(1))
    with pytest.raises(OutlineError) as error:
        run(model, LAYERS)
    message = str(error.value)
    assert "'/Net/Layer.0' and '/Net/Layer.1' overlap without nesting" in message
    assert "node 'b'" in message


def test_a_scope_left_and_entered_again_is_refused(builder, scopes):
    model = _interleaved(builder, scopes, scopes.root)
    with pytest.raises(OutlineError) as error:
        run(model, LAYERS)
    assert "'/Net/Layer.0' cannot become one call: node 'b' (/Net) runs between its nodes" in str(
        error.value
    )


def test_a_value_both_scopes_read_is_shared_not_an_overlap(builder, scopes):
    b = builder()
    x = b.input("x")
    a1 = b.op("Relu", "a1", x, scope=scopes.layer(0))
    mid = b.op("Neg", "b", a1, scope=scopes.layer(1))
    a2 = b.op("Add", "a2", mid, a1, scope=scopes.layer(0))  # Layer.0 reads a1 itself too
    model = outline(b.model(b.op("Abs", "head", a2, scope=scopes.root)))
    assert [n.name for n in model.graph.nodes] == ["a1", "layers.1", "layers.0", "head"]


def test_a_scope_nothing_reads_is_refused(builder, scopes):
    b = builder()
    x = b.input("x")
    b.op("Relu", "dead", x, scope=scopes.layer(0))
    model = b.model(b.op("Abs", "head", x, scope=scopes.root))
    with pytest.raises(OutlineError, match="nothing outside scope '/Net/Layer.0' reads"):
        run(model, LAYERS)
