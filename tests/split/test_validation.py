"""Validation of split pieces cannot pass a broken result: NaN and infinities fail, inputs stay
within the model's tables, pieces are valid ONNX, and onnxruntime's refusals are clear errors."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnx.shape_inference
import pytest
from onnx import TensorProto, helper, numpy_helper

import hcc
import hcc.ir as ir
from hcc.cli import main
from hcc.ir import Scope, namespace_of
from hcc.validate import session, validate_pieces

ROOT = Path(__file__).resolve().parents[2]
TINY_MLP = ROOT / "specs" / "models" / "tiny_mlp.onnx"


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _split_spec(model: Path, folder: Path, by: str, extra: str = "") -> str:
    return (
        f'model m from onnx "{model}"\n'
        f'pipeline {{\n  split(by = "{by}"{extra})\n}}\n'
        f'output "{folder}" {{ validate = true }}\n'
    )


@pytest.fixture
def mlp_pieces(tmp_path) -> Path:
    """The bundled tiny MLP, with the value_info onnx infers added (so these pieces do not
    depend on hcc typing boundaries itself), split per block."""
    typed = tmp_path / "typed_mlp.onnx"
    onnx.save(onnx.shape_inference.infer_shapes(onnx.load(str(TINY_MLP))), str(typed))
    folder = tmp_path / "pieces"
    hcc.build(_split_spec(typed, folder, "*/MLPBlock.*"))
    return folder


# -- pieces of a model without value_info -----------------------------------------------------


def test_tiny_mlp_split_validates_and_its_pieces_pass_the_full_checker(tmp_path):
    # The bundled file has no value_info for the tensors between its nodes.
    assert not onnx.load(str(TINY_MLP)).graph.value_info
    mlp_pieces = tmp_path / "pieces"
    hcc.build(_split_spec(TINY_MLP, mlp_pieces, "*/MLPBlock.*"))
    manifest = hcc.pieces.read_manifest(str(mlp_pieces))
    assert [e["name"] for e in manifest["pieces"]] == ["MLPBlock.0", "MLPBlock.1"]
    for entry in manifest["pieces"]:
        onnx.checker.check_model(entry["path"], full_check=True)
        proto = onnx.load(entry["path"], load_external_data=False)
        for info in [*proto.graph.input, *proto.graph.output]:
            assert info.type.tensor_type.elem_type == TensorProto.FLOAT, info.name
            dims = info.type.tensor_type.shape.dim
            # The batch stays symbolic, the width is known.
            assert dims[0].dim_param == "batch" and dims[1].dim_value > 0, info.name
    boundary = manifest["pieces"][1]["inputs"][0]
    assert boundary == {
        "name": "/layers.0/act/Relu_output_0",
        "dtype": "float",
        "shape": ["batch", 16],
        "from": "MLPBlock.0",
        "module": "layers.0",
        "read_by": ["layers.1"],
    }
    assert [d.max_abs for d in validate_pieces(str(mlp_pieces))] == [0.0]


def test_the_whole_model_beside_the_pieces_stays_as_it_was(tmp_path):
    # Types found for the pieces are not written into the whole model's value_info.
    mlp_pieces = tmp_path / "pieces"
    hcc.build(_split_spec(TINY_MLP, mlp_pieces, "*/MLPBlock.*"))
    source = onnx.load(str(TINY_MLP), load_external_data=False)
    whole = onnx.load(str(mlp_pieces / "m.onnx"), load_external_data=False)
    assert len(whole.graph.value_info) == len(source.graph.value_info) == 0


def test_a_boundary_no_inference_can_type_is_refused(tmp_path):
    # A custom operator crosses the boundary: neither the file nor onnx's inference knows its
    # output's type, so no invalid piece is written.
    block = [Scope.root("M", "m.M").child(f"blocks.{i}", f"Block.{i}", "m.Block") for i in (0, 1)]
    nodes = [
        _tagged(helper.make_node("Mystery", ["x"], ["h"], domain="custom"), block[0]),
        _tagged(helper.make_node("Relu", ["h"], ["y"]), block[1]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [_info("x", TensorProto.FLOAT, ["n", 4])],
        [_info("y", TensorProto.FLOAT, ["n", 4])],
    )
    model = helper.make_model(
        graph,
        ir_version=10,
        opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("custom", 1)],
    )
    path = tmp_path / "custom.onnx"
    onnx.save(model, str(path))
    with pytest.raises(
        ir.HccError, match="'h' crosses its boundary, but the model records no type"
    ):
        hcc.build(_split_spec(path, tmp_path / "out", "*/Block.*"))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# -- generated inputs within the model's tables -------------------------------------------------


VOCAB, POSITIONS, WIDTH = 50, 20, 8


def _tagged(node: onnx.NodeProto, scope: Scope) -> onnx.NodeProto:
    for key, value in (
        ("hcc.tag", scope.tag),
        ("hcc.module", scope.module_path),
        ("namespace", namespace_of(scope)),
    ):
        node.metadata_props.add(key=key, value=value)
    return node


def _info(name: str, dtype: int, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, dtype, shape)


def _embedding_model(path: Path) -> Path:
    """A tagged model with a 50-token vocabulary and a 20-row position table: ids reach the
    token table through a Cast and an Unsqueeze/Squeeze pair; the mask scales the result."""
    root = Scope.root("Toy", "toy.Toy")
    blocks = [root.child(f"blocks.{i}", f"Block.{i}", "toy.Block") for i in (0, 1)]
    rng = np.random.default_rng(0)

    def weight(name: str, shape) -> onnx.TensorProto:
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    axes = numpy_helper.from_array(np.array([0], np.int64), "axes")
    nodes = [
        helper.make_node("Cast", ["input_ids"], ["ids32"], to=TensorProto.INT32),
        helper.make_node("Unsqueeze", ["ids32", "axes"], ["ids_u"]),
        helper.make_node("Squeeze", ["ids_u", "axes"], ["ids_s"]),
        helper.make_node("Gather", ["tokens", "ids_s"], ["tok"]),
        helper.make_node("Gather", ["positions", "position_ids"], ["pos"]),
        helper.make_node("Add", ["tok", "pos"], ["h0"]),
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "last"], ["mask3"]),
    ]
    nodes = [_tagged(n, root) for n in nodes]
    previous = "h0"
    for i, scope in enumerate(blocks):
        nodes += [
            _tagged(helper.make_node("MatMul", [previous, f"w{i}"], [f"m{i}"]), scope),
            _tagged(helper.make_node("Tanh", [f"m{i}"], [f"t{i}"]), scope),
            _tagged(helper.make_node("Mul", [f"t{i}", "mask3"], [f"h{i + 1}"]), scope),
        ]
        previous = f"h{i + 1}"
    inputs = [
        _info("input_ids", TensorProto.INT64, ["batch", "seq"]),
        _info("position_ids", TensorProto.INT64, ["batch", "seq"]),
        _info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
    ]
    outputs = [_info(previous, TensorProto.FLOAT, ["batch", "seq", WIDTH])]
    initializers = [
        weight("tokens", (VOCAB, WIDTH)),
        weight("positions", (POSITIONS, WIDTH)),
        weight("w0", (WIDTH, WIDTH)),
        weight("w1", (WIDTH, WIDTH)),
        axes,
        numpy_helper.from_array(np.array([-1], np.int64), "last"),
    ]
    graph = helper.make_graph(nodes, "toy", inputs, outputs, initializers)
    model = helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 18)])
    model = onnx.shape_inference.infer_shapes(model)  # value_info, as exporters write it
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def test_ids_stay_below_the_rows_of_the_tables_they_index(tmp_path):
    from hcc.ort import generated_inputs, index_limits

    path = _embedding_model(tmp_path / "toy.onnx")
    assert index_limits(ir.load(str(path))) == {"input_ids": VOCAB, "position_ids": POSITIONS}
    feeds = generated_inputs(session(str(path)), ir.load(str(path)), seq=64, seed=3)
    assert feeds["input_ids"].max() < VOCAB and feeds["input_ids"].max() >= POSITIONS
    assert feeds["position_ids"].max() < POSITIONS
    assert set(np.unique(feeds["attention_mask"])) == {1}


def test_a_model_with_a_50_token_vocabulary_validates(tmp_path, capsys):
    path = _embedding_model(tmp_path / "toy.onnx")
    folder = tmp_path / "pieces"
    result = hcc.build(_split_spec(path, folder, "*/Block.*", ", embeddings = first"))
    assert [d.max_abs for d in result.deviations] == [0.0]
    code, out, err = _run(capsys, "validate-pieces", folder, folder / "m.onnx", "--seq", "40")
    assert (code, err) == (0, "")
    assert out == "h2: max abs deviation 0\n"


def test_integer_inputs_without_a_table_get_small_values(tmp_path):
    from hcc.ort import generated_inputs

    graph = helper.make_graph(
        [helper.make_node("Cast", ["n"], ["y"], to=TensorProto.FLOAT)],
        "g",
        [_info("n", TensorProto.INT64, ["batch", "seq"])],
        [_info("y", TensorProto.FLOAT, ["batch", "seq"])],
    )
    path = tmp_path / "cast.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    feeds = generated_inputs(session(str(path)), ir.load(str(path)), seq=512)
    assert 0 <= feeds["n"].min() and feeds["n"].max() < 16


# -- broken results fail -------------------------------------------------------------------------


def _poison_piece(folder: Path, value: float) -> None:
    """Make the last piece add ``value`` to one element of its output (the whole model is
    untouched, so only the pieces are broken)."""
    piece = sorted(p for p in os.listdir(folder) if p.startswith("01-"))[0]
    proto = onnx.load(str(folder / piece), load_external_data=False)
    output = proto.graph.output[0].name
    for node in proto.graph.node:
        node.output[:] = [f"{o}_before" if o == output else o for o in node.output]
    delta = np.zeros((1, 4), np.float32)
    delta[0, 2] = value
    proto.graph.initializer.append(numpy_helper.from_array(delta, "poison"))
    proto.graph.node.append(helper.make_node("Add", [f"{output}_before", "poison"], [output]))
    onnx.save(proto, str(folder / piece))


@pytest.mark.parametrize("value,kind", [(math.nan, "NaN"), (math.inf, "inf"), (-math.inf, "-inf")])
@pytest.mark.parametrize("command", ["validate-pieces", "validate"])
def test_a_non_finite_output_of_the_pieces_fails_with_exit_2(
    mlp_pieces, capsys, command, value, kind
):
    _poison_piece(mlp_pieces, value)
    code, out, err = _run(capsys, command, mlp_pieces, mlp_pieces / "m.onnx", "--tolerance", "1e30")
    assert code == 2
    assert out.startswith(f"y: FAIL: {kind} in the pieces where the whole model is finite")
    assert err.startswith("hcc: error: ") and "output 'y' of the pieces is broken" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_a_finite_deviation_beyond_the_tolerance_still_exits_1(mlp_pieces, capsys):
    _poison_piece(mlp_pieces, 0.5)
    code, out, _ = _run(capsys, "validate-pieces", mlp_pieces, mlp_pieces / "m.onnx")
    assert code == 1 and out == "y: max abs deviation 0.5\n"
    code, _, _ = _run(
        capsys, "validate-pieces", mlp_pieces, mlp_pieces / "m.onnx", "--tolerance", "0.6"
    )
    assert code == 0


def test_a_nan_deviation_fails_the_build(mlp_pieces, tmp_path, monkeypatch):
    # The build validates what it wrote; make the pieces it reads broken ones.
    import hcc.validate

    real = hcc.validate.validate_pieces

    def poisoned(manifest, whole, **options):
        _poison_piece(Path(manifest).parent, math.nan)
        return real(manifest, whole, **options)

    monkeypatch.setattr(hcc.validate, "validate_pieces", poisoned)
    typed = mlp_pieces.parent / "typed_mlp.onnx"
    with pytest.raises(ir.HccError, match="validation failed: output 'y': NaN in the pieces"):
        hcc.build(_split_spec(typed, tmp_path / "again", "*/MLPBlock.*"))


@pytest.mark.parametrize("tolerance", ["nan", "inf", "-1"])
@pytest.mark.parametrize("command", ["validate-pieces", "validate"])
def test_a_bad_tolerance_on_the_command_line_is_exit_2(mlp_pieces, capsys, command, tolerance):
    code, out, err = _run(
        capsys, command, mlp_pieces, mlp_pieces / "m.onnx", "--tolerance", tolerance
    )
    assert (code, out) == (2, "")
    assert err == f"hcc: error: --tolerance must be a finite number >= 0, not {float(tolerance)}\n"


def test_validate_of_one_model_refuses_a_nan_tolerance_too(capsys):
    code, _, err = _run(capsys, "validate", TINY_MLP, "--tolerance", "nan")
    assert code == 2 and err == "hcc: error: --tolerance must be a finite number >= 0, not nan\n"


# -- onnxruntime's refusals ---------------------------------------------------------------------


def test_a_piece_onnxruntime_cannot_load_is_a_clear_error(mlp_pieces, capsys):
    piece = mlp_pieces / "01-MLPBlock.1.onnx"
    proto = onnx.load(str(piece), load_external_data=False)
    proto.graph.node[0].op_type = "NoSuchOperator"
    onnx.save(proto, str(piece))
    code, out, err = _run(capsys, "validate-pieces", mlp_pieces, mlp_pieces / "m.onnx")
    assert (code, out) == (2, "")
    assert err.startswith(f"hcc: error: {piece}: onnxruntime cannot load piece 'MLPBlock.1': ")
    assert "NoSuchOperator" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_a_whole_model_onnxruntime_cannot_load_is_a_clear_error(mlp_pieces, tmp_path, capsys):
    broken = tmp_path / "broken.onnx"
    shutil.copy(mlp_pieces / "m.onnx", broken)
    proto = onnx.load(str(broken), load_external_data=False)
    del proto.graph.initializer[:]  # Gemm now reads weights that do not exist
    onnx.save(proto, str(broken))
    code, _, err = _run(capsys, "validate-pieces", mlp_pieces, broken)
    assert code == 2
    assert err.startswith(f"hcc: error: {broken}: onnxruntime cannot load the whole model: ")
    assert len(err.splitlines()) == 1


# -- the tensors crossing a cut -----------------------------------------------------------------


def test_boundary_deviations_name_the_cut_where_a_piece_went_wrong(mlp_pieces):
    from hcc.validate import validate_boundaries

    assert [(d.name, d.max_abs) for d in validate_boundaries(str(mlp_pieces))] == [
        ("MLPBlock.0: " + _first_boundary(mlp_pieces), 0.0)
    ]
    # Another weight in the first piece: its output (the boundary) now deviates.
    path = mlp_pieces / "00-MLPBlock.0.onnx"
    proto = onnx.load(str(path))
    weight = next(t for t in proto.graph.initializer if t.name.endswith("weight"))
    weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight) + 1, weight.name))
    onnx.save(proto, str(path))
    (changed,) = validate_boundaries(str(mlp_pieces))
    assert changed.max_abs > 0.1
    assert not [p for p in os.listdir(mlp_pieces) if p.startswith(".hcc-whole-")]


def _first_boundary(folder: Path) -> str:
    return hcc.pieces.read_manifest(str(folder))["pieces"][0]["outputs"][0]["name"]
