"""The ``hcc`` command line, called through ``main([...])``: exit codes and messages."""

from __future__ import annotations

import re
from pathlib import Path

import onnx
import pytest

import hcc
from hcc.cli import main


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _assert_user_error(err: str, message: str) -> None:
    """One ``hcc: error:`` line (plus the source and caret lines of a located error)."""
    assert err.startswith("hcc: error: "), err
    assert message in err.splitlines()[0], err
    assert "Traceback" not in err


# -- general --------------------------------------------------------------------------------------


def test_version(capsys):
    code, out, _ = _run(capsys, "--version")
    assert code == 0 and out.strip() == f"hcc {hcc.__version__}"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["opt"],
        ["opt", "in.onnx"],
        ["opt", "in.onnx", "-o"],
        ["print"],
        ["opt", "in.onnx", "-o", "out.onnx", "--no-such-flag"],
    ],
)
def test_bad_usage_exits_with_2(capsys, argv):
    code, _, err = _run(capsys, *argv)
    assert code == 2 and "usage: hcc" in err


# -- hcc passes -----------------------------------------------------------------------------------


def test_passes_lists_each_pass_with_summary_and_options(capsys):
    code, out, _ = _run(capsys, "passes")
    assert code == 0
    assert re.search(r"^remove-dead-code +remove nodes whose results are never read", out, re.M)
    assert re.search(r"^topological-sort +order nodes", out, re.M)
    assert "    aggressive: bool (default false)\n        also remove unused nodes" in out
    assert "    keys: list[str] (default [])" in out


def test_passes_name_shows_the_whole_description(capsys):
    code, out, _ = _run(capsys, "passes", "remove-dead-code")
    assert code == 0
    assert out.startswith("remove-dead-code  remove nodes")
    assert "repeating until nothing" in out and "aggressive: bool" in out


def test_passes_unknown_name(capsys):
    code, _, err = _run(capsys, "passes", "strip-tag")
    assert code == 2
    _assert_user_error(err, "unknown pass 'strip-tag'; did you mean 'strip-tags'?")


# -- hcc opt: errors ------------------------------------------------------------------------------


def test_missing_input_file(capsys, tmp_path):
    missing = tmp_path / "missing.onnx"
    code, _, err = _run(capsys, "opt", str(missing), "-o", str(tmp_path / "out.onnx"))
    assert code == 2
    _assert_user_error(err, "missing.onnx")
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "out.onnx").exists()


def test_corrupt_input_file(capsys, tmp_path):
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07this is not a protobuf \xff\xfe" * 10)
    code, _, err = _run(capsys, "opt", str(corrupt), "-o", str(tmp_path / "out.onnx"))
    assert code == 2
    _assert_user_error(err, "corrupt.onnx")
    assert len(err.splitlines()) == 1


def test_truncated_input_file(capsys, tmp_path, model_path):
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(model_path.read_bytes()[:-7])
    code, _, err = _run(capsys, "opt", str(truncated), "-o", str(tmp_path / "out.onnx"))
    assert code == 2
    _assert_user_error(err, "truncated.onnx")


def test_unknown_pass_is_reported_before_the_model_is_read(capsys, tmp_path):
    # The input does not exist: the pipeline error must come first.
    code, _, err = _run(
        capsys,
        "opt",
        str(tmp_path / "absent.onnx"),
        "-o",
        str(tmp_path / "o.onnx"),
        "-p",
        "remove-dead-code,topological-srot",
    )
    assert code == 2
    _assert_user_error(
        err, "pipeline:1:18: unknown pass 'topological-srot'; did you mean 'topological-sort'?"
    )
    assert err.splitlines()[1:] == [
        "  remove-dead-code,topological-srot",
        " " * 19 + "^" + "~" * 15,
    ]


def test_unknown_option(capsys, model_path, tmp_path):
    code, _, err = _run(
        capsys,
        "opt",
        str(model_path),
        "-o",
        str(tmp_path / "o.onnx"),
        "-p",
        "remove-dead-code(agressive=true)",
    )
    assert code == 2
    _assert_user_error(
        err,
        "pass 'remove-dead-code' has no option 'agressive'; did you mean 'aggressive'? "
        "(options: aggressive)",
    )


def test_wrong_option_type(capsys, model_path, tmp_path):
    code, _, err = _run(
        capsys,
        "opt",
        str(model_path),
        "-o",
        str(tmp_path / "o.onnx"),
        "-p",
        "remove-dead-code(aggressive='yes')",
    )
    assert code == 2
    _assert_user_error(
        err, "option 'aggressive' of pass 'remove-dead-code' expects bool, got str 'yes'"
    )


def test_pipeline_syntax_error(capsys, model_path, tmp_path):
    code, _, err = _run(capsys, "opt", str(model_path), "-o", str(tmp_path / "o.onnx"), "-p", "a(")
    assert code == 2
    _assert_user_error(err, "pipeline:1:3: expected an option name, found the end of the pipeline")


@pytest.mark.parametrize("spelling", ["same", "dotted", "symlink"])
def test_output_may_not_be_the_input(capsys, model_path, spelling):
    before = model_path.read_bytes()
    if spelling == "same":
        output = str(model_path)
    elif spelling == "dotted":
        output = str(model_path.parent / "." / model_path.name)
    else:
        output = str(model_path.parent / "link.onnx")
        Path(output).symlink_to(model_path)
    code, _, err = _run(capsys, "opt", str(model_path), "-o", output, "-p", "remove-dead-code")
    assert code == 2
    _assert_user_error(err, "which this command reads")
    assert model_path.read_bytes() == before


def test_dump_dir_needs_dump_after(capsys, model_path, tmp_path):
    code, _, err = _run(
        capsys,
        "opt",
        str(model_path),
        "-o",
        str(tmp_path / "o.onnx"),
        "--dump-dir",
        str(tmp_path / "dumps"),
    )
    assert code == 2
    _assert_user_error(err, "--dump-dir needs --dump-after PASS")


def test_dump_after_must_name_a_pass_of_the_pipeline(capsys, model_path, tmp_path):
    code, _, err = _run(
        capsys,
        "opt",
        str(model_path),
        "-o",
        str(tmp_path / "o.onnx"),
        "-p",
        "remove-dead-code",
        "--dump-after",
        "remove-dead-cod",
    )
    assert code == 2
    _assert_user_error(
        err,
        "--dump-after 'remove-dead-cod' names no pass of the pipeline; "
        "did you mean 'remove-dead-code'?",
    )


# -- hcc opt: success -----------------------------------------------------------------------------


def test_empty_pipeline_round_trips(capsys, model_path, tmp_path):
    output = tmp_path / "new" / "dir" / "out.onnx"  # the folders do not exist yet
    code, out, err = _run(capsys, "opt", str(model_path), "-o", str(output))
    assert (code, out, err) == (0, "", "")
    written, original = onnx.load(output), onnx.load(model_path)
    onnx.checker.check_model(written)
    assert written.graph == original.graph
    assert written.opset_import == original.opset_import


def test_passes_change_the_written_model(capsys, model_path, tmp_path):
    output = tmp_path / "out.onnx"
    code, _, _ = _run(
        capsys,
        "opt",
        str(model_path),
        "-o",
        str(output),
        "-p",
        "remove-dead-code, topological-sort",
        "--verify-each",
    )
    assert code == 0
    written = onnx.load(output)
    assert [n.name for n in written.graph.node] == ["relu", "neg"]
    tags = {
        n.name: {p.key: p.value for p in n.metadata_props}["hcc.tag"] for n in written.graph.node
    }
    assert tags == {"relu": "/Toy/Block.0", "neg": "/Toy/Block.1"}


def test_the_bundled_model(capsys, bundled_model, tmp_path):
    output = tmp_path / "build" / "tiny_mlp.onnx"
    code, _, _ = _run(
        capsys,
        "opt",
        str(bundled_model),
        "-o",
        str(output),
        "-p",
        "remove-dead-code,topological-sort",
    )
    assert code == 0
    written = onnx.load(output)
    assert "/Shape" not in [n.name for n in written.graph.node]
    assert "unused.bias" not in [t.name for t in written.graph.initializer]
    assert all(any(p.key == "hcc.tag" for p in n.metadata_props) for n in written.graph.node)


def test_timings_go_to_stderr(capsys, model_path, tmp_path):
    code, out, err = _run(
        capsys,
        "opt",
        str(model_path),
        "-o",
        str(tmp_path / "o.onnx"),
        "-p",
        "remove-dead-code,topological-sort",
        "--timings",
    )
    assert code == 0 and out == ""
    lines = err.splitlines()
    assert lines[0].split() == ["ms", "share", "changed", "pass"]
    assert lines[1].split()[2:] == ["yes", "remove-dead-code"]
    assert lines[2].split()[2:] == ["no", "topological-sort"]
    assert lines[3].split()[-1] == "total"


def test_dump_after_prints_the_ir(capsys, model_path, tmp_path):
    code, out, _ = _run(
        capsys,
        "opt",
        str(model_path),
        "-o",
        str(tmp_path / "o.onnx"),
        "-p",
        "topological-sort,remove-dead-code,topological-sort",
        "--dump-after",
        "topological-sort",
    )
    assert code == 0
    assert out.count("# IR after topological-sort") == 2
    assert "Abs" in out.split("# IR after topological-sort (pass 3")[0]
    assert "Abs" not in out.split("# IR after topological-sort (pass 3")[1]


def test_dump_dir_writes_files(capsys, model_path, tmp_path):
    dumps = tmp_path / "dumps"
    code, out, _ = _run(
        capsys,
        "opt",
        str(model_path),
        "-o",
        str(tmp_path / "o.onnx"),
        "-p",
        "remove-dead-code",
        "--dump-after",
        "remove-dead-code",
        "--dump-dir",
        str(dumps),
    )
    assert code == 0 and out == ""
    assert [p.name for p in dumps.iterdir()] == ["01-remove-dead-code.txt"]
    assert "Relu" in (dumps / "01-remove-dead-code.txt").read_text()


def test_print_ir_after_change(capsys, model_path, tmp_path):
    code, out, _ = _run(
        capsys,
        "opt",
        str(model_path),
        "-o",
        str(tmp_path / "o.onnx"),
        "-p",
        "topological-sort,remove-dead-code",
        "--print-ir-after-change",
    )
    assert code == 0
    assert out.startswith("# IR after remove-dead-code (changed)\n")
    assert "topological-sort" not in out


# -- hcc print ------------------------------------------------------------------------------------


def test_print_shows_ops_and_tags(capsys, model_path):
    code, out, _ = _run(capsys, "print", str(model_path))
    assert code == 0
    assert "Relu" in out and "Neg" in out and "/Toy/Block.0" in out


def test_print_missing_file(capsys, tmp_path):
    code, _, err = _run(capsys, "print", str(tmp_path / "nothing.onnx"))
    assert code == 2
    _assert_user_error(err, "nothing.onnx")


def test_round_trip_with_external_data(capsys, tmp_path):
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weight = np.arange(64 * 64, dtype=np.float32).reshape(64, 64)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
        "ext",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 64])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 18)])
    source = tmp_path / "in" / "ext.onnx"
    source.parent.mkdir()
    onnx.save(model, source, save_as_external_data=True, location="ext.onnx.data", size_threshold=0)
    output = tmp_path / "out" / "ext.onnx"
    code, _, err = _run(capsys, "opt", str(source), "-o", str(output), "-p", "remove-dead-code")
    assert code == 0, err
    written = onnx.load(output)  # loads the external data beside it
    assert np.array_equal(numpy_helper.to_array(written.graph.initializer[0]), weight)
