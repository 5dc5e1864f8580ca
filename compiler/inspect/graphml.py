"""GraphML for yEd: one group node per module scope, one node per op, weights in a sidecar.

Layout of the file (yEd's conventions, so yEd opens it with collapsible groups):

* every module scope that holds ops is a node with ``yfiles.foldertype="group"`` whose nested
  ``<graph>`` holds its ops and its submodules' groups; node ids are yEd's nested ids
  (``n0::n3::n1``);
* op nodes carry ``op_type``, ``hierarchy_tag``, ``module_path``, ``name`` and shape strings as
  plain GraphML data, plus ``y:ShapeNode`` graphics for the label; graph inputs and outputs are
  nodes of ``kind`` ``input``/``output``; edges (all in the top graph, as yEd writes them) join
  producer and consumer and carry the tensor's name, type and shape;
* what a viewer does not need but the way back does lives in JSON data fields: ``onnx_node``
  per op, and on the top graph ``onnx_model``, ``onnx_graph`` (inputs, outputs, initializers,
  value_info) and ``onnx_functions``. Tensor bytes live in ``NAME.onnxdata``; the GraphML
  records its file name, size and sha256 so a sidecar of another export is refused.

``hcc import-graphml`` (:mod:`.graphml_import`) rebuilds the model from these two files.
"""

from __future__ import annotations

import io
import json
import os
import re
import xml.etree.ElementTree as ET

from hcc.ir import Model, Node, Scope, Value
from hcc.ir import node_reads as _reads
from hcc.ir import owner_in as _top_owner
from hcc.ir.files import FileGroup

from ..outputs import sidecar_path
from ._encoder import Encoder
from ._serial import Sidecar

FORMAT = "hcc.graphml/1"
NS = "http://graphml.graphdrawing.org/xmlns"
NS_Y = "http://www.yworks.com/xml/graphml"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA = "http://graphml.graphdrawing.org/xmlns http://www.yworks.com/xml/schema/graphml/1.1/ygraphml.xsd"

# (id, for, name, type): the data keys. Ids are short and fixed so files diff well.
KEYS = [
    ("g_format", "graph", "format", "string"),
    ("g_model", "graph", "onnx_model", "string"),
    ("g_graph", "graph", "onnx_graph", "string"),
    ("g_functions", "graph", "onnx_functions", "string"),
    ("g_sidecar", "graph", "sidecar", "string"),
    ("g_sidecar_size", "graph", "sidecar_size", "long"),
    ("g_sidecar_sha256", "graph", "sidecar_sha256", "string"),
    ("n_kind", "node", "kind", "string"),
    ("n_name", "node", "name", "string"),
    ("n_op_type", "node", "op_type", "string"),
    ("n_tag", "node", "hierarchy_tag", "string"),
    ("n_module", "node", "module_path", "string"),
    ("n_class", "node", "module_class", "string"),
    ("n_inputs", "node", "input_shapes", "string"),
    ("n_outputs", "node", "output_shapes", "string"),
    ("n_weights", "node", "weights", "string"),
    ("n_order", "node", "order", "int"),
    ("n_onnx", "node", "onnx_node", "string"),
    ("e_tensor", "edge", "tensor", "string"),
    ("e_dtype", "edge", "dtype", "string"),
    ("e_shape", "edge", "shape", "string"),
]
GRAPHICS_NODE, GRAPHICS_EDGE = "n_graphics", "e_graphics"

# XML 1.0 cannot hold most control characters, even escaped; labels must not carry them.
_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def write_graphml(model: Model, path: str) -> tuple[str, str]:
    """Write ``path`` and its sidecar; returns both paths. Both appear only when complete."""
    path = os.fspath(path)
    data_path = sidecar_path(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with FileGroup() as group:
        sidecar = Sidecar(group.create(data_path))
        try:
            tree = _Writer(model, Encoder(sidecar)).document()
        finally:
            digest = sidecar.close()
        graph = tree.getroot().find(f"{{{NS}}}graph")
        _data(graph, "g_sidecar", os.path.basename(data_path))
        _data(graph, "g_sidecar_size", str(sidecar.size))
        _data(graph, "g_sidecar_sha256", digest)
        ET.indent(tree, space=" ")
        document = io.BytesIO()
        tree.write(document, encoding="utf-8", xml_declaration=True)
        group.add_bytes(path, document.getbuffer())  # after its sidecar: renamed after it
        group.commit()
    return path, data_path


def _data(parent: ET.Element, key: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{NS}}}data", key=key)
    element.text = text
    return element


def _clean(text: str) -> str:
    return _BAD_XML.sub("?", text)


def _type_text(value: Value | None) -> str:
    if value is None:
        return ""
    return str(value.type) if value.type is not None else "?"


class _Writer:
    def __init__(self, model: Model, encoder: Encoder) -> None:
        self.model = model
        self.encoder = encoder
        self.ids: dict[Node | str, str] = {}  # op nodes, and "in:<key>" / "out:<i>" nodes
        self._counts: dict[str, int] = {}  # children made so far, per parent id

    def _new_id(self, parent_id: str) -> str:
        index = self._counts.get(parent_id, 0)
        self._counts[parent_id] = index + 1
        return f"{parent_id}::n{index}" if parent_id else f"n{index}"

    def document(self) -> ET.ElementTree:
        ET.register_namespace("", NS)
        ET.register_namespace("y", NS_Y)
        ET.register_namespace("xsi", NS_XSI)
        root = ET.Element(f"{{{NS}}}graphml", {f"{{{NS_XSI}}}schemaLocation": SCHEMA})
        for key, kind, name, type_ in KEYS:
            ET.SubElement(
                root,
                f"{{{NS}}}key",
                {"id": key, "for": kind, "attr.name": name, "attr.type": type_},
            )
        ET.SubElement(
            root,
            f"{{{NS}}}key",
            {"id": GRAPHICS_NODE, "for": "node", "yfiles.type": "nodegraphics"},
        )
        ET.SubElement(
            root,
            f"{{{NS}}}key",
            {"id": GRAPHICS_EDGE, "for": "edge", "yfiles.type": "edgegraphics"},
        )
        graph = ET.SubElement(root, f"{{{NS}}}graph", id="G", edgedefault="directed")
        self._header(graph)
        self._body(graph)
        return ET.ElementTree(root)

    def _header(self, graph: ET.Element) -> None:
        model = self.model
        _data(graph, "g_format", FORMAT)
        _data(
            graph,
            "g_model",
            json.dumps(
                {
                    "ir_version": model.ir_version,
                    "opsets": model.opset_imports,
                    "producer_name": model.producer_name,
                    "producer_version": model.producer_version,
                    "domain": model.domain,
                    "model_version": model.model_version,
                    "doc": model.doc_string,
                    "metadata": model.metadata_props,
                }
            ),
        )
        _data(graph, "g_graph", json.dumps(self.encoder.graph(model.graph, with_nodes=False)))
        _data(
            graph,
            "g_functions",
            json.dumps([self.encoder.function(f) for f in model.functions.values()]),
        )

    def _body(self, top: ET.Element) -> None:
        graph = self.model.graph
        for index, value in enumerate(graph.inputs):
            self._io_node(top, f"in:{self.encoder.key(value)}", "input", value, index)
        groups: dict[Scope, ET.Element] = {}
        group_ids: dict[Scope, str] = {}

        def container(scope: Scope) -> tuple[ET.Element, str]:
            if scope.is_unknown:
                return top, ""
            if scope not in groups:
                parent, parent_id = container(scope.parent) if scope.parent else (top, "")
                groups[scope], group_ids[scope] = self._group(parent, parent_id, scope)
            return groups[scope], group_ids[scope]

        for order, node in enumerate(graph):
            inner, inner_id = container(node.scope)
            self._op_node(inner, inner_id, node, order)
        for index, value in enumerate(graph.outputs):
            self._io_node(top, f"out:{index}", "output", value, index)
        self._edges(top)

    def _group(self, parent: ET.Element, parent_id: str, scope: Scope) -> tuple[ET.Element, str]:
        group_id = self._new_id(parent_id)
        element = ET.SubElement(
            parent, f"{{{NS}}}node", {"id": group_id, "yfiles.foldertype": "group"}
        )
        _data(element, "n_kind", "module")
        _data(element, "n_tag", scope.tag)
        _data(element, "n_module", scope.module_path)
        _data(element, "n_class", scope.qualified_class or scope.class_name)
        label = scope.class_name + (f" ({scope.module_path})" if scope.module_path else "")
        _group_graphics(_data(element, GRAPHICS_NODE, None), _clean(label))
        inner = ET.SubElement(element, f"{{{NS}}}graph", id=f"{group_id}:", edgedefault="directed")
        return inner, group_id

    def _op_node(self, parent: ET.Element, parent_id: str, node: Node, order: int) -> None:
        node_id = self._new_id(parent_id)
        self.ids[node] = node_id
        element = ET.SubElement(parent, f"{{{NS}}}node", id=node_id)
        _data(element, "n_kind", "op")
        _data(element, "n_name", _clean(node.name))
        _data(element, "n_op_type", _clean(node.op_type))
        _data(element, "n_tag", node.scope.tag)
        _data(element, "n_module", node.scope.module_path)
        _data(element, "n_inputs", "; ".join(_type_text(v) for v in node.inputs))
        _data(element, "n_outputs", "; ".join(_type_text(v) for v in node.outputs))
        weights = [v.name for v in node.inputs if v is not None and v.is_initializer]
        if weights:
            _data(element, "n_weights", _clean(", ".join(weights)))
        _data(element, "n_order", str(order))
        _data(element, "n_onnx", json.dumps(self.encoder.node(node)))
        _shape_graphics(_data(element, GRAPHICS_NODE, None), _clean(node.op_type), "#FFCC00")

    def _io_node(self, parent: ET.Element, ident: str, kind: str, value: Value, index: int) -> None:
        node_id = self._new_id("")
        self.ids[ident] = node_id
        element = ET.SubElement(parent, f"{{{NS}}}node", id=node_id)
        _data(element, "n_kind", kind)
        _data(element, "n_name", _clean(value.name))
        _data(element, "n_outputs" if kind == "input" else "n_inputs", _type_text(value))
        _data(element, "n_order", str(index))
        color = "#CCFFCC" if kind == "input" else "#CCE5FF"
        _shape_graphics(
            _data(element, GRAPHICS_NODE, None), _clean(value.name or kind), color, shape="ellipse"
        )

    def _edges(self, top: ET.Element) -> None:
        graph = self.model.graph
        inputs = {id(v): self.ids[f"in:{self.encoder.key(v)}"] for v in graph.inputs}
        count = 0

        def source_of(value: Value) -> str | None:
            if value.producer is not None:
                return self.ids.get(_top_owner(value.producer, graph))
            return inputs.get(id(value))

        def edge(source: str, target: str, value: Value) -> None:
            nonlocal count
            element = ET.SubElement(
                top, f"{{{NS}}}edge", id=f"e{count}", source=source, target=target
            )
            count += 1
            _data(element, "e_tensor", _clean(value.name))
            dtype = getattr(getattr(value.type, "dtype", None), "name", "")
            _data(element, "e_dtype", dtype.lower())
            shape = getattr(value.type, "shape", None)
            _data(
                element,
                "e_shape",
                ""
                if shape is None
                else "[" + ",".join("?" if d is None else str(d) for d in shape) + "]",
            )
            _edge_graphics(_data(element, GRAPHICS_EDGE, None))

        for node in graph:
            seen: set[int] = set()
            for value in _reads(node):
                source = source_of(value)
                if source is None or id(value) in seen or source == self.ids[node]:
                    continue
                seen.add(id(value))
                edge(source, self.ids[node], value)
        for index, value in enumerate(graph.outputs):
            source = source_of(value)
            if source is not None:
                edge(source, self.ids[f"out:{index}"], value)


# -- yEd graphics ---------------------------------------------------------------------------------
# Only what yEd needs to draw: a label, a size and a fill. Positions are all zero: yEd's
# Layout menu (hierarchical) places everything.


def _y(parent: ET.Element, tag: str, **attributes) -> ET.Element:
    return ET.SubElement(parent, f"{{{NS_Y}}}{tag}", {k: str(v) for k, v in attributes.items()})


def _shape_graphics(data: ET.Element, label: str, color: str, *, shape: str = "roundrectangle"):
    node = _y(data, "ShapeNode")
    width = max(60, 8 * len(label) + 20)
    _y(node, "Geometry", height="30.0", width=f"{width}.0", x="0.0", y="0.0")
    _y(node, "Fill", color=color, transparent="false")
    _y(node, "BorderStyle", color="#000000", type="line", width="1.0")
    _y(node, "NodeLabel", alignment="center", autoSizePolicy="content").text = label
    _y(node, "Shape", type=shape)


def _group_graphics(data: ET.Element, label: str) -> None:
    proxy = _y(data, "ProxyAutoBoundsNode")
    realizers = _y(proxy, "Realizers", active="0")
    for closed in ("false", "true"):  # yEd wants the open and the folded look
        group = _y(realizers, "GroupNode")
        _y(group, "Geometry", height="80.0", width="160.0", x="0.0", y="0.0")
        _y(group, "Fill", color="#F5F5F5" if closed == "false" else "#E8EEF7", transparent="false")
        _y(group, "BorderStyle", color="#000000", type="dashed", width="1.0")
        _y(
            group,
            "NodeLabel",
            alignment="right",
            autoSizePolicy="node_width",
            backgroundColor="#EBEBEB",
            modelName="internal",
            modelPosition="t",
        ).text = label
        _y(group, "Shape", type="roundrectangle")
        _y(
            group,
            "State",
            closed=closed,
            closedHeight="50.0",
            closedWidth="120.0",
            innerGraphDisplayEnabled="false",
        )
        _y(group, "Insets", bottom="15", left="15", right="15", top="15")
        _y(group, "BorderInsets", bottom="0", left="0", right="0", top="0")


def _edge_graphics(data: ET.Element) -> None:
    edge = _y(data, "PolyLineEdge")
    _y(edge, "LineStyle", color="#000000", type="line", width="1.0")
    _y(edge, "Arrows", source="none", target="standard")
    _y(edge, "BendStyle", smoothed="false")
