"""Seed 003's JSON views of a BERT export, cross-checked against the ONNX file itself.

The file is read with onnx (not hcc) so that the check does not share hcc's reading of it.
"""

from __future__ import annotations

import json

import onnx
import pytest

import hcc.ir as ir
from hcc.cli import main
from hcc.inspect.dag import dag_data, hierarchy_data, op_metadata


@pytest.fixture(scope="module")
def bert(exported):
    path = exported("bert")
    proto = onnx.load(str(path), load_external_data=False)
    return path, proto


def _meta(entries) -> dict[str, str]:
    return {p.key: p.value for p in entries}


def _json(capsys, *argv):
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def _module_tags(tree: dict) -> set[str]:
    tags = {tree["tag"]} if not tree["builtin"] else set()
    for child in tree["children"]:
        tags |= _module_tags(child)
    return tags


def test_dag_has_an_entry_for_every_module_scope(bert, capsys):
    path, proto = bert
    dags = _json(capsys, "json", "dag", str(path))
    tree = json.loads(_meta(proto.metadata_props)["hcc.hierarchy"])
    node_tags = {_meta(n.metadata_props)["hcc.tag"] for n in proto.graph.node}
    assert set(dags) == _module_tags(tree) | node_tags
    assert len(dags) >= 10


def test_each_dag_holds_the_ops_of_its_module_and_submodules(bert, capsys):
    path, proto = bert
    dags = _json(capsys, "json", "dag", str(path))
    tags = {n.name: _meta(n.metadata_props)["hcc.tag"] for n in proto.graph.node}
    for key, dag in dags.items():
        expected = [name for name, tag in tags.items() if tag == key or tag.startswith(key + "/")]
        assert dag["nodes"] == expected, key


def test_dag_edges_are_exactly_the_tensors_between_ops_of_the_module(bert, capsys):
    path, proto = bert
    dags = _json(capsys, "json", "dag", str(path))
    made_by = {out: n.name for n in proto.graph.node for out in n.output if out}
    for key, dag in dags.items():
        inside = set(dag["nodes"])
        expected = []
        for node in proto.graph.node:
            if node.name not in inside:
                continue
            for name in node.input:
                source = made_by.get(name)
                if source in inside and [source, node.name] not in expected:
                    expected.append([source, node.name])
        assert dag["edges"] == expected, key
    root = dags[min(dags, key=lambda tag: tag.count("/"))]
    assert len(root["nodes"]) == len(proto.graph.node)


def test_own_only_dags_partition_the_nodes(bert):
    path, proto = bert
    dags = dag_data(ir.load(str(path)), own_only=True)
    names = [name for dag in dags.values() for name in dag["nodes"]]
    assert sorted(names) == sorted(n.name for n in proto.graph.node)


def test_dags_keyed_by_module_path_split_siblings_that_share_a_tag(exported):
    # Sibling modules of one class (e.g. two projections of one block) share a tag: keyed by
    # tag their DAGs merge, keyed by module path they stay apart.
    model = ir.load(str(exported("gpt2")))
    by_tag = dag_data(model, own_only=True)
    by_module = dag_data(model, own_only=True, key="module")
    paths_of: dict[str, set[str]] = {}
    for node in model.graph:
        paths_of.setdefault(node.scope.tag, set()).add(node.scope.module_path)
    shared = {tag: paths for tag, paths in paths_of.items() if len(paths) > 1}
    assert shared
    for tag, paths in shared.items():
        merged = [n for path in paths for n in by_module[path]["nodes"]]
        assert sorted(by_tag[tag]["nodes"]) == sorted(merged)


def test_op_metadata_covers_every_node_and_initializer(bert, capsys):
    path, proto = bert
    ops = _json(capsys, "json", "op-metadata", str(path))
    names = {n.name for n in proto.graph.node} | {t.name for t in proto.graph.initializer}
    assert set(ops) == names
    for node in proto.graph.node:
        entry = ops[node.name]
        meta = _meta(node.metadata_props)
        assert entry["op_type"] == node.op_type
        assert entry["inputs"] == list(node.input)
        assert entry["outputs"] == list(node.output)
        assert entry["tags"] == [meta["hcc.tag"]]
        assert entry["module"] == meta["hcc.module"]


def test_initializers_carry_every_scope_that_reads_them(bert, capsys):
    path, proto = bert
    ops = _json(capsys, "json", "op-metadata", str(path))
    readers: dict[str, list[str]] = {}
    for node in proto.graph.node:
        for name in node.input:
            tag = _meta(node.metadata_props)["hcc.tag"]
            if tag not in readers.setdefault(name, []):
                readers[name].append(tag)
    for tensor in proto.graph.initializer:
        entry = ops[tensor.name]
        assert entry["op_type"] == "Initializer"
        assert entry["tags"] == readers.get(tensor.name, [])
        assert entry["shape"] == list(tensor.dims)
        stored = _meta(tensor.metadata_props).get("hcc.scopes")
        if stored is not None:  # propagate-tags recorded the same readers
            assert sorted(json.loads(stored)) == sorted(entry["tags"])


def test_hierarchy_json_is_the_stored_module_tree(bert, capsys):
    path, proto = bert
    tree = _json(capsys, "json", "hierarchy", str(path))
    assert tree == json.loads(_meta(proto.metadata_props)["hcc.hierarchy"])


def test_hierarchy_is_derived_from_scopes_when_the_tree_is_missing(tiny_mlp):
    model = ir.load(str(tiny_mlp))
    del model.metadata_props["hcc.hierarchy"]
    tree = hierarchy_data(model)
    assert tree["derived"] is True and tree["tag"] == "/TinyMLP"
    assert [c["path"] for c in tree["children"]] == ["layers.0", "layers.1"]


def test_json_output_file(tiny_mlp, tmp_path, capsys):
    target = tmp_path / "ops.json"
    assert main(["json", "op-metadata", str(tiny_mlp), "-o", str(target)]) == 0
    data = json.loads(target.read_text())
    assert data["unused.bias"]["tags"] == []
    assert data["/layers.1/fc/Gemm"]["tags"] == ["/TinyMLP/MLPBlock.1"]
    assert op_metadata(ir.load(str(tiny_mlp))) == data
