"""The hostile-input corpus: every case is a command a careless or hostile user could run.

For every case hcc must exit with 2, print exactly one ``hcc: error:`` line and no traceback,
write no file, and leave every input byte-identical (the whole corpus folder is compared
before and after, so a stray temporary, a created output folder or a touched input fails the
case). The files come from the ``corpus`` fixture (conftest.py); the commands run in-process through
``hcc.cli.main`` (the console script is that function; a few cases run it as a process to
show the two behave the same).
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from hcc.cli import main


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    says: str  # a piece of the error line: the case fails for the reason it is about


def case(id: str, argv: str | list[str], says: str) -> Case:
    return Case(id, tuple(argv.split() if isinstance(argv, str) else argv), says)


ONNX = [
    case("empty model", "print empty.onnx", "empty.onnx: the file is empty"),
    case("truncated model", "print truncated.onnx", "truncated.onnx: not a valid ONNX model"),
    case("garbage bytes", "opt garbage.onnx -o out.onnx", "not a valid ONNX model"),
    case("text file", "analyze text.onnx", "text.onnx: not a valid ONNX model"),
    case("model without a graph", "print no-graph.onnx", "no ir_version or no graph"),
    case("missing model", "print absent.onnx", "absent.onnx: no such file"),
    case("folder as model", "print sub", "sub: is a directory"),
    case("/dev/zero as model", "print /dev/zero", "/dev/zero: is not a regular file"),
    case("FIFO as model", "opt model-fifo.onnx -o out.onnx", "is not a regular file"),
    case("node name not UTF-8", "print bad-node-name.onnx", "node name b'\\xff\\xfe' is not UTF-8"),
    case(
        "value name not UTF-8",
        "opt bad-value-name.onnx -o out.onnx",
        "bad-value-name.onnx: value name b'\\xff' is not UTF-8",
    ),
    case("op type not UTF-8", "json dag bad-op-type.onnx", "op type b'Mat\\xfful' is not UTF-8"),
    case("metadata not UTF-8", "analyze bad-metadata.onnx", "metadata 'note' value"),
    case("deeply nested hierarchy", "json hierarchy deep-hierarchy.onnx", "nested too deeply"),
    case("hierarchy not JSON", "json hierarchy broken-hierarchy.onnx", "is not valid JSON"),
    case(
        "hierarchy entry of the wrong type",
        "json hierarchy hierarchy-path-list.onnx",
        "a module tree entry has no string 'path'",
    ),
    case(
        "hierarchy children a number",
        "json hierarchy hierarchy-children-int.onnx",
        "the children of module '' are not a list",
    ),
    case(
        "hierarchy a list",
        "json hierarchy hierarchy-list.onnx",
        "a module tree entry is a list, not an object",
    ),
    case(
        "doc string not UTF-8",
        "graphml bad-doc.onnx -o out.graphml",
        "doc string b'd\\xffcz' is not UTF-8",
    ),
    case(
        "attribute name not UTF-8",
        "print bad-attribute-name.onnx",
        "attribute name b'z\\xffq' is not UTF-8",
    ),
    case(
        "huge dims without data",
        "opt huge-dims.onnx -o out.onnx -p simplify",
        "tensor 'w' holds 0 bytes of data",
    ),
    case("huge dims, graphml", "graphml huge-dims.onnx -o out.graphml", "holds 0 bytes"),
    case(
        "huge dims, verified",
        "opt huge-dims.onnx -o out.onnx --verify-each",
        "float[1000000000, 1000000000] takes",
    ),
    case(
        "short raw data",
        "opt short-data.onnx -o out.onnx --verify-each",
        "holds 7 bytes of data, but float[4, 4] takes 64",
    ),
    case(
        "unknown dtype",
        "opt unknown-dtype.onnx -o out.onnx --verify-each",
        "unknown element type (code 99)",
    ),
    case("negative dims", "opt negative-dims.onnx -o out.onnx --verify-each", "negative dimension"),
    case(
        "unknown ir_version",
        "opt ir-version-99.onnx -o out.onnx --verify-each",
        "ir_version 99 is not one hcc knows",
    ),
    case(
        "onnxruntime refuses the model",
        "compare unknown-op.onnx good.onnx",
        "onnxruntime cannot load",
    ),
    case(
        "absurd fixed input dims",
        "compare absurd-input.onnx absurd-input.onnx",
        "would hold 40000000000 values",
    ),
    case("GraphML given as ONNX", "analyze graph/good.graphml", "is GraphML, not ONNX"),
]

EXTERNAL_DATA = [
    case("NUL byte in location", "print ext-nul.onnx", "contains a NUL byte"),
    case("location not UTF-8", "print ext-not-utf8.onnx", "is not UTF-8 text"),
    case("absolute location", "print ext-absolute.onnx", "is absolute"),
    case("location leaves the folder", "print ext-parent.onnx", "leaves the model's folder"),
    case("symlink out of the folder", "print ext-escape.onnx", "resolves outside"),
    case("missing data file", "print ext-missing.onnx", "'absent.bin' not found"),
    case("data past the end of the file", "print ext-past-end.onnx", "but 'w.bin' has 64 bytes"),
    case("malformed offset", "print ext-bad-offset.onnx", "malformed external data offset"),
    case("folder as data file", "print ext-folder.onnx", "'sub' not found"),
    case("FIFO as data file", "opt ext-fifo.onnx -o out.onnx", "'pipe.bin' not found"),
    case(
        "length disagrees with the shape",
        "opt ext-short.onnx -o out.onnx --verify-each",
        "holds 8 bytes of data, but float[4, 4] takes 64",
    ),
]

SPECS = [
    case(
        "spec not UTF-8, check", "check not-utf8.hx", "not-utf8.hx:1:6: the spec file is not UTF-8"
    ),
    case("spec not UTF-8, fmt", "fmt not-utf8.hx", "not-utf8.hx:1:6: the spec file is not UTF-8"),
    case("spec not UTF-8, fmt --write", "fmt --write not-utf8.hx", "is not UTF-8"),
    case("spec not UTF-8, build", "build -q not-utf8.hx", "is not UTF-8"),
    case("/dev/zero as spec", "check /dev/zero", "is not a regular file"),
    case("FIFO as spec", "build -q fifo.hx", "is not a regular file"),
    case("missing spec", "build -q absent.hx", "spec file not found"),
    case(
        "NUL byte in output folder",
        "build -q nul-output.hx",
        "nul-output.hx:2:8: the output folder",
    ),
    case("newline in output folder", "build -q newline-output.hx", "holds a control character"),
    case(
        "control character in model path", "build -q control-source.hx", "holds a control character"
    ),
    case("number of 5000 digits", "check long-number.hx", "long-number.hx:2:44: number too long"),
    case("syntax error", "build -q syntax.hx", "syntax.hx:1:"),
    case("factory without opt-in", "build -q factory.hx", "runs Python code"),
    case("no model section", "build -q no-model.hx", "missing model section"),
    case("include outside the folder", "check include-outside.hx", "outside the spec's folder"),
    case("lists nested too deep", "check deep-list.hx", "lists may nest at most"),
    case("output name with a folder", "build -q name-slash.hx", "must be a plain file name"),
    case("missing model source", "build -q missing-source.hx", "absent.onnx: no such file"),
    case("damaged model source", "build -q damaged-source.hx", "not a valid ONNX model"),
    case("unknown pass", "build -q unknown-pass.hx", "did you mean 'remove-dead-code'"),
    case(
        "validate without split",
        "build -q validate-no-split.hx",
        "validate = true chains the pieces of a split",
    ),
    case("-D of 5000 digits", ["build", "-q", "param.hx", "-D", "n=" + "9" * 5000], "param.hx"),
    case("-D without a value", "build -q param.hx -D n", "write -D name=value"),
]

MANIFESTS = [
    case(
        "manifest not JSON",
        "validate-pieces pieces/not-json.json good.onnx",
        "not-json.json: cannot read manifest",
    ),
    case(
        "manifest nested too deeply",
        "validate-pieces pieces/deep.json good.onnx",
        "nested too deeply",
    ),
    case(
        "manifest of another format",
        "combine pieces/wrong-format.json -o out.onnx",
        "not an hcc manifest",
    ),
    case("manifest is a list", "combine pieces/list.json -o out.onnx", "not an hcc manifest"),
    case(
        "pieces is a number",
        "combine pieces/pieces-int.json -o out.onnx",
        "pieces must be a list, not int 5",
    ),
    case(
        "a piece is a number",
        "validate-pieces pieces/piece-int.json good.onnx",
        "pieces[0] must be an object",
    ),
    case(
        "piece file is a number",
        "combine pieces/file-int.json -o out.onnx",
        "pieces[0].file must be a string",
    ),
    case(
        "piece file is absolute",
        "combine pieces/file-absolute.json -o out.onnx",
        "is not inside the manifest's folder",
    ),
    case(
        "whole is a number",
        "validate-pieces pieces/whole-int.json good.onnx",
        "whole must be a file name",
    ),
    case(
        "inputs is a string", "combine pieces/inputs-str.json -o out.onnx", "inputs must be a list"
    ),
    case("no pieces", "combine pieces/no-pieces.json -o out.onnx", "pieces is missing"),
    case("missing piece file", "combine pieces/piece-missing.json -o out.onnx", "no such file"),
    case("manifest not UTF-8", "combine pieces/not-utf8.json -o out.onnx", "cannot read manifest"),
    case("/dev/zero as manifest", "validate-pieces /dev/zero good.onnx", "not a regular file"),
    case("missing manifest", "validate-pieces pieces/absent.json good.onnx", "manifest not found"),
]

GRAPHML = [
    case("GraphML not XML", "import-graphml graph/not-xml.graphml -o out.onnx", "XML error"),
    case(
        "XML, not GraphML",
        "import-graphml graph/other-xml.graphml -o out.onnx",
        "not a GraphML file",
    ),
    case(
        "GraphML not from hcc",
        "import-graphml graph/not-hcc.graphml -o out.onnx",
        "was not written by hcc",
    ),
    case(
        "sidecar missing",
        "import-graphml graph/no-sidecar.graphml -o out.onnx",
        "sidecar 'no-sidecar.onnxdata' is missing",
    ),
    case(
        "sidecar of another size",
        "import-graphml graph/short-sidecar.graphml -o out.onnx",
        "belongs to another export",
    ),
    case(
        "absurd tensor shape",
        "import-graphml graph/absurd-shape.graphml -o out.onnx",
        "float[1000000000000, 4] takes",
    ),
    case(
        "shape is text",
        "import-graphml graph/shape-text.graphml -o out.onnx",
        "damaged hcc GraphML data",
    ),
    case(
        "negative offset",
        "import-graphml graph/negative-offset.graphml -o out.onnx",
        "reads bytes -8..56",
    ),
    case(
        "graph data not JSON",
        "import-graphml graph/graph-not-json.graphml -o out.onnx",
        "damaged hcc GraphML data",
    ),
    case(
        "graph data nested too deeply",
        "import-graphml graph/graph-deep.graphml -o out.onnx",
        "RecursionError",
    ),
    case(
        "initializers is a number",
        "import-graphml graph/initializers-int.graphml -o out.onnx",
        "damaged hcc GraphML data",
    ),
    case(
        "sidecar size not a number",
        "import-graphml graph/size-not-number.graphml -o out.onnx",
        "damaged sidecar data",
    ),
    case(
        "sidecar outside the folder",
        "import-graphml graph/sidecar-parent.graphml -o out.onnx",
        "is not a plain file name",
    ),
    case(
        "op node not JSON",
        "import-graphml graph/node-not-json.graphml -o out.onnx",
        "has no readable onnx_node",
    ),
    case(
        "op node is a number",
        "import-graphml graph/node-int.graphml -o out.onnx",
        "damaged hcc GraphML data",
    ),
    case("/dev/zero as GraphML", "import-graphml /dev/zero -o out.onnx", "not a regular file"),
]

ARGUMENTS = [
    case("unknown command", "frobnicate", "invalid choice: 'frobnicate'"),
    case("missing arguments", "opt", "opt: the following arguments are required"),
    case(
        "negative --batch",
        "compare good.onnx other.onnx --batch -3",
        "argument --batch: must be from 1 to 4096, not -3",
    ),
    case(
        "huge --batch",
        "compare good.onnx other.onnx --batch 100000000000",
        "argument --batch: must be from 1 to 4096",
    ),
    case(
        "--batch of 5000 digits",
        ["compare", "good.onnx", "other.onnx", "--batch", "9" * 5000],
        "is not a whole number",
    ),
    case(
        "zero --seq",
        "validate-pieces pieces/list.json good.onnx --seq 0",
        "argument --seq: must be from 1",
    ),
    case("negative --seed", "compare good.onnx other.onnx --seed -1", "argument --seed"),
    case("--opset not a number", "export bert -o out.onnx --opset 1e5", "argument --opset"),
    case(
        "NaN tolerance", "validate-pieces pieces/list.json good.onnx --tolerance nan", "--tolerance"
    ),
    case(
        "pipeline number of 5000 digits",
        ["opt", "good.onnx", "-o", "out.onnx", "-p", "split(max_pieces=" + "9" * 5000 + ")"],
        "pipeline:1:18: number too long",
    ),
    case(
        "unknown pass in -p", "opt good.onnx -o out.onnx -p strip-tag", "unknown pass 'strip-tag'"
    ),
    case("pipeline syntax", "opt good.onnx -o out.onnx -p remove-dead-code(", "pipeline:1:"),
    case("--dump-dir alone", "opt good.onnx -o out.onnx --dump-dir dumps", "--dump-dir needs"),
    case("output is the input", "opt good.onnx -o good.onnx", "good.onnx"),
    case("report over the model", "analyze good.onnx -o good.onnx", "good.onnx"),
    case(
        "comparison over an input",
        "compare good.onnx other.onnx --no-run -o other.onnx",
        "other.onnx",
    ),
    case("graphml output not .graphml", "graphml good.onnx -o good.xml", "should end in .graphml"),
]

CASES = ONNX + EXTERNAL_DATA + SPECS + MANIFESTS + GRAPHML + ARGUMENTS
# Run as a process through the installed console script: the same answers as main().
AS_PROCESS = {"FIFO as model", "spec not UTF-8, fmt", "negative --batch", "pieces is a number"}


def _snapshot(folder: Path) -> dict[str, str]:
    """Every entry under ``folder``: its kind, and for a regular file its sha256."""
    seen = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode):
                with open(path, "rb") as f:
                    seen[path] = hashlib.sha256(f.read()).hexdigest()
            elif stat.S_ISLNK(mode):
                seen[path] = "-> " + os.readlink(path)
            else:
                seen[path] = "dir" if stat.S_ISDIR(mode) else "special"
    return seen


def _run_in_process(argv: tuple[str, ...], capsys) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def _run_as_process(argv: tuple[str, ...]) -> tuple[int, str]:
    script = Path(sys.executable).with_name("hcc")
    result = subprocess.run([str(script), *argv], capture_output=True, text=True, timeout=120)
    return result.returncode, result.stderr


def test_the_corpus_is_large_and_its_cases_distinct():
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)
    assert AS_PROCESS <= {c.id for c in CASES}


@pytest.mark.parametrize("hostile", CASES, ids=[c.id for c in CASES])
def test_hostile_input_is_one_error_line_and_touches_nothing(hostile, corpus, monkeypatch, capsys):
    monkeypatch.chdir(corpus)
    before = _snapshot(corpus)
    if hostile.id in AS_PROCESS:
        code, err = _run_as_process(hostile.argv)
    else:
        code, err = _run_in_process(hostile.argv, capsys)
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("hcc: error:")]
    assert len(errors) == 1, err
    assert hostile.says in err, err
    assert code == 2
    assert _snapshot(corpus) == before
