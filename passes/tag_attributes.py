"""``tag-attributes``: copy each node's scope into node attributes, as seed 002's tools read them.

This is **not standard ONNX**, and it is off by default: the standard home of a tag is the node's
``metadata_props`` (``hcc.tag``, ``hcc.module``, ``namespace``), which every tool accepts. An
operator's schema lists the attributes it takes, and both ``onnx.checker.check_model`` and
onnxruntime refuse a node of the standard domain with any other attribute
("Unrecognized attribute: hierarchy_tag for operator Add"). A file written with this pass is for
viewers and for tools that look for these attributes; run it again with ``remove=true`` (or
export without it) to get a file that the checker and runtimes accept.

Attributes written on every node that has a scope:

``hierarchy_tag`` (string)
    the tag, e.g. ``/BertModel/BertEncoder/BertLayer.0/BertAttention``.
``hierarchy_path`` (string)
    seed 002's "primary path": the same class path as ``hierarchy_tag``.
``hierarchy_tags`` (strings)
    seed 002's list of paths; one entry, since every node has exactly one scope.
``hierarchy_count`` (int)
    the number of entries in ``hierarchy_tags`` (1).
``hierarchy_method`` (string)
    ``recorded`` when the exporter's own record (the dynamo module stack, or a TorchScript node
    name read through ``hcc.hierarchy``) gives exactly this scope, ``inferred`` when the tagging
    rules of ``tag-auxiliary``/``propagate-tags`` chose it.
``hierarchy_module`` (string)
    the module's attribute path, e.g. ``encoder.layer.0.attention`` (hcc's addition).
"""

from __future__ import annotations

from hcc.ir import Attr, Model, Node

from ._infra import Pass, PassResult
from ._options import Option
from ._registry import register_pass
from ._tag_rules import ModuleTreeError, parse_module_tree, scopes_by_module_path
from .recover_scopes import HIERARCHY_KEY, scope_from_metadata, scope_from_node_name

ATTRIBUTES = (
    "hierarchy_tag",
    "hierarchy_path",
    "hierarchy_tags",
    "hierarchy_count",
    "hierarchy_method",
    "hierarchy_module",
)


@register_pass(
    "tag-attributes",
    summary="copy node tags into seed-002 style node attributes (non-standard ONNX)",
)
class TagAttributesPass(Pass):
    """Write each node's tag as node attributes ``hierarchy_tag``, ``hierarchy_path``,
    ``hierarchy_tags``, ``hierarchy_count``, ``hierarchy_method`` and ``hierarchy_module``.
    Non-standard: onnx.checker and onnxruntime reject standard-domain nodes that carry them.
    Nodes without a scope get none (stale ones are removed). ``remove`` deletes them."""

    attributes = Option(
        list[str], list(ATTRIBUTES), "which attributes to write", choices=ATTRIBUTES
    )
    remove = Option(bool, False, "remove the attributes instead of writing them")

    def call(self, model: Model) -> PassResult:
        names = list(self.attributes)
        by_path = _module_paths(model)
        changed = False
        for node in model.all_nodes():
            if self.remove or node.scope.is_unknown:
                changed |= _drop(node, names)
                continue
            wanted = attribute_values(node, by_path)
            for name in names:
                attr = wanted[name]
                old = node.attributes.get(name)
                if old is None or old.type != attr.type or old.value != attr.value:
                    node.attributes[name] = attr
                    changed = True
        return PassResult(model, changed)


def attribute_values(node: Node, by_path) -> dict[str, Attr]:
    """Every tag attribute of ``node`` (which has a scope), by name."""
    scope = node.scope
    recorded = scope_from_metadata(node)
    if recorded is None and by_path is not None:
        recorded = scope_from_node_name(node.name, by_path)
    return {
        "hierarchy_tag": Attr.string("hierarchy_tag", scope.tag),
        "hierarchy_path": Attr.string("hierarchy_path", scope.tag),
        "hierarchy_tags": Attr.strings("hierarchy_tags", [scope.tag]),
        "hierarchy_count": Attr.int("hierarchy_count", 1),
        "hierarchy_method": Attr.string(
            "hierarchy_method", "recorded" if recorded == scope else "inferred"
        ),
        "hierarchy_module": Attr.string("hierarchy_module", scope.module_path),
    }


def _module_paths(model: Model):
    text = model.metadata_props.get(HIERARCHY_KEY)
    if not text:
        return None
    try:
        return scopes_by_module_path(parse_module_tree(text))
    except ModuleTreeError:
        return None


def _drop(node: Node, names: list[str]) -> bool:
    present = [n for n in names if n in node.attributes]
    for name in present:
        del node.attributes[name]
    return bool(present)


__all__ = ["ATTRIBUTES", "TagAttributesPass", "attribute_values"]
