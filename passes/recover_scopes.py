"""``recover-scopes``: read the exporter's record of executing modules into node scopes.

Sources, tried in order for every node that has no scope yet:

``metadata``
    torch's dynamo exporter writes, per node, the stack of modules that ran it
    (``pkg.torch.onnx.class_hierarchy`` with ``pkg.torch.onnx.name_scopes``; torch's
    ``namespace`` as a fallback, unless the node has an ``hcc.tag``: then the namespace is the
    one hcc wrote). The stack is mapped to a scope by the tag rules in :mod:`hcc.passes._tag_rules`.
``node-names``
    the TorchScript exporter names nodes after the module path (``/encoder/layer.0/attention/
    self/MatMul``); with the module tree in the model's ``hcc.hierarchy`` metadata the longest
    known module path gives the scope. A file that carries no module tree (exported without
    hcc) gets its scopes from the names alone: one level per path segment, the module path
    ``encoder.layer.0.attention.self``, and, the classes being unknown, each level's segment as
    its class segment (``/main_graph/encoder/layer.0/attention/self``; the root is named after
    the graph). Such scopes split like any others: ``split(by='*.[0-9]*')`` picks the layers.

Nodes the exporter marked ``_empty_nn_module_stack_from_metadata_hook`` and nodes with no record
keep the unknown scope; ``tag-auxiliary`` and ``propagate-tags`` give them one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from hcc.ir import TAG_KEY, Model, Node, Scope

from ._infra import Pass, PassResult
from ._options import Option
from ._registry import register_pass
from ._tag_rules import ModuleTreeError, parse_module_tree, scope_from_stack, scopes_by_module_path

HIERARCHY_KEY = "hcc.hierarchy"
CLASS_HIERARCHY_KEY = "pkg.torch.onnx.class_hierarchy"
NAME_SCOPES_KEY = "pkg.torch.onnx.name_scopes"
NAMESPACE_KEY = "namespace"
EMPTY_STACK_MARK = "_empty_nn_module_stack_from_metadata_hook"
SOURCES = ("metadata", "node-names")


@register_pass("recover-scopes", summary="give nodes the scopes recorded by the exporter")
class RecoverScopesPass(Pass):
    sources = Option(
        list[str], list(SOURCES), "where to read scopes from, in order", choices=SOURCES
    )
    overwrite = Option(bool, False, "also replace scopes that nodes already have")

    def call(self, model: Model) -> PassResult:
        tree = None
        if HIERARCHY_KEY in model.metadata_props:
            tree = _load_hierarchy(model.metadata_props[HIERARCHY_KEY])
        by_path = tree if "node-names" in self.sources else None
        if by_path is None and "node-names" in self.sources:
            by_path = NamePaths(self._names_root(model), (n.name for n in model.all_nodes()))
        changed = False
        for node in model.all_nodes():
            if not node.scope.is_unknown and not self.overwrite:
                continue
            scope = None
            for source in self.sources:
                if source == "metadata":
                    scope = scope_from_metadata(node, tree)
                elif by_path is not None:
                    scope = scope_from_node_name(node.name, by_path)
                if scope is not None:
                    break
            if scope is not None and scope != node.scope:
                node.scope = scope
                changed = True
        return PassResult(model, changed)

    def _names_root(self, model: Model) -> Scope:
        """The root for scopes read from names alone: the root the model's scoped nodes already
        share (so that every scope has one root), else one named after the graph."""
        if not self.overwrite:
            for node in model.all_nodes():
                if not node.scope.is_unknown:
                    return node.scope.root_scope
        name = model.graph.name
        return Scope.root(name if name and "/" not in name else "model")


class NamePaths:
    """Scopes for module paths when no module tree is known: one level per path segment, the
    segment standing in for the unknown class (``layers.0`` reads like ``Class.0``).

    A numbered segment is an element of a list of repeated layers, except the one child of a
    container that runs its children itself: the container is then a level of its own, named
    as its child without the number, and the names hold no other number of it (the exporter
    names ``parametrizations.weight.0`` of a weight-normed convolution ``weight/weight.0``). A
    list that is never called is no level (ALBERT's one ``albert_layer_groups.0``, run for every
    layer, sits right under ``encoder``) and stays a layer. The one child adds no level, its
    nodes take the container's scope (as ``torch.nn``'s own modules take their parent's in
    the tag rules), so that a per-layer split does not take it for a layer."""

    def __init__(self, root: Scope, names: Iterable[str] = ()) -> None:
        self._scopes: dict[str, Scope] = {"": root}
        self._numbers: dict[tuple[str, str], set[str]] = {}
        for name in names:
            tokens = name_tokens(name) or []
            for i, token in enumerate(tokens):
                base, dot, number = token.rpartition(".")
                if dot and number.isdigit():
                    self._numbers.setdefault((".".join(tokens[:i]), base), set()).add(number)

    def scope_of(self, tokens: list[str]) -> Scope:
        scope = self._scopes[""]
        for i, token in enumerate(tokens):
            path = ".".join(tokens[: i + 1])
            known = self._scopes.get(path)
            if known is None:
                if self._lone_number(tokens[:i], token):
                    known = scope
                else:
                    known = scope.child(path, token)
                self._scopes[path] = known
            scope = known
        return scope

    def _lone_number(self, parent: list[str], token: str) -> bool:
        base, dot, number = token.rpartition(".")
        if not dot or not number.isdigit() or not parent or parent[-1] != base:
            return False
        numbers = self._numbers.get((".".join(parent), base))
        return numbers is not None and len(numbers) < 2


def _load_hierarchy(text: str) -> dict[str, Scope] | None:
    try:
        return scopes_by_module_path(parse_module_tree(text))
    except ModuleTreeError:
        return None  # a damaged tree is no reason to fail: fall back to other sources


def module_stack(node: Node) -> list[tuple[str, str]] | None:
    """The (module path, qualified class) stack the dynamo exporter recorded, root first.

    Returns None when the node carries no usable record.
    """
    props = node.metadata_props
    classes = _literal_list(props.get(CLASS_HIERARCHY_KEY))
    paths = _literal_list(props.get(NAME_SCOPES_KEY))
    if classes and paths and len(classes) == len(paths):
        # The last entry is the op itself (aten op, FX node name), not a module.
        stack = list(zip(paths[:-1], classes[:-1]))
    elif TAG_KEY not in props:
        # With hcc.tag present the namespace is hcc's own (it ends at the module, not at an op).
        stack = _stack_from_namespace(props.get(NAMESPACE_KEY, ""))
    else:
        stack = None
    if not stack or stack[0][1] == EMPTY_STACK_MARK or stack[0][0] == EMPTY_STACK_MARK:
        return None
    return stack


def scope_from_metadata(node: Node, tree: dict[str, Scope] | None = None) -> Scope | None:
    """The scope of the innermost module on the node's recorded stack. With the module tree
    known, it gives that module's scope: the exporter's stack may skip a level (a module whose
    forward hands its inputs straight to a child), which the tree has."""
    stack = module_stack(node)
    if not stack:
        return None
    if tree is not None and stack[-1][0] in tree:
        return tree[stack[-1][0]]
    return scope_from_stack(stack)


def _literal_list(text: str | None) -> list[str] | None:
    if not text:
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _stack_from_namespace(namespace: str) -> list[tuple[str, str]] | None:
    """Parse ``: pkg.Root/sub: pkg.Sub/op_name: aten.op`` (the last entry is the op)."""
    if not namespace:
        return None
    entries = []
    for entry in namespace.split("/"):
        path, sep, cls = entry.partition(": ")
        if not sep:
            return None
        entries.append((path, cls))
    return entries[:-1] or None


def name_tokens(name: str) -> list[str] | None:
    """The module path segments of a TorchScript-style node name (``/a/b.0/c/Op_3`` gives
    ``a``, ``b.0``, ``c``), None for a name of another form."""
    if not name.startswith("/"):
        return None
    return [token for token in name[1:].split("/")[:-1] if token]


def scope_from_node_name(name: str, by_path: dict[str, Scope] | NamePaths) -> Scope | None:
    """The scope for a TorchScript-style node name ``/a/b.0/c/Op_3`` via the module tree, or
    from the name alone (:class:`NamePaths`)."""
    tokens = name_tokens(name)
    if tokens is None:
        return None
    if isinstance(by_path, NamePaths):
        return by_path.scope_of(tokens)
    while True:
        path = ".".join(tokens)
        if path in by_path:
            return by_path[path]
        if not tokens:
            return None
        tokens.pop()
