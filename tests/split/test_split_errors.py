"""Bad piece choices fail with errors that say what to do, and nothing is written."""

from __future__ import annotations

import os

import pytest
import split_support as kit

import hcc
import hcc.ir as ir
from hcc.passes import run
from hcc.passes.pieces import SplitError

BLOCKS = "/GPT2LMHeadModel/GPT2Model/GPT2Block"


def test_pattern_matching_nothing_lists_scopes_near_it(gpt2):
    with pytest.raises(SplitError, match="matches no scope") as error:
        run(gpt2.model, "split(by='*/GPT2Blok.*')")
    assert "GPT2Block.0" in str(error.value)


def test_module_path_pattern_matching_nothing_lists_module_paths_near_it(llama):
    with pytest.raises(SplitError) as error:
        run(llama.model, "split(by='model.layer.*')")
    assert "model.layers.0" in str(error.value)


def test_overlapping_scopes_are_refused(gpt2):
    inner = next(
        s.tag for n in gpt2.model.graph for s in [n.scope] if s.tag.startswith(BLOCKS + ".1/")
    )
    with pytest.raises(SplitError, match="overlap"):
        run(gpt2.model, f"split(scopes=[{BLOCKS + '.1'!r}, {inner!r}])")


def test_depth_without_scopes_names_the_deepest(gpt2):
    with pytest.raises(SplitError, match="no scope at depth 40; the deepest is"):
        run(gpt2.model, "split(depth=40)")


def test_choice_leaving_out_a_layer_between_pieces_is_incomplete(gpt2):
    with pytest.raises(SplitError, match="incomplete") as error:
        run(gpt2.model, f"split(scopes=[{BLOCKS + '.0'!r}, {BLOCKS + '.2'!r}])")
    assert "GPT2Block.1" in str(error.value)


def test_unknown_scope_in_a_list_suggests_near_ones(gpt2):
    with pytest.raises(SplitError, match="GPT2Block.3"):
        run(gpt2.model, f"split(scopes=[{BLOCKS + '.33'!r}])")


def test_two_ways_of_choosing_at_once_are_refused(gpt2):
    with pytest.raises(SplitError, match="exactly one"):
        run(gpt2.model, f"split(by={gpt2.layers!r}, depth=2)")


def test_shared_weights_error_refuses_a_tied_model(gpt2, tmp_path):
    # GPT-2 reads its token embedding again in the head: a large weight two pieces use.
    with pytest.raises(ir.HccError, match="used by several pieces") as error:
        kit.split(gpt2, tmp_path / "out", shared_weights="error")
    assert "bytes" in str(error.value)
    assert not (tmp_path / "out").exists()


def test_untied_model_splits_with_shared_weights_error(llama, tmp_path):
    manifest = kit.split(llama, tmp_path, shared_weights="error")
    assert len(manifest["pieces"]) == 2


def test_shared_weights_duplicate_gives_each_piece_its_own_file(gpt2, tmp_path):
    manifest = kit.split(gpt2, tmp_path, shared_weights="duplicate")
    assert manifest["weights"] is None
    assert not (tmp_path / "model.weights.data").exists()
    sizes = []
    for entry in manifest["pieces"]:
        assert kit.external_files(entry["path"]) == {entry["file"] + ".data"}
        sizes.append(kit.weight_bytes([entry["path"]])["total"])
    whole = kit.weight_bytes([str(tmp_path / manifest["whole"])])["total"]
    tied = 50257 * 768 * 4  # the token embedding, now in the first and the last piece
    assert abs(sum(sizes) - whole - tied) <= 0.01 * whole
    expected = kit.run_whole(tmp_path, gpt2.feeds)
    from hcc.validate import run_pieces

    assert kit.max_deviation(expected, run_pieces(str(tmp_path), gpt2.feeds)) == 0.0


@pytest.fixture(scope="module")
def llama_file(llama, tmp_path_factory):
    folder = tmp_path_factory.mktemp("llama-file")
    path = str(folder / "llama.onnx")
    ir.save(llama.model, path, external_data="llama.onnx.data")
    return path


@pytest.mark.parametrize(
    "pipeline, message",
    [
        ('split(by = "*/Nothing.*")', "matches no scope"),
        ("split(depth = 40)", "no scope at depth"),
        ('split(by = "*/LlamaDecoderLayer.*")\n  internalize-constants', None),
    ],
)
def test_a_build_that_fails_writes_nothing(llama_file, tmp_path, pipeline, message):
    out = tmp_path / "out"
    spec = (
        f'model llama from onnx "{llama_file}"\n'
        f"pipeline {{\n  {pipeline}\n}}\n"
        f'output "{out}" {{\n  validate = true\n}}\n'
    )
    if message is None:
        # A valid pipeline, for contrast: it writes pieces, a manifest and the whole model.
        hcc.build(spec)
        assert "manifest.json" in os.listdir(out)
        return
    with pytest.raises(ir.HccError, match=message):
        hcc.build(spec)
    assert not out.exists()


def test_a_failing_split_into_an_existing_folder_leaves_it_unchanged(gpt2, tmp_path):
    kit.split(gpt2, tmp_path)
    before = {name: os.path.getmtime(tmp_path / name) for name in os.listdir(tmp_path)}
    with pytest.raises(SplitError):
        kit.split(gpt2, tmp_path, scopes=[BLOCKS + ".0", BLOCKS + ".2"])
    with pytest.raises(ir.HccError):
        kit.split(gpt2, tmp_path, shared_weights="error")
    assert {name: os.path.getmtime(tmp_path / name) for name in os.listdir(tmp_path)} == before
