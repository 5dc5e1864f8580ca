"""Combining pieces gives back the model: same outputs bit for bit, same node count, same size
within 1 %, scopes kept; pieces that do not fit are refused by name, with nothing written."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import onnx
import pytest
import split_support as kit

import hcc.ir as ir
from hcc.cli import main
from hcc.passes import run
from hcc.passes.pieces import CombineError, combine_models
from hcc.pieces import read_manifest


def _disk_bytes(path: str) -> int:
    folder = os.path.dirname(path)
    return os.path.getsize(path) + sum(
        os.path.getsize(os.path.join(folder, f)) for f in kit.external_files(path)
    )


def _outputs(path: str, feeds, optimization: str = "basic") -> dict[str, np.ndarray]:
    session = kit.session(path, optimization)
    names = [o.name for o in session.get_outputs()]
    return dict(
        zip(names, session.run(None, {i.name: feeds[i.name] for i in session.get_inputs()}))
    )


def _combine_manifest(folder, output: str) -> None:
    manifest = read_manifest(str(folder))
    pieces = [ir.load(entry["path"]) for entry in manifest["pieces"]]
    combined = combine_models(
        pieces,
        model_inputs=[v["name"] for v in manifest["inputs"]],
        model_outputs=[v["name"] for v in manifest["outputs"]],
    )
    ir.save(combined, output, external_data=os.path.basename(output) + ".data")


@pytest.mark.parametrize(
    "variant", [{}, {"embeddings": "own", "head": "own"}], ids=["first-last", "own"]
)
def test_combining_a_split_gives_back_the_model(any_model, variant, tmp_path):
    pieces_dir = tmp_path / "pieces"
    manifest = kit.split(any_model, pieces_dir, **variant)
    whole_path = os.path.join(str(pieces_dir), manifest["whole"])
    combined_path = str(tmp_path / "combined.onnx")
    _combine_manifest(pieces_dir, combined_path)

    onnx.checker.check_model(combined_path, full_check=True)
    whole = onnx.load(whole_path, load_external_data=False)
    combined = onnx.load(combined_path, load_external_data=False)
    assert len(combined.graph.node) == len(whole.graph.node)
    assert [i.name for i in combined.graph.input] == [i.name for i in whole.graph.input]
    assert [o.name for o in combined.graph.output] == [o.name for o in whole.graph.output]
    for optimization in ("basic", "all"):
        want = _outputs(whole_path, any_model.feeds, optimization)
        got = _outputs(combined_path, any_model.feeds, optimization)
        assert all(np.array_equal(want[n], got[n]) for n in want), optimization
    whole_bytes = _disk_bytes(whole_path)
    assert abs(_disk_bytes(combined_path) - whole_bytes) <= 0.01 * whole_bytes
    # Scopes: every node keeps the tag it had in the whole model.
    tags = kit.node_tags(whole_path)
    combined_tags = kit.node_tags(combined_path)
    assert all(combined_tags[name] == tags[name] for name in combined_tags if name in tags)
    assert sum(bool(t) for t in combined_tags.values()) == sum(bool(t) for t in tags.values())


def test_hcc_combine_command_reads_a_manifest(llama, tmp_path, capsys):
    kit.split(llama, tmp_path / "pieces")
    output = tmp_path / "out" / "combined.onnx"
    assert main(["combine", str(tmp_path / "pieces" / "manifest.json"), "-o", str(output)]) == 0
    assert "wrote" in capsys.readouterr().out
    want = _outputs(str(tmp_path / "pieces" / "model.onnx"), llama.feeds)
    got = _outputs(str(output), llama.feeds)
    assert all(np.array_equal(want[n], got[n]) for n in want)


def test_combine_pass_merges_a_split_in_memory(bert, tmp_path):
    nodes = len(bert.model.graph)
    combined = run(
        bert.model,
        f"split(by={bert.layers!r},embeddings=own,head=own),internalize-constants,combine",
    )
    assert combined is not bert.model and len(combined.graph) == nodes
    assert "hcc.pieces" not in combined.meta
    ir.save(bert.model, str(tmp_path / "whole.onnx"), external_data="whole.onnx.data")
    ir.save(combined, str(tmp_path / "combined.onnx"), external_data="combined.onnx.data")
    want = _outputs(str(tmp_path / "whole.onnx"), bert.feeds)
    got = _outputs(str(tmp_path / "combined.onnx"), bert.feeds)
    assert all(np.array_equal(want[n], got[n]) for n in want)
    assert {n.scope for n in combined.graph} == {n.scope for n in bert.model.graph}


def test_pieces_combine_without_a_manifest_from_the_interface_they_record(bert, tmp_path):
    # BERT's last hidden state is a model output made by the last layer, which the head reads:
    # only the interface recorded in the pieces tells that it is a model output too.
    manifest = kit.split(bert, tmp_path, embeddings="own", head="own")
    pieces = [ir.load(entry["path"]) for entry in manifest["pieces"]]
    combined = combine_models(pieces)
    assert [v.name for v in combined.graph.outputs] == [v["name"] for v in manifest["outputs"]]
    assert [v.name for v in combined.graph.inputs] == [v["name"] for v in manifest["inputs"]]
    assert not any(k.startswith("hcc.model_") for k in combined.metadata_props)
    # Pieces from elsewhere record nothing: outputs no later piece reads, inputs no piece makes.
    for piece in pieces:
        for key in ("hcc.model_inputs", "hcc.model_outputs"):
            del piece.metadata_props[key]
    combined = combine_models(pieces)
    assert [v.name for v in combined.graph.outputs] == [manifest["outputs"][-1]["name"]]
    assert sorted(v.name for v in combined.graph.inputs) == sorted(bert.feeds)


def _break_boundary(folder, piece_index: int, old: str, new: str) -> None:
    """Rename tensor ``old`` to ``new`` inside one piece file (its input and its readers)."""
    manifest = read_manifest(str(folder))
    path = manifest["pieces"][piece_index]["path"]
    proto = onnx.load(path, load_external_data=False)
    for value in proto.graph.input:
        if value.name == old:
            value.name = new
    for node in proto.graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new
    onnx.save(proto, path)


def test_pieces_whose_boundaries_do_not_match_are_refused_naming_the_tensor(gpt2, tmp_path):
    manifest = kit.split(gpt2, tmp_path / "pieces")
    hidden = manifest["pieces"][2]["inputs"][0]["name"]
    _break_boundary(tmp_path / "pieces", 2, hidden, "renamed_hidden")
    with pytest.raises(CombineError, match="renamed_hidden"):
        _combine_manifest(tmp_path / "pieces", str(tmp_path / "never.onnx"))
    # The command line says the same and writes nothing.
    output = tmp_path / "out"
    output.mkdir()
    assert main(["combine", str(tmp_path / "pieces"), "-o", str(output / "c.onnx")]) != 0
    assert os.listdir(output) == []


def test_pieces_whose_boundary_types_disagree_are_refused_naming_the_tensor(llama, tmp_path):
    manifest = kit.split(llama, tmp_path)
    hidden = manifest["pieces"][1]["inputs"][0]
    path = manifest["pieces"][1]["path"]
    proto = onnx.load(path, load_external_data=False)
    for value in proto.graph.input:
        if value.name == hidden["name"]:
            value.type.tensor_type.elem_type = onnx.TensorProto.DOUBLE
    onnx.save(proto, path)
    with pytest.raises(CombineError, match=hidden["name"]):
        _combine_manifest(tmp_path, str(tmp_path / "never.onnx"))
    assert not os.path.exists(tmp_path / "never.onnx")


def test_combine_of_duplicated_weights_stores_them_once(gpt2, tmp_path):
    # shared_weights=duplicate writes the tied embedding into two pieces' files; combining
    # recognises the equal contents.
    manifest = kit.split(gpt2, tmp_path / "pieces", shared_weights="duplicate")
    whole_path = os.path.join(str(tmp_path / "pieces"), manifest["whole"])
    combined_path = str(tmp_path / "combined.onnx")
    _combine_manifest(tmp_path / "pieces", combined_path)
    whole_bytes = _disk_bytes(whole_path)
    assert abs(_disk_bytes(combined_path) - whole_bytes) <= 0.01 * whole_bytes


def test_manifest_pointing_outside_its_folder_is_refused(llama, tmp_path):
    kit.split(llama, tmp_path / "pieces")
    path = tmp_path / "pieces" / "manifest.json"
    data = json.loads(path.read_text())
    data["pieces"][0]["file"] = "../elsewhere.onnx"
    path.write_text(json.dumps(data))
    with pytest.raises(ir.HccError, match="not inside"):
        read_manifest(str(path))
    shutil.rmtree(tmp_path / "pieces")
