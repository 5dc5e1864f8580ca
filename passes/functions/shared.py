"""What ``outline-functions`` and ``inline-functions`` share: the scheme for scopes inside
function bodies, the record a call site keeps, and a few graph walks.

Scopes in a function body are *relative*. A body is shared by every scope it was outlined from,
so it cannot hold any one instance's tags. Instead the body's nodes are tagged as if the
outlined module were the root of the model: a node of ``/GPT2Model/GPT2Block.3/GPT2Attention``
(module ``h.3.attn``) outlined from ``/GPT2Model/GPT2Block.3`` (module ``h.3``) gets the tag
``/GPT2Block/GPT2Attention`` and the module path ``attn`` in the body. The call node carries the
instance's own scope, so inlining rebuilds every absolute scope as *call-site scope + the part
of the relative scope below its root*. The ``namespace`` text is rebuilt the same way. A
function whose body follows this scheme says so with ``hcc.scope_root`` (the relative root's
tag) in its metadata; nodes of other functions take the call site's scope when inlined.

A call site may also keep a *record* (metadata ``hcc.outline``, JSON) of what its instance had
that the shared body does not: node and value names, node metadata that differs from the
body's, and the places of outside nodes that ran between the instance's nodes. Inlining applies
it, which is what makes ``inline-functions`` undo ``outline-functions`` exactly.
"""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Iterable, Iterator

from hcc.ir import MODULE_KEY, NAMESPACE_KEY, TAG_KEY, Graph, Node, Scope, Value, namespace_of

RECORD_KEY = "hcc.outline"  # on a call node: what its instance had that the body does not
ROOT_KEY = "hcc.scope_root"  # on a function: the tag its body's relative scopes start from
INITIALIZER_KEY = "hcc.initializer"  # on a body Constant: it was an initializer of the caller
SCOPE_KEYS = (TAG_KEY, MODULE_KEY, NAMESPACE_KEY)

_INDEX = re.compile(r"\.\d+$")


# ------------------------------------------------------------------------------------------------
# Relative scopes


def strip_index(class_segment: str) -> str:
    """``GPT2Block.3`` -> ``GPT2Block``: the class a ModuleList element shares with its peers."""
    return _INDEX.sub("", class_segment)


def relative_root(scope: Scope) -> Scope:
    """The root of the relative scopes of a body outlined from ``scope``."""
    return Scope.root(strip_index(scope.class_name), scope.qualified_class)


def join_path(base: str, rest: str) -> str:
    return f"{base}.{rest}" if base and rest else base or rest


def relative_path(path: str, base: str) -> str | None:
    """``h.3.attn`` below ``h.3`` is ``attn``; None if ``path`` is not below ``base``."""
    if not base:
        return path
    if path == base:
        return ""
    if path.startswith(base + "."):
        return path[len(base) + 1 :]
    return None


def relative_scope(scope: Scope, base: Scope, root: Scope) -> Scope | None:
    """``scope`` seen from ``base``, rooted at ``root``; None if it does not lie below ``base``
    or its module paths do not extend ``base``'s."""
    if scope.is_unknown or not scope.is_within(base):
        return None
    levels = list(scope.ancestors(include_self=True))[: scope.depth - base.depth]
    result = root
    for level in reversed(levels):
        path = relative_path(level.module_path, base.module_path)
        if path is None:
            return None
        result = result.child(path, level.class_name, level.qualified_class)
    return result


def absolute_scope(relative: Scope, base: Scope) -> Scope:
    """The inverse of :func:`relative_scope`: ``relative``'s levels below its root, put under
    ``base``."""
    levels = list(relative.ancestors(include_self=True))[: relative.depth]
    result = base
    for level in reversed(levels):
        result = result.child(
            join_path(base.module_path, level.module_path), level.class_name, level.qualified_class
        )
    return result


def _namespace_levels(text: str, scope: Scope) -> list[tuple[str, str]] | None:
    """The ``(module path, class)`` levels of a namespace text that matches ``scope``."""
    levels = text.split("/")
    if len(levels) != scope.depth + 1:
        return None
    chain = list(reversed(list(scope.ancestors(include_self=True))))
    parsed = []
    for level, owner in zip(levels, chain):
        path, sep, cls = level.partition(": ")
        if not sep or path != owner.module_path:
            return None
        parsed.append((path, cls))
    return parsed


def relative_namespace(text: str, scope: Scope, base: Scope) -> str | None:
    """A node's namespace text seen from ``base`` (paths relative, the first level ``base``'s)."""
    levels = _namespace_levels(text, scope)
    if levels is None or scope.depth < base.depth:
        return None
    first = levels[base.depth][1]
    if first == base.class_name:  # no qualified class: the segment, index and all
        first = strip_index(first)
    out = [f": {first}"]
    for path, cls in levels[base.depth + 1 :]:
        rest = relative_path(path, base.module_path)
        if rest is None:
            return None
        out.append(f"{rest}: {cls}")
    return "/".join(out)


def absolute_namespace(call_namespace: str, relative: str, call_module: str) -> str:
    """The inverse of :func:`relative_namespace` for a call site with the given namespace."""
    text = call_namespace
    for level in relative.split("/")[1:]:
        path, _, cls = level.partition(": ")
        text += f"/{join_path(call_module, path)}: {cls}"
    return text


def namespace_prefix(text: str | None, scope: Scope, depth: int) -> str | None:
    """The first ``depth + 1`` levels of a node's namespace text (its ancestor's namespace)."""
    if not text:
        return None
    levels = _namespace_levels(text, scope)
    if levels is None or depth > scope.depth:
        return None
    return "/".join(text.split("/")[: depth + 1])


# ------------------------------------------------------------------------------------------------
# Scopes and metadata of an inlined node


def inlined_scope(
    body_node: Node, call_scope: Scope, call_namespace: str | None, root_tag: str | None
) -> tuple[Scope, dict[str, str]]:
    """The scope and metadata a copy of ``body_node`` gets when inlined at a call site, before
    the call site's record is applied. ``root_tag`` is the function's ``hcc.scope_root``."""
    metadata = dict(body_node.metadata_props)
    body_scope = body_node.scope
    relative = (
        bool(root_tag) and not body_scope.is_unknown and body_scope.root_scope.tag == root_tag
    )
    namespace: str | None
    if relative and call_scope.is_unknown:
        # A relative tag is no tag of this model: better none than a wrong one.
        scope, namespace = call_scope, None
    elif relative:
        scope = absolute_scope(body_scope, call_scope)
        relative = metadata.get(NAMESPACE_KEY)
        namespace = (
            None
            if relative is None
            else absolute_namespace(
                call_namespace or namespace_of(call_scope), relative, call_scope.module_path
            )
        )
    elif not call_scope.is_unknown:
        # A function hcc did not write: its nodes belong to the module that called it.
        scope, namespace = call_scope, call_namespace or namespace_of(call_scope)
    else:
        scope, namespace = body_scope, metadata.get(NAMESPACE_KEY)
    if scope.is_unknown:
        for key in SCOPE_KEYS:
            metadata.pop(key, None)
    else:
        metadata[TAG_KEY] = scope.tag
        metadata[MODULE_KEY] = scope.module_path
        if namespace is None:
            metadata.pop(NAMESPACE_KEY, None)
        else:
            metadata[NAMESPACE_KEY] = namespace
    return scope, metadata


def set_scope_and_metadata(node: Node, scope: Scope, metadata: dict[str, str]) -> None:
    """Give ``node`` exactly this scope and metadata (the namespace text as given, not derived)."""
    node.metadata_props.clear()
    node.metadata_props.update(metadata)
    node.scope = scope  # writes tag, module and a derived namespace in place
    namespace = metadata.get(NAMESPACE_KEY)
    if namespace is None or scope.is_unknown:
        node.metadata_props.pop(NAMESPACE_KEY, None)
    else:
        node.metadata_props[NAMESPACE_KEY] = namespace


def metadata_diff(original: dict[str, str], rebuilt: dict[str, str]) -> dict[str, str | None]:
    """What to change in ``rebuilt`` to get ``original`` (None: drop the key)."""
    diff: dict[str, str | None] = {k: v for k, v in original.items() if rebuilt.get(k) != v}
    diff.update({k: None for k in rebuilt if k not in original})
    return diff


def apply_diff(
    metadata: dict[str, str], diff: dict[str, str | None], scope: Scope
) -> tuple[Scope, dict[str, str]]:
    """``metadata`` with ``diff`` applied; a changed tag or module path changes the scope too."""
    result = dict(metadata)
    for key, value in diff.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    if TAG_KEY in diff or MODULE_KEY in diff:
        try:
            scope = Scope.from_tag(result.get(TAG_KEY, ""), result.get(MODULE_KEY))
        except ValueError:
            pass  # a tag that is no tag stays plain metadata; the verifier will say so
    return scope, result


# ------------------------------------------------------------------------------------------------
# Records


def encode_record(record: dict) -> str:
    return json.dumps(record, separators=(",", ":"), sort_keys=True)


def decode_record(node: Node) -> dict | None:
    """The call's record; None when it keeps none (then inlined copies get fresh names)."""
    text = node.metadata_props.get(RECORD_KEY)
    if text is None:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


# ------------------------------------------------------------------------------------------------
# Walks


def walk(nodes: Iterable[Node]) -> tuple[list[Node], list[Value]]:
    """The nodes and the values they define, subgraphs included, in one fixed order.

    A body and every copy of it (or the instance it was made from) walk in step, so position
    ``i`` of one walk names the same node or value in the other.
    """
    out_nodes: list[Node] = []
    out_values: list[Value] = []

    def visit(node: Node) -> None:
        out_nodes.append(node)
        out_values.extend(node.outputs)
        for sub in node.subgraphs():
            out_values.extend(sub.inputs)
            inputs = {id(v) for v in sub.inputs}
            out_values.extend(v for v in sub.initializers.values() if id(v) not in inputs)
            for inner in sub.nodes:
                visit(inner)

    for node in nodes:
        visit(node)
    return out_nodes, out_values


def reads(node: Node) -> Iterator[Value]:
    """Values a node reads: its inputs and the outer values its subgraphs capture."""
    for value in node.inputs:
        if value is not None:
            yield value
    subs = list(node.subgraphs())
    if not subs:
        return
    defined = {id(v) for sub in subs for g in sub.subgraphs(include_self=True) for v in g.values()}
    for sub in subs:
        for inner in sub.all_nodes():
            for value in inner.inputs:
                if value is not None and id(value) not in defined:
                    yield value


def top_level(node: Node, graph: Graph) -> Node:
    """The node of ``graph`` that is ``node`` or holds it in a subgraph."""
    while node.graph is not None and node.graph is not graph and node.graph.parent is not None:
        node = node.graph.parent
    return node


def stable_topological_sort(graph: Graph) -> None:
    """Reorder ``graph`` so every node follows what it reads, moving as little as possible:
    among the nodes that are ready, the one that came first goes first."""
    nodes = list(graph.nodes)
    index = {id(n): i for i, n in enumerate(nodes)}
    waiting = [0] * len(nodes)
    readers: list[list[int]] = [[] for _ in nodes]
    for i, node in enumerate(nodes):
        producers = set()
        for value in reads(node):
            producer = value.producer
            if producer is not None:
                j = index.get(id(top_level(producer, graph)))
                if j is not None and j != i:
                    producers.add(j)
        waiting[i] = len(producers)
        for j in producers:
            readers[j].append(i)
    ready = [i for i in range(len(nodes)) if waiting[i] == 0]
    heapq.heapify(ready)
    order: list[Node] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(nodes[i])
        for j in readers[i]:
            waiting[j] -= 1
            if waiting[j] == 0:
                heapq.heappush(ready, j)
    if len(order) != len(nodes):
        raise AssertionError("the graph has a cycle after outlining")
    if any(a is not b for a, b in zip(order, nodes)):
        graph.sort_nodes(order)


def is_topologically_sorted(order: list[Node], graph: Graph) -> bool:
    seen: set[int] = set()
    members = {id(n) for n in order}
    for node in order:
        for value in reads(node):
            producer = value.producer
            if producer is None:
                continue
            owner = top_level(producer, graph)
            if id(owner) in members and id(owner) not in seen and owner is not node:
                return False
        seen.add(id(node))
    return True


# ------------------------------------------------------------------------------------------------
# Names


def unique_name(base: str, taken: set[str]) -> str:
    """``base``, or ``base_2``, ``base_3``... whichever is free first; the result is taken."""
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name


def value_names(graph: Graph) -> set[str]:
    """Every value name defined or listed in ``graph`` and the graphs nested in it."""
    names: set[str] = set()
    for g in graph.subgraphs(include_self=True):
        names.update(v.name for v in g.values() if v.name)
        names.update(v.name for v in g.outputs if v.name)
    return names


def node_names(graph: Graph) -> set[str]:
    return {n.name for n in graph.all_nodes() if n.name}
