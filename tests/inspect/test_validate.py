"""hcc validate: one model's validity and tags, --repair, and chained pieces of a split."""

from __future__ import annotations

import json

import pytest

import hcc.ir as ir
from hcc.cli import main


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _damage(path, target) -> None:
    """Give one node a tag of a module that does not exist and take another's tag away."""
    model = ir.load(str(path))
    nodes = model.graph.nodes
    nodes[1].scope = ir.Scope.root("TinyMLP").child("layers.7", "MLPBlock.7")
    nodes[2].scope = ir.Scope.unknown()
    ir.save(model, str(target))


def test_a_tagged_model_is_valid(tiny_mlp, capsys):
    code, out, _ = _run(capsys, "validate", tiny_mlp)
    assert code == 0
    assert out.splitlines()[-1] == f"{tiny_mlp}: valid"
    for check in (
        "onnx checker",
        "ir invariants",
        "tag coverage: 6 of 6 nodes tagged",
        "tags match hierarchy",
    ):
        assert f"ok    {check}" in out


def test_consistency_checks_pass_on_exports(exported, capsys):
    for name in ("bert", "gpt2"):
        code, out, _ = _run(capsys, "validate", exported(name), "--check-consistency")
        assert code == 0, out
        assert "ok    initializer scopes" in out and "ok    namespace metadata" in out


def test_untagged_and_foreign_tags_fail_validation(tiny_mlp, tmp_path, capsys):
    damaged = tmp_path / "damaged.onnx"
    _damage(tiny_mlp, damaged)
    code, out, _ = _run(capsys, "validate", damaged)
    assert code == 1
    assert "FAIL  tag coverage: 5 of 6 nodes tagged" in out
    assert "Gemm node '/layers.1/fc/Gemm' has no scope" in out
    assert "FAIL  tags match hierarchy" in out
    assert "module 'layers.7' (tag /TinyMLP/MLPBlock.7) is not a module of the hierarchy" in out
    assert out.splitlines()[-1].endswith("INVALID")


def test_a_tag_that_disagrees_with_its_module_is_reported(tiny_mlp, tmp_path, capsys):
    model = ir.load(str(tiny_mlp))
    # Right module path, wrong class path: the tree says layers.0 is /TinyMLP/MLPBlock.0.
    model.graph.nodes[0].scope = ir.Scope.root("TinyMLP").child("layers.0", "Other.0")
    ir.save(model, str(tmp_path / "m.onnx"))
    code, out, _ = _run(capsys, "validate", tmp_path / "m.onnx")
    assert code == 1
    assert "tag /TinyMLP/Other.0 but module 'layers.0' is /TinyMLP/MLPBlock.0" in out


def test_stale_initializer_scopes_fail_the_consistency_check(tiny_mlp, tmp_path, capsys):
    model = ir.load(str(tiny_mlp))
    weight = model.graph.initializers["head.weight"].const_value
    weight.metadata_props["hcc.scopes"] = json.dumps(["/TinyMLP/MLPBlock.0"])
    ir.save(model, str(tmp_path / "m.onnx"))
    code, out, _ = _run(capsys, "validate", tmp_path / "m.onnx")
    assert code == 0  # not checked without --check-consistency
    code, out, _ = _run(capsys, "validate", tmp_path / "m.onnx", "--check-consistency")
    assert code == 1
    assert (
        "initializer 'head.weight': hcc.scopes lists ['/TinyMLP/MLPBlock.0'] but it is "
        "read by ['/TinyMLP']"
    ) in out


def test_a_model_without_hierarchy_gets_a_note_not_a_failure(tiny_mlp, tmp_path, capsys):
    model = ir.load(str(tiny_mlp))
    del model.metadata_props["hcc.hierarchy"]
    ir.save(model, str(tmp_path / "m.onnx"))
    code, out, _ = _run(capsys, "validate", tmp_path / "m.onnx")
    assert code == 0
    assert "note  hierarchy" in out and "no hcc.hierarchy metadata" in out


def test_json_findings(tiny_mlp, tmp_path, capsys):
    damaged = tmp_path / "damaged.onnx"
    _damage(tiny_mlp, damaged)
    code, out, _ = _run(capsys, "validate", damaged, "--json")
    data = json.loads(out)
    assert code == 1 and data["ok"] is False
    failed = {c["check"] for c in data["checks"] if not c["ok"]}
    assert failed == {"tag coverage", "tags match hierarchy"}


def test_repair_writes_a_new_valid_file_and_leaves_the_input_alone(tiny_mlp, tmp_path, capsys):
    damaged = tmp_path / "damaged.onnx"
    _damage(tiny_mlp, damaged)
    before = damaged.read_bytes()
    repaired = tmp_path / "fixed" / "repaired.onnx"
    code, out, _ = _run(
        capsys, "validate", damaged, "--repair", "-o", repaired, "--check-consistency"
    )
    assert code == 0, out
    assert damaged.read_bytes() == before
    assert f"wrote {repaired}" in out and "1 node had tags outside the module tree" in out
    assert out.splitlines()[-1] == f"{repaired}: valid"
    original = {n.name: n.scope.tag for n in ir.load(str(tiny_mlp)).graph}
    assert {n.name: n.scope.tag for n in ir.load(str(repaired)).graph} == original


def test_repair_needs_an_output_that_is_not_the_input(tiny_mlp, capsys):
    code, _, err = _run(capsys, "validate", tiny_mlp, "--repair")
    assert code == 2 and "never the input: give -o OUT.onnx" in err
    code, _, err = _run(capsys, "validate", tiny_mlp, "--repair", "-o", tiny_mlp)
    assert code == 2 and "which this command reads" in err


def test_output_without_repair_is_a_usage_error(tiny_mlp, tmp_path, capsys):
    code, _, err = _run(capsys, "validate", tiny_mlp, "-o", tmp_path / "x.onnx")
    assert code == 2 and "add --repair" in err


def test_not_an_onnx_file_is_a_clear_error(tmp_path, capsys):
    bogus = tmp_path / "model.onnx"
    bogus.write_bytes(b"\x00\x01 not protobuf at all \xff" * 4)
    code, _, err = _run(capsys, "validate", bogus)
    assert code == 2
    assert err.startswith("hcc: error: ") and "not a valid ONNX model" in err


@pytest.fixture(scope="module")
def gpt2_pieces(exported, tmp_path_factory):
    import hcc.passes
    from hcc.pieces import write_pieces

    folder = tmp_path_factory.mktemp("pieces")
    model = hcc.passes.run(
        ir.load(str(exported("gpt2"))), 'split(by="*/GPT2Block.*", embeddings=first, head=last)'
    )
    write_pieces(model, str(folder), name="gpt2")
    return folder


def test_a_manifest_and_the_whole_model_chain_the_pieces(gpt2_pieces, capsys):
    for target in (gpt2_pieces, gpt2_pieces / "manifest.json"):
        code, out, _ = _run(capsys, "validate", target, gpt2_pieces / "gpt2.onnx")
        assert code == 0
        assert out.endswith(": max abs deviation 0\n")
    # The older command still works and says the same.
    code, old, _ = _run(capsys, "validate-pieces", gpt2_pieces, gpt2_pieces / "gpt2.onnx")
    assert code == 0 and old == out


def test_a_manifest_needs_the_whole_model_and_takes_no_repair(gpt2_pieces, capsys):
    code, _, err = _run(capsys, "validate", gpt2_pieces)
    assert code == 2 and "hcc validate MANIFEST WHOLE.onnx" in err
    code, _, err = _run(capsys, "validate", gpt2_pieces, gpt2_pieces / "gpt2.onnx", "--repair")
    assert code == 2 and "not to a manifest" in err


def test_two_models_are_not_validated_together(tiny_mlp, capsys):
    code, _, err = _run(capsys, "validate", tiny_mlp, tiny_mlp)
    assert code == 2 and "hcc compare" in err
