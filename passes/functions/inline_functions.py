"""``inline-functions``: replace calls of model-local functions by copies of their bodies.

Works for any model-local function, whoever wrote it. A call's inputs take the place of the
function's inputs (a missing optional input stays missing), attributes that refer to the
call's attributes (``ref_attr_name``) take the call's value or the function's default, or are
left out, as ONNX specifies. Calls inside the copied body, inside subgraphs and inside other
functions' bodies are inlined too; inlined functions nothing calls any more are removed, and so
is the opset import of a domain left without functions or nodes.

Scopes: a copied node gets the call site's scope. For a function ``outline-functions`` wrote
(its metadata holds ``hcc.scope_root``) the body's relative scopes extend the call site's, and
the call's record restores the instance's names, metadata and node order, so inlining undoes
outlining node for node. Other copies get fresh names, ``<call name>/<name in body>``, made
unique.
"""

from __future__ import annotations

from hcc.ir import NAMESPACE_KEY, Attr, AttrType, Function, Graph, HccError, Model, Node, Value
from hcc.ir._clone import clone_graph, clone_nodes

from .._infra import Pass, PassResult
from .._options import Option
from .._registry import register_pass
from .keys import tensor_digest
from .shared import (
    INITIALIZER_KEY,
    ROOT_KEY,
    apply_diff,
    decode_record,
    inlined_scope,
    is_topologically_sorted,
    node_names,
    set_scope_and_metadata,
    unique_name,
    value_names,
    walk,
)


class InlineError(HccError):
    """A call cannot be inlined."""


@register_pass("inline-functions", summary="replace calls of model-local functions by their bodies")
class InlineFunctionsPass(Pass):
    """Every call of a model-local function (in the chosen domains) becomes a copy of the
    function's body, with the call site's scope; the exact inverse of `outline-functions`.
    To undo only that pass in a model that had functions of its own, give
    domains=['hcc.functions']."""

    domains = Option(list[str], [], "inline only the functions of these domains (empty: all)")

    def call(self, model: Model) -> PassResult:
        chosen = {
            key: f
            for key, f in model.functions.items()
            if not self.domains or f.domain in self.domains
        }
        if not chosen:
            return PassResult(model, False)
        _refuse_recursion(chosen)
        changed = False
        # Where calls can be: the main graph, and the bodies of the functions that stay.
        homes: list[tuple[Graph, dict[str, int]]] = [(model.graph, model.opset_imports)]
        homes += [
            (f.graph, f.opset_imports) for key, f in model.functions.items() if key not in chosen
        ]
        for graph, imports in homes:
            changed |= _Inliner(graph, imports, chosen).run()
        changed |= _drop_unused(model, chosen)
        return PassResult(model, changed)


def _refuse_recursion(functions: dict[tuple, Function]) -> None:
    calls = {
        key: {(n.domain, n.op_type, n.overload) for n in f.graph.all_nodes()} & set(functions)
        for key, f in functions.items()
    }
    state: dict[tuple, int] = {}  # 1: on the path, 2: done

    def visit(key: tuple, path: list[tuple]) -> None:
        state[key] = 1
        for callee in sorted(calls[key]):
            if state.get(callee) == 1:
                cycle = " -> ".join(f"{d}::{n}" for d, n, _ in path + [key, callee])
                raise InlineError(f"functions call themselves ({cycle}); they cannot be inlined")
            if callee not in state:
                visit(callee, path + [key])
        state[key] = 2

    for key in sorted(functions):
        if key not in state:
            visit(key, [])


def _drop_unused(model: Model, chosen: dict[tuple, Function]) -> bool:
    called = {(n.domain, n.op_type, n.overload) for n in model.all_nodes()}
    # A function only a dropped function calls goes too: look again until nothing changes.
    dropped = False
    progress = True
    while progress:
        progress = False
        for key in list(chosen):
            if key in model.functions and key not in called:
                del model.functions[key]
                dropped = progress = True
        called = {(n.domain, n.op_type, n.overload) for n in model.all_nodes()}
    if dropped:
        used = {d for d, _, _ in called} | {f.domain for f in model.functions.values()}
        for domain in {f.domain for f in chosen.values()}:
            if domain not in used:
                model.opset_imports.pop(domain, None)
    return dropped


def _defined_in(value: Value, graph: Graph) -> bool:
    if value.producer is not None:
        return value.producer.graph is graph
    return graph.initializers.get(value.name) is value


def _was_initializer(node: Node) -> bool:
    return node.op_type == "Constant" and INITIALIZER_KEY in node.metadata_props


class _Inliner:
    """Inlines every chosen call in one graph and the graphs nested in it."""

    def __init__(
        self, graph: Graph, imports: dict[str, int], functions: dict[tuple, Function]
    ) -> None:
        self.root = graph
        self.imports = imports
        self.functions = functions
        self.values = value_names(graph)
        self.nodes = node_names(graph)

    def run(self) -> bool:
        changed = False
        while True:  # copies may hold calls again: repeat until none is left
            calls = [
                (g, n)
                for g in self.root.subgraphs(include_self=True)
                for n in g.nodes
                if (n.domain, n.op_type, n.overload) in self.functions
            ]
            done = 0
            for graph, node in calls:
                # A call inside a graph attribute of a call inlined just now went with it.
                if node.graph is graph and graph.root() is self.root:
                    self.inline(graph, node)
                    done += 1
            if not done:
                return changed
            changed = True

    def inline(self, graph: Graph, call: Node) -> None:
        function = self.functions[(call.domain, call.op_type, call.overload)]
        self._import(function)
        root_tag = function.metadata_props.get(ROOT_KEY)
        record = decode_record(call) if root_tag else None
        kept = record is not None  # with a record, names not in it are the body's own
        record = record or {}
        body = function.graph
        value_map: dict[Value, Value | None] = {}
        for k, formal in enumerate(body.inputs):
            value_map[formal] = call.inputs[k] if k < len(call.inputs) else None
        copies = clone_nodes(body.nodes, value_map)
        body_nodes, body_values = walk(body.nodes)
        copy_nodes, copy_values = walk(copies)

        restored = {id(n.outputs[0]) for n in body.nodes if root_tag and _was_initializer(n)}
        self._name_values(call, function, record, kept, body_values, copy_values, restored)
        self._name_nodes(call, record, kept, body_nodes, copy_nodes)
        call_namespace = call.metadata_props.get(NAMESPACE_KEY)
        changes = record.get("meta", {}) if isinstance(record.get("meta"), dict) else {}
        for i, (original, copy) in enumerate(zip(body_nodes, copy_nodes)):
            scope, metadata = inlined_scope(original, call.scope, call_namespace, root_tag)
            diff = changes.get(str(i))
            if isinstance(diff, dict):
                scope, metadata = apply_diff(metadata, diff, scope)
            set_scope_and_metadata(copy, scope, metadata)
            self._resolve_references(copy, call, function)

        placed: list[Node | None] = []
        for original, copy in zip(body.nodes, copies):
            if root_tag and _was_initializer(original):
                value_map[original.outputs[0]] = self._restore_initializer(graph, copy)
                placed.append(None)
            else:
                graph.insert_before(call, copy)
                placed.append(copy)
        self._bind_outputs(graph, call, function, value_map, copy_values)
        graph.remove(call)
        self.nodes.discard(call.name)
        if record.get("moved"):
            self._restore_order(graph, record["moved"], placed)
        self._restore_value_info(graph, body, value_map)

    # -- names -----------------------------------------------------------------------------------

    def _name_values(
        self, call, function, record, kept, body_values, copy_values, restored
    ) -> None:
        # The call's outputs give their names to the values that now compute them.
        bound: set[int] = set()
        body_ids = {id(v): i for i, v in enumerate(body_values)}
        for k, out in enumerate(call.outputs):
            if k < len(function.outputs) and out.name:
                i = body_ids.get(id(function.outputs[k]))
                if i is not None and i not in bound:
                    copy_values[i].name = out.name
                    bound.add(i)
        names = record.get("values")
        if not isinstance(names, list) or len(names) != len(copy_values):
            names = [v.name for v in body_values] if kept else None
        prefix = call.name or function.name
        for i, (original, copy) in enumerate(zip(body_values, copy_values)):
            if i in bound or not original.name:
                continue
            if id(original) in restored:
                # An initializer again: it may be the caller's own, so its name is kept as is.
                copy.name = names[i] if names is not None else original.name
                continue
            wanted = names[i] if names is not None else f"{prefix}/{original.name}"
            copy.name = unique_name(wanted, self.values)

    def _name_nodes(self, call, record, kept, body_nodes, copy_nodes) -> None:
        names = record.get("nodes")
        if not isinstance(names, list) or len(names) != len(copy_nodes):
            names = [n.name for n in body_nodes] if kept else None
        prefix = call.name or call.op_type
        for i, (original, copy) in enumerate(zip(body_nodes, copy_nodes)):
            if names is not None:
                wanted = names[i]
            else:
                wanted = f"{prefix}/{original.name}" if original.name else ""
            copy.name = unique_name(wanted, self.nodes) if wanted else ""

    # -- attributes ------------------------------------------------------------------------------

    def _resolve_references(self, node: Node, call: Node, function: Function) -> None:
        """Attributes that refer to the call's: its value, else the default, else none."""
        if not any(a.is_ref for a in node.attributes.values()):
            return
        resolved: dict[str, Attr] = {}
        for name, attr in node.attributes.items():
            if not attr.is_ref:
                resolved[name] = attr
                continue
            given = call.attributes.get(attr.ref_attr_name)
            if given is None:
                given = function.attribute_defaults.get(attr.ref_attr_name)
            if given is None:
                continue
            value = given.value
            if given.type == AttrType.GRAPH and value is not None:
                value = clone_graph(value, parent=node)
            elif given.type == AttrType.GRAPHS:
                value = [clone_graph(g, parent=node) for g in value]
            elif isinstance(value, list):
                value = list(value)
            resolved[name] = Attr(
                name,
                given.type,
                value,
                doc_string=attr.doc_string,
                ref_attr_name=given.ref_attr_name,
            )
        node.attributes.clear()
        node.attributes.update(resolved)  # graphs copied above already name this node parent

    # -- splicing --------------------------------------------------------------------------------

    def _import(self, function: Function) -> None:
        for domain, version in function.opset_imports.items():
            key = "" if domain == "ai.onnx" else domain
            have = self.imports.get(key, self.imports.get("ai.onnx" if key == "" else key))
            if have is None:
                self.imports[domain] = version
            elif have != version:
                raise InlineError(
                    f"function {function.domain}::{function.name} imports "
                    f"{domain or 'ai.onnx'} version {version} but its caller version {have}; "
                    "convert one of them first"
                )

    def _restore_initializer(self, graph: Graph, constant: Node) -> Value:
        """A Constant that outlining made of an initializer becomes that initializer again."""
        output = constant.outputs[0]
        tensor = constant.attr("value")
        existing = graph.initializers.get(output.name)
        if existing is None or tensor_digest(existing.const_value) != tensor_digest(tensor):
            name = output.name
            if name in self.values:
                name = unique_name(name, self.values)
            self.values.add(name)
            existing = graph.add_initializer(Value(name, output.type, const_value=tensor))
        output.replace_all_uses_with(existing)
        return existing

    def _bind_outputs(self, graph, call, function, value_map, copy_values) -> None:
        defined = {id(v) for v in copy_values}
        used: set[int] = set()
        for k, out in enumerate(call.outputs):
            formal = function.outputs[k] if k < len(function.outputs) else None
            source = value_map.get(formal) if formal is not None else None
            if source is not None and id(source) in defined and id(source) not in used:
                target = source
                used.add(id(target))
            elif not out.has_uses() and out not in graph.outputs:
                graph.value_info[:] = [v for v in graph.value_info if v is not out]
                continue
            elif source is None:
                raise InlineError(
                    f"output {k} of call {call.name or call.op_type!r} is read, but "
                    f"function {function.name} does not compute it"
                )
            else:
                # An output that is an input, or a second name for a value: an Identity keeps it.
                target = Value(out.name or unique_name(f"{call.name}/out{k}", self.values))
                identity = Node(
                    "",
                    "Identity",
                    [source],
                    outputs=[target],
                    name=unique_name(f"{call.name or call.op_type}/Identity", self.nodes),
                    scope=call.scope,
                )
                graph.insert_before(call, identity)
            # The caller's value is the one to restore: name, type and metadata as it had them.
            if out.name:
                target.name = out.name
            target.type = out.type
            target.doc_string = out.doc_string
            target.metadata_props = dict(out.metadata_props)
            out.replace_all_uses_with(target)
            graph.value_info[:] = [target if v is out else v for v in graph.value_info]

    def _restore_value_info(self, graph: Graph, body: Graph, value_map) -> None:
        """Types the body recorded for its values go back into the caller's value_info, each
        where values made at its point of the graph are listed (in node order)."""
        listed = {id(v) for v in graph.value_info}
        new = [
            value_map[v]
            for v in body.value_info
            if v in value_map
            and id(value_map[v]) not in listed
            and _defined_in(value_map[v], graph)
        ]
        if not new:
            return
        position = {id(n): i for i, n in enumerate(graph.nodes)}

        def where(value: Value) -> int:
            # Initializers and inputs come before every node.
            return position.get(id(value.producer), -1) if value.producer is not None else -1

        new.sort(key=where)  # stable: the body's order among outputs of one node
        merged: list[Value] = []
        pending = iter(new)
        nxt = next(pending, None)
        for value in graph.value_info:
            at = where(value)
            while nxt is not None and at >= 0 and where(nxt) < at:
                merged.append(nxt)
                nxt = next(pending, None)
            merged.append(value)
        while nxt is not None:
            merged.append(nxt)
            nxt = next(pending, None)
        graph.value_info[:] = merged

    def _restore_order(self, graph: Graph, moved, placed: list[Node | None]) -> None:
        """Put back the outside nodes that ran between the instance's nodes before outlining."""
        by_name = {n.name: n for n in graph.nodes if n.name}
        mine = {id(n) for n in placed if n is not None}
        order = list(graph.nodes)
        for entry in moved:
            if not (isinstance(entry, list) and len(entry) == 2):
                continue
            name, k = entry
            node = by_name.get(name)
            anchor = (
                next((n for n in placed[k:] if n is not None), None) if isinstance(k, int) else None
            )
            if node is None or anchor is None or id(node) in mine:
                continue
            order.remove(node)
            order.insert(next(i for i, n in enumerate(order) if n is anchor), node)
        if is_topologically_sorted(order, graph):
            graph.sort_nodes(order)
