"""``hcc export`` on the command line: sources, overrides, tasks, exporters, and one-line errors."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from hcc.cli import main

TINY = [
    "--set",
    "num_hidden_layers=1",
    "--set",
    "hidden_size=32",
    "--set",
    "num_attention_heads=2",
    "--set",
    "intermediate_size=64",
    "--set",
    "vocab_size=100",
]


def _tags(path) -> list[str | None]:
    proto = onnx.load(str(path), load_external_data=False)
    return [{p.key: p.value for p in n.metadata_props}.get("hcc.tag") for n in proto.graph.node]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A masked-LM BERT exported from its config with overrides (one export for the module)."""
    folder = tmp_path_factory.mktemp("cli-export")
    out = folder / "bert.onnx"
    code = main(["export", "bert", "-o", str(out), "--task", "masked-lm", *TINY])
    assert code == 0
    return out


def test_config_source_with_overrides_and_task_writes_a_tagged_model(exported):
    tags = _tags(exported)
    assert tags and None not in tags
    assert {t.split("/")[1] for t in tags} == {"BertForMaskedLM"}
    proto = onnx.load(str(exported))
    logits = proto.graph.output[0]
    assert logits.type.tensor_type.shape.dim[-1].dim_value == 100  # vocab_size override
    onnx.checker.check_model(str(exported), full_check=True)


def test_exported_file_runs_in_onnxruntime(exported):
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    feeds = {i.name: np.ones((3, 7), dtype=np.int64) for i in session.get_inputs()}
    (logits,) = session.run(None, feeds)
    assert logits.shape == (3, 7, 100)


def test_export_reports_what_it_wrote(tmp_path, capsys):
    out = tmp_path / "bert.onnx"
    assert main(["export", "bert", "-o", str(out), "--exporter", "torchscript", *TINY]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out} (")
    tags = _tags(out)
    assert None not in tags
    assert (tmp_path / "bert.onnx.data").exists()  # weights go beside the model


def test_onnx_source_keeps_the_tags_and_can_add_attributes(exported, tmp_path):
    out = tmp_path / "again.onnx"
    assert main(["export", str(exported), "-o", str(out), "--tag-attributes"]) == 0
    assert _tags(out) == _tags(exported)
    proto = onnx.load(str(out), load_external_data=False)
    for node in proto.graph.node:
        attributes = {a.name: a for a in node.attribute}
        tag = {p.key: p.value for p in node.metadata_props}["hcc.tag"]
        assert attributes["hierarchy_tag"].s.decode() == tag


# -- errors: exit 2, one line on stderr ---------------------------------------------------------


@pytest.mark.parametrize(
    "argv,message",
    [
        (["bertt"], "unknown model type 'bertt'; did you mean 'bert'"),
        (["bert", "--set", "num_hiden_layers=1"], "no option 'num_hiden_layers'; did you mean"),
        (
            ["bert", "--set", "num_hidden_layers"],
            "--set 'num_hidden_layers': write --set key=value",
        ),
        (["bert", "--task", "masked_lm"], "unknown task 'masked_lm'; did you mean 'masked-lm'"),
        (["no_such_pkg.models:make"], "cannot import factory module 'no_such_pkg.models'"),
        (["bert", "--input-text", "hello"], "example text needs a tokenizer"),
    ],
)
def test_bad_input_fails_with_one_line(tmp_path, capsys, argv, message):
    code = main(["export", *argv, "-o", str(tmp_path / "out.onnx")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("hcc: error: ")
    assert message in err
    assert not (tmp_path / "out.onnx").exists()


def test_output_over_the_input_is_refused(exported, capsys):
    assert main(["export", str(exported), "-o", str(exported)]) == 2
    assert "which this command reads" in capsys.readouterr().err
