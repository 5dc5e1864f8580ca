"""strip-tags: forget where nodes came from: every scope back to unknown, tag metadata gone."""

from __future__ import annotations

from hcc.ir import HIERARCHY_KEY, MODULE_KEY, NAMESPACE_KEY, TAG_KEY, Model, Scope

from ._infra import Pass, PassResult
from ._options import Option
from ._registry import register_pass

# The model-level module tree written beside the node tags (see compiler/frontend/hierarchy.py).
# What setting a node's scope writes, so also what resetting it removes.
_SCOPE_KEYS = (TAG_KEY, MODULE_KEY, NAMESPACE_KEY)


@register_pass("strip-tags", summary="reset every node's scope to unknown and remove tag metadata")
class StripTagsPass(Pass):
    """Set every node's scope (main graph, subgraphs, functions) to the unknown scope, which
    removes the ``hcc.tag``, ``hcc.module`` and ``namespace`` node metadata. ``keys`` names more
    metadata keys to drop, from nodes and from the model; ``hierarchy`` also drops the
    model-level module tree."""

    keys = Option(list[str], [], "more metadata keys to remove from every node and the model")
    hierarchy = Option(bool, True, "also remove the model's hcc.hierarchy module tree")

    def call(self, model: Model) -> PassResult:
        unknown = Scope.unknown()
        extra_keys = list(self.keys)
        changed = False
        for node in model.all_nodes():
            if not node.scope.is_unknown or _has_any(node.metadata_props, _SCOPE_KEYS):
                node.scope = unknown
                changed = True
            changed = _drop(node.metadata_props, extra_keys) or changed
        model_keys = extra_keys + ([HIERARCHY_KEY] if self.hierarchy else [])
        changed = _drop(model.metadata_props, model_keys) or changed
        return PassResult(model, changed)


def _has_any(metadata: dict[str, str], keys) -> bool:
    return any(key in metadata for key in keys)


def _drop(metadata: dict[str, str], keys: list[str]) -> bool:
    present = [key for key in keys if key in metadata]
    for key in present:
        del metadata[key]
    return bool(present)
