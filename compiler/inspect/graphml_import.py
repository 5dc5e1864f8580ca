"""``hcc import-graphml``: rebuild the ONNX model from hcc's GraphML and its weights sidecar.

Only the JSON data fields are read (``onnx_node`` per op, ``onnx_model``/``onnx_graph``/
``onnx_functions`` on the top graph); the groups, edges and graphics are for viewers. Ops are
put back in their recorded ``order``, so moving nodes around in yEd changes nothing. Tensors
are memory-mapped from the sidecar; saving the model copies them into the new file's data.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

import hcc.ir as ir
from hcc.ir import Model
from hcc.ir.reading import read_bytes

from ._decoder import Decoder
from ._serial import GraphMLError, file_digest
from .graphml import FORMAT, NS


def read_graphml(path: str, *, check_digest: bool = True) -> Model:
    """The model of an hcc GraphML file. Its large tensors are memory-mapped from the sidecar,
    so save it with an ``external_data`` name of its own (the sidecar stays untouched)."""
    path = os.fspath(path)
    data = read_bytes(path, what="GraphML file", error=GraphMLError)
    try:
        root = ET.fromstring(data)
    except ET.ParseError as error:
        raise GraphMLError(f"not a GraphML file (XML error: {error})", location=path) from None
    if root.tag != f"{{{NS}}}graphml":
        if _local(root.tag) == "graphml":
            raise GraphMLError(
                f"the <graphml> element lacks the GraphML namespace {NS!r}", location=path
            )
        raise GraphMLError(f"not a GraphML file (root element <{_local(root.tag)}>)", location=path)
    keys = {k.get("id"): k.get("attr.name") for k in root.findall(f"{{{NS}}}key")}
    graph = root.find(f"{{{NS}}}graph")
    if graph is None:
        raise GraphMLError("the GraphML file holds no graph", location=path)
    header = _data(graph, keys)
    if header.get("format") != FORMAT:
        raise GraphMLError(
            f"this GraphML was not written by hcc (no '{FORMAT}' format mark); only hcc's "
            "GraphML carries what it takes to rebuild the ONNX model",
            location=path,
        )
    for needed in ("onnx_model", "onnx_graph", "sidecar", "sidecar_size"):
        if needed not in header:
            raise GraphMLError(f"the GraphML lacks its {needed!r} data", location=path)
    try:
        data_path = _check_sidecar(path, header, check_digest)
    except (TypeError, ValueError) as error:
        raise GraphMLError(
            f"damaged sidecar data in the GraphML: {_short(error)}", location=path
        ) from None
    nodes = []
    for element in graph.iter(f"{{{NS}}}node"):
        fields = _data(element, keys)
        if fields.get("kind") != "op":
            continue
        try:
            nodes.append((int(fields["order"]), json.loads(fields["onnx_node"])))
        except (KeyError, ValueError, RecursionError) as error:
            raise GraphMLError(
                f"op node {element.get('id')!r} has no readable onnx_node/order data ({error})",
                location=path,
            ) from None
    nodes.sort(key=lambda item: item[0])
    try:
        return _rebuild(
            header, [record for _, record in nodes], data_path, int(header["sidecar_size"])
        )
    except GraphMLError as error:
        raise GraphMLError(error.message, location=path) from None
    except ir.HccError as error:  # a tensor record the sidecar or the IR refuses
        raise GraphMLError(f"damaged hcc GraphML data: {error}", location=path) from None
    except (
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
        IndexError,
        OverflowError,
        RecursionError,
    ) as error:
        # The JSON records are read as hcc wrote them; any other shape is damage.
        raise GraphMLError(
            f"damaged hcc GraphML data: {type(error).__name__}: {_short(error)}", location=path
        ) from None


def _rebuild(header: dict, nodes: list[dict], data_path: str, size: int) -> Model:
    decoder = Decoder(data_path, size)
    info = json.loads(header["onnx_model"])
    graph = decoder.graph(json.loads(header["onnx_graph"]), nodes=nodes)
    functions = [decoder.function(f) for f in json.loads(header.get("onnx_functions", "[]"))]
    return Model(
        graph,
        ir_version=info["ir_version"],
        opset_imports=info["opsets"],
        producer_name=info.get("producer_name", ""),
        producer_version=info.get("producer_version", ""),
        domain=info.get("domain", ""),
        model_version=info.get("model_version", 0),
        doc_string=info.get("doc", ""),
        metadata_props=info.get("metadata"),
        functions=functions,
    )


def _check_sidecar(path: str, header: dict, check_digest: bool) -> str:
    name = header["sidecar"]
    if os.path.basename(name) != name or name in ("", ".", ".."):
        raise GraphMLError(f"sidecar name {name!r} is not a plain file name", location=path)
    data_path = os.path.join(os.path.dirname(os.path.abspath(path)), name)
    if not os.path.isfile(data_path):
        raise GraphMLError(
            f"the weights sidecar {name!r} is missing; it must sit beside the GraphML "
            "(copy both files together)",
            location=path,
        )
    expected = int(header["sidecar_size"])
    actual = os.path.getsize(data_path)
    if actual != expected:
        raise GraphMLError(
            f"the sidecar {name!r} has {actual} bytes but this GraphML was written with "
            f"{expected}: it belongs to another export",
            location=path,
        )
    digest = header.get("sidecar_sha256")
    if check_digest and digest and file_digest(data_path) != digest:
        raise GraphMLError(
            f"the sidecar {name!r} does not match this GraphML (sha256 differs): it belongs "
            "to another export or was modified",
            location=path,
        )
    return data_path


def _data(element: ET.Element, keys: dict) -> dict[str, str]:
    """The element's own GraphML data, by key name (graphics and nested data excluded)."""
    fields = {}
    for data in element.findall(f"{{{NS}}}data"):
        name = keys.get(data.get("key"))
        if name is not None and len(data) == 0:
            fields[name] = data.text or ""
    return fields


def _short(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 200 else text[:197] + "..."


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def import_graphml(path: str, output: str) -> Model:
    """Read ``path`` and write the rebuilt model to ``output`` (weights in ``output.data``)."""
    model = read_graphml(path)
    folder = os.path.dirname(os.path.abspath(output))
    os.makedirs(folder, exist_ok=True)
    ir.save(model, output, external_data=f"{os.path.basename(output)}.data")
    return model
