"""Per-layer splits of GPT-2, BERT and LLaMA built from configs: the pieces chain to exactly the
whole model, each one is a valid standalone model, and together they hold the weights once."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
import split_support as kit

from hcc.validate import run_pieces

VARIANTS = {
    "first-last": {"embeddings": "first", "head": "last"},  # seed 000's layout
    "own": {"embeddings": "own", "head": "own"},
}
LAYERS = {"gpt2": 4, "bert": 2, "llama": 2}


@pytest.fixture(
    scope="module",
    params=[(m, v) for m in ("gpt2", "bert", "llama") for v in VARIANTS],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def written(request, tmp_path_factory):
    name, variant = request.param
    built = request.getfixturevalue(name)
    folder = tmp_path_factory.mktemp(f"{name}-{variant}")
    manifest = kit.split(built, folder, **VARIANTS[variant])
    return built, variant, folder, manifest


def test_pieces_chain_to_exactly_the_whole_model(written):
    built, _, folder, manifest = written
    expected = kit.run_whole(folder, built.feeds)
    values = run_pieces(str(folder), built.feeds)
    assert kit.max_deviation(expected, values) == 0.0


def test_with_all_runtime_fusions_seed_000_layout_is_still_exact(written):
    built, variant, folder, _ = written
    expected = kit.run_whole(folder, built.feeds, "all")
    deviation = kit.max_deviation(
        expected, run_pieces(str(folder), built.feeds, optimization="all")
    )
    if variant == "first-last":
        assert deviation == 0.0
    else:
        # A head of its own keeps onnxruntime from fusing the last Add into the head's
        # LayerNormalization (see hcc.validate): rounding differences only.
        assert deviation <= 1e-5


def test_every_piece_passes_the_full_checker_and_runs_alone(written):
    _, _, folder, manifest = written
    for entry in manifest["pieces"]:
        onnx.checker.check_model(entry["path"], full_check=True)
        # Alone: its own session, fed made-up tensors of the manifest's dtypes and shapes.
        piece = kit.session(entry["path"])
        rng = np.random.default_rng(0)
        feeds = {}
        for value in entry["inputs"]:
            shape = [
                d if isinstance(d, int) else (2 if i == 0 else 5)
                for i, d in enumerate(value["shape"])
            ]
            if value["dtype"] == "int64":
                feeds[value["name"]] = np.ones(shape, np.int64)
            else:
                feeds[value["name"]] = rng.standard_normal(shape).astype(np.float32)
        outputs = piece.run(None, feeds)
        assert [o.name for o in piece.get_outputs()] == [v["name"] for v in entry["outputs"]]
        for output, described in zip(outputs, entry["outputs"]):
            assert len(output.shape) == len(described["shape"])
            assert np.isfinite(output).all()


def test_pieces_hold_the_whole_models_weight_bytes_once(written):
    _, _, folder, manifest = written
    whole = kit.weight_bytes([os.path.join(str(folder), manifest["whole"])])
    pieces = kit.weight_bytes([entry["path"] for entry in manifest["pieces"]])
    # One shared weights file: every large tensor, the tied embedding/head included, once.
    assert pieces["external"] == whole["external"]
    assert pieces["total"] <= 1.02 * whole["total"]
    assert {f for e in manifest["pieces"] for f in kit.external_files(e["path"])} <= {
        manifest["weights"]
    }


def test_pieces_are_placed_per_layer_with_embeddings_and_head(written):
    built, variant, _, manifest = written
    layers = LAYERS[built.name]
    names = [entry["name"] for entry in manifest["pieces"]]
    if variant == "own":
        assert names[0] == "embeddings" and names[-1] == "head"
        assert len(names) == layers + 2
        assert all(not entry["joined"] for entry in manifest["pieces"])
    else:
        assert len(names) == layers
        assert manifest["pieces"][0]["joined"] == ["embeddings"]
        assert manifest["pieces"][-1]["joined"] == ["head"]
    layer_names = [n for n in names if n not in ("embeddings", "head")]
    assert [n.rsplit(".", 1)[-1] for n in layer_names] == [str(i) for i in range(layers)]


def test_manifest_describes_typed_boundaries_that_chain(written):
    built, _, folder, manifest = written
    whole = onnx.load(os.path.join(str(folder), manifest["whole"]), load_external_data=False)
    assert [v["name"] for v in manifest["inputs"]] == [i.name for i in whole.graph.input]
    assert [v["name"] for v in manifest["outputs"]] == [o.name for o in whole.graph.output]
    assert sorted(v["name"] for v in manifest["inputs"]) == sorted(built.feeds)
    available = {v["name"]: v for v in manifest["inputs"]}
    for index, entry in enumerate(manifest["pieces"]):
        assert os.path.basename(entry["path"]) == entry["file"]
        assert entry["file"].startswith(f"{index:02d}-")
        proto = onnx.load(entry["path"], load_external_data=False)
        assert [i.name for i in proto.graph.input] == [v["name"] for v in entry["inputs"]]
        assert [o.name for o in proto.graph.output] == [v["name"] for v in entry["outputs"]]
        for value in entry["inputs"]:
            assert value["name"] in available, f"{entry['name']} reads {value['name']}"
            assert available[value["name"]]["dtype"] == value["dtype"]
            assert available[value["name"]]["shape"] == value["shape"]
        for value in entry["outputs"]:
            assert value["dtype"] in ("float", "int64") and isinstance(value["shape"], list)
            available[value["name"]] = value
        assert entry["scopes"] and all(s.startswith("/") for s in entry["scopes"])
    assert all(v["name"] in available for v in manifest["outputs"])


def test_pieces_keep_the_scope_of_every_node(written):
    _, _, folder, manifest = written
    whole = kit.node_tags(os.path.join(str(folder), manifest["whole"]))
    for entry in manifest["pieces"]:
        tags = kit.node_tags(entry["path"])
        assert tags and all(tags.values())
        assert all(whole[name] == tag for name, tag in tags.items())
    layer_pieces = [e for e in manifest["pieces"] if e["name"] not in ("embeddings", "head")]
    for entry in layer_pieces:
        assert entry["scopes"][0].endswith("/" + entry["name"])


def test_grouped_layers_make_fewer_pieces_that_still_chain_exactly(gpt2, tmp_path):
    manifest = kit.split(gpt2, tmp_path, group=2)
    assert [e["name"] for e in manifest["pieces"]] == ["GPT2Block.0-1", "GPT2Block.2-3"]
    assert len(manifest["pieces"][0]["scopes"]) >= 2
    expected = kit.run_whole(tmp_path, gpt2.feeds)
    assert kit.max_deviation(expected, run_pieces(str(tmp_path), gpt2.feeds)) == 0.0
