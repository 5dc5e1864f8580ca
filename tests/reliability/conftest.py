"""Hostile and careless inputs for the reliability corpus, made from one tiny model.

The ``corpus`` fixture (:func:`make_corpus`) writes every file into one folder: damaged ONNX files, external data that
points where it must not, specs, manifests and GraphML that lie about their contents, and
special files (a FIFO, a symlink out of the folder). Everything is tiny, so the whole set is
written in well under a second.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper


def tiny_model(
    *, ir_version: int = 10, weight: TensorProto | None = None, input_dims: list | None = None
) -> onnx.ModelProto:
    """y = x @ w, with x of shape [batch, 4] and w a 4x4 float initializer."""
    if weight is None:
        weight = numpy_helper.from_array(np.arange(16, dtype=np.float32).reshape(4, 4), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_dims or ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [weight],
    )
    return helper.make_model(
        graph, ir_version=ir_version, opset_imports=[helper.make_opsetid("", 18)]
    )


def _weight() -> TensorProto:
    return numpy_helper.from_array(np.arange(16, dtype=np.float32).reshape(4, 4), "w")


def _external_weight(location: str, offset: int = 0, length: int | None = 64) -> TensorProto:
    weight = _weight()
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    entries = [("location", location), ("offset", str(offset))]
    if length is not None:
        entries.append(("length", str(length)))
    for key, value in entries:
        weight.external_data.add(key=key, value=value)
    return weight


def _replace_once(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) >= 1, old
    return data.replace(old, new, 1)


def _onnx_files(folder: Path) -> None:
    def save(name: str, model: onnx.ModelProto | bytes) -> None:
        blob = model if isinstance(model, bytes) else model.SerializeToString()
        (folder / name).write_bytes(blob)

    good = tiny_model()
    save("good.onnx", good)
    save("other.onnx", tiny_model())
    blob = good.SerializeToString()
    save("empty.onnx", b"")
    save("truncated.onnx", blob[: len(blob) // 2])
    save("garbage.onnx", bytes(range(256)) * 4)
    save("text.onnx", b"this is not a model\n")
    save("no-graph.onnx", onnx.ModelProto(ir_version=10))
    # Names that are not UTF-8: protobuf hands them over as bytes.
    save("bad-node-name.onnx", _replace_once(blob, b"mm", b"\xff\xfe"))
    save("bad-value-name.onnx", blob.replace(b"\n\x01x", b"\n\x01\xff"))
    save("bad-op-type.onnx", _replace_once(blob, b"MatMul", b"Mat\xfful"))
    meta = tiny_model()
    helper.set_model_props(meta, {"note": "caf\u00e9"})
    save(
        "bad-metadata.onnx",
        _replace_once(meta.SerializeToString(), "caf\u00e9".encode(), b"caf\xe9!"),
    )
    documented = tiny_model()
    documented.graph.node[0].doc_string = "docz"
    save("bad-doc.onnx", _replace_once(documented.SerializeToString(), b"docz", b"d\xffcz"))
    attributed = tiny_model()
    attributed.graph.node[0].attribute.append(helper.make_attribute("zzq", 1))
    save(
        "bad-attribute-name.onnx", _replace_once(attributed.SerializeToString(), b"zzq", b"z\xffq")
    )
    for name, tree in {
        "hierarchy-path-list": '{"path": 5, "qualified_class": []}',
        "hierarchy-children-int": '{"path": "", "qualified_class": "a.B", "children": 7}',
        "hierarchy-list": "[]",
    }.items():
        shaped = tiny_model()
        helper.set_model_props(shaped, {"hcc.hierarchy": tree})
        save(f"{name}.onnx", shaped)
    deep = tiny_model()
    helper.set_model_props(deep, {"hcc.hierarchy": "[" * 100_000 + "]" * 100_000})
    save("deep-hierarchy.onnx", deep)
    broken = tiny_model()
    helper.set_model_props(broken, {"hcc.hierarchy": "{not json"})
    save("broken-hierarchy.onnx", broken)
    # Tensors whose data does not fit their type and shape.
    huge = _weight()
    huge.ClearField("raw_data")
    del huge.dims[:]
    huge.dims.extend([10**9, 10**9])
    save("huge-dims.onnx", tiny_model(weight=huge))
    short = _weight()
    short.raw_data = b"\0" * 7
    save("short-data.onnx", tiny_model(weight=short))
    unknown = _weight()
    unknown.data_type = 99
    save("unknown-dtype.onnx", tiny_model(weight=unknown))
    negative = _weight()
    del negative.dims[:]
    negative.dims.extend([-4, -4])
    save("negative-dims.onnx", tiny_model(weight=negative))
    save("ir-version-99.onnx", tiny_model(ir_version=99))
    unknown_op = tiny_model()
    unknown_op.graph.node[0].op_type = "NoSuchOp"
    save("unknown-op.onnx", unknown_op)
    save("absurd-input.onnx", tiny_model(input_dims=[10**10, 4]))

    # External data.
    (folder / "w.bin").write_bytes(np.arange(16, dtype=np.float32).tobytes())
    save("ext-good.onnx", tiny_model(weight=_external_weight("w.bin")))
    save("ext-nul.onnx", tiny_model(weight=_external_weight("w\0.bin")))
    save("ext-absolute.onnx", tiny_model(weight=_external_weight("/etc/passwd")))
    save("ext-parent.onnx", tiny_model(weight=_external_weight("../w.bin")))
    save("ext-missing.onnx", tiny_model(weight=_external_weight("absent.bin")))
    save("ext-past-end.onnx", tiny_model(weight=_external_weight("w.bin", offset=32)))
    save("ext-short.onnx", tiny_model(weight=_external_weight("w.bin", length=8)))
    save("ext-bad-offset.onnx", tiny_model(weight=_external_weight("w.bin", offset="ten")))
    save("ext-folder.onnx", tiny_model(weight=_external_weight("sub", length=None)))
    save("ext-fifo.onnx", tiny_model(weight=_external_weight("pipe.bin", length=None)))
    save("ext-escape.onnx", tiny_model(weight=_external_weight("outside.bin")))
    ext_blob = tiny_model(weight=_external_weight("w\u00e9.bin")).SerializeToString()
    save("ext-not-utf8.onnx", _replace_once(ext_blob, "w\u00e9.bin".encode(), b"w\xe9!.bin"))
    (folder / "sub").mkdir()
    os.mkfifo(folder / "pipe.bin")
    os.mkfifo(folder / "model-fifo.onnx")


def _specs(folder: Path) -> None:
    def spec(name: str, text: str | bytes) -> None:
        path = folder / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)

    spec("not-utf8.hx", b'# caf\xe9\nmodel m from onnx "good.onnx"\n')
    spec("nul-output.hx", 'model m from onnx "good.onnx"\noutput "out\0put"\n')
    spec("newline-output.hx", 'model m from onnx "good.onnx"\noutput "out\\nput"\n')
    spec(
        "long-number.hx",
        'model m from onnx "good.onnx"\noutput "built" '
        "{ external_data_threshold = " + "9" * 5000 + " }\n",
    )
    spec("syntax.hx", 'model m from onnx "good.onnx" {{\n')
    spec("factory.hx", 'model m from factory "os:abort"\noutput "built"\n')
    spec("no-model.hx", "pipeline { remove-dead-code }\n")
    spec("include-outside.hx", 'include "../elsewhere.hx"\nmodel m from onnx "good.onnx"\n')
    spec(
        "deep-list.hx",
        'model m from onnx "good.onnx"\npipeline { strip-tags(keys = '
        + "[" * 50
        + "]" * 50
        + ") }\n",
    )
    spec("name-slash.hx", 'model m from onnx "good.onnx"\noutput "built" { name = "a/b" }\n')
    spec("missing-source.hx", 'model m from onnx "absent.onnx"\noutput "built"\n')
    spec(
        "unknown-pass.hx",
        'model m from onnx "good.onnx"\npipeline { remove-dead-cod }\noutput "built"\n',
    )
    spec(
        "validate-no-split.hx",
        'model m from onnx "good.onnx"\noutput "built" { validate = true }\n',
    )
    spec("param.hx", 'param n: int = 1\nmodel m from onnx "good.onnx"\noutput "built"\n')
    spec("damaged-source.hx", 'model m from onnx "truncated.onnx"\noutput "built"\n')
    spec("control-source.hx", 'model m from onnx "good\\t.onnx"\noutput "built"\n')
    os.mkfifo(folder / "fifo.hx")


def _manifests(folder: Path) -> None:
    (folder / "pieces").mkdir()

    def manifest(name: str, data: dict | str | bytes) -> None:
        path = folder / "pieces" / name
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data if isinstance(data, str) else json.dumps(data))

    (folder / "pieces" / "p.onnx").write_bytes(tiny_model().SerializeToString())
    base = {
        "format": "hcc.pieces/1",
        "model": "m",
        "whole": "p.onnx",
        "weights": None,
        "inputs": [{"name": "x"}],
        "outputs": [{"name": "y"}],
        "pieces": [{"name": "p", "file": "p.onnx", "inputs": [], "outputs": []}],
    }

    def changed(**fields) -> dict:
        return {**base, **fields}

    manifest("not-json.json", "{ this is not json")
    manifest("deep.json", '{"format": "hcc.pieces/1", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    manifest("wrong-format.json", changed(format="other/1"))
    manifest("pieces-int.json", changed(pieces=5))
    manifest("piece-int.json", changed(pieces=[5]))
    manifest("file-int.json", changed(pieces=[{"name": "p", "file": 3}]))
    manifest("file-absolute.json", changed(pieces=[{"name": "p", "file": "/etc/passwd"}]))
    manifest("whole-int.json", changed(whole=7))
    manifest("inputs-str.json", changed(inputs="x"))
    manifest("no-pieces.json", {k: v for k, v in base.items() if k != "pieces"})
    manifest("piece-missing.json", changed(pieces=[{"name": "p", "file": "absent.onnx"}]))
    manifest("not-utf8.json", b'{"format": "hcc.pieces/1", "model": "caf\xe9"}')
    manifest("list.json", "[1, 2, 3]")


def _graphml(folder: Path) -> None:
    import hcc.ir as ir
    from hcc.inspect.graphml import write_graphml

    model = ir.from_onnx(tiny_model())
    good = folder / "graph" / "good.graphml"
    good.parent.mkdir()
    write_graphml(model, str(good))
    text = good.read_text(encoding="utf-8")
    sidecar = (folder / "graph" / "good.onnxdata").read_bytes()

    def variant(name: str, new_text: str, *, with_sidecar: bytes | None = sidecar) -> None:
        (folder / "graph" / f"{name}.graphml").write_text(
            new_text.replace("good.onnxdata", f"{name}.onnxdata"), encoding="utf-8"
        )
        if with_sidecar is not None:
            (folder / "graph" / f"{name}.onnxdata").write_bytes(with_sidecar)

    def edit(old: str, new: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    (folder / "graph" / "not-xml.graphml").write_text("<graphml><unclosed>")
    (folder / "graph" / "other-xml.graphml").write_text("<svg></svg>")
    variant("not-hcc", edit("hcc.graphml/1", "yed/1"))
    variant("no-sidecar", text, with_sidecar=None)
    variant("short-sidecar", text, with_sidecar=sidecar[:-4])
    variant(
        "absurd-shape",
        edit('"shape": [4, 4], "name": "w"', '"shape": [1000000000000, 4], "name": "w"'),
    )
    variant("shape-text", edit('"shape": [4, 4], "name": "w"', '"shape": "four", "name": "w"'))
    variant("negative-offset", edit('"offset": 0, "length": 64', '"offset": -8, "length": 64'))
    variant("graph-not-json", edit('<data key="g_graph">{', '<data key="g_graph">{{'))
    variant(
        "graph-deep",
        edit(
            '<data key="g_graph">{"name": "g",',
            '<data key="g_graph">{"deep": ' + "[" * 100_000 + "]" * 100_000 + ', "name": "g",',
        ),
    )
    variant("initializers-int", edit('"initializers": [', '"initializers": 5, "x": ['))
    variant(
        "size-not-number",
        edit(f'<data key="g_sidecar_size">{len(sidecar)}<', '<data key="g_sidecar_size">many<'),
    )
    variant(
        "sidecar-parent",
        edit('<data key="g_sidecar">good.onnxdata<', '<data key="g_sidecar">../good.onnxdata<'),
    )
    node_start = text.index('<data key="n_onnx">') + len('<data key="n_onnx">')
    variant("node-not-json", text[:node_start] + "[" + text[node_start:])
    variant("node-int", text[:node_start] + "5" + text[text.index("<", node_start) :])


def make_corpus(folder: Path, outside: Path) -> Path:
    """Write every hostile file into ``folder``; ``outside`` is a folder beside it that a
    symlink points into."""
    folder.mkdir(parents=True, exist_ok=True)
    _onnx_files(folder)
    (outside / "outside.bin").write_bytes(bytes(64))
    os.symlink(outside / "outside.bin", folder / "outside.bin")
    _specs(folder)
    _manifests(folder)
    _graphml(folder)
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    (root / "outside").mkdir()
    return make_corpus(root / "corpus", root / "outside")
