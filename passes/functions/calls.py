"""Bodies and call sites for ``outline-functions``: one function body per structure, and the
call that replaces each instance, with the record ``inline-functions`` needs to undo it.

:class:`BodiesAndCalls` is the second half of :class:`.outliner.Outliner` (mixed into it): the
outliner works out each chosen scope's members and interface, this half builds from them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hcc.ir import NAMESPACE_KEY, Attr, Function, Graph, Node, Value
from hcc.ir._clone import clone_nodes, clone_value

from .shared import (
    INITIALIZER_KEY,
    RECORD_KEY,
    ROOT_KEY,
    SCOPE_KEYS,
    encode_record,
    inlined_scope,
    metadata_diff,
    namespace_prefix,
    relative_namespace,
    relative_root,
    relative_scope,
    set_scope_and_metadata,
    strip_index,
    unique_name,
    walk,
)

if TYPE_CHECKING:
    from .outliner import _Instance


class BodiesAndCalls:
    """Makes function bodies from outlined instances and replaces the instances by calls."""

    def _make_body(self, inst: _Instance) -> Function:
        scope = inst.scope
        root = relative_root(scope)
        value_map: dict[Value, Value] = {}
        _, defined = walk(inst.members)
        taken = {v.name for v in defined if v.name}
        inputs = []
        for k, value in enumerate(inst.inputs):
            local = _local_name(value.name, scope.module_path) or f"input_{k}"
            copy = Value(unique_name(local, taken), value.type)
            value_map[value] = copy
            inputs.append(copy)
        constants = []
        for value in inst.inside:
            output = Value(value.name, value.type)
            node = Node(
                "",
                "Constant",
                [],
                attributes=[Attr.tensor("value", value.const_value)],
                outputs=[output],
                scope=root,
            )
            node.metadata_props[INITIALIZER_KEY] = "1"
            value_map[value] = output
            constants.append(node)
        copies = clone_nodes(inst.members, value_map)
        for original, copy in zip(walk(inst.members)[0], walk(copies)[0]):
            relative = relative_scope(original.scope, scope, root) or root
            metadata = {k: v for k, v in original.metadata_props.items()}
            text = original.metadata_props.get(NAMESPACE_KEY)
            namespace = None if text is None else relative_namespace(text, original.scope, scope)
            if namespace is None:
                metadata.pop(NAMESPACE_KEY, None)
            else:
                metadata[NAMESPACE_KEY] = namespace
            set_scope_and_metadata(copy, relative, metadata)
        body = Graph(inputs, [value_map[v] for v in inst.outputs], constants + copies)
        # value_info: the types the caller recorded for values that are now inside the body.
        leaving = {id(v) for v in inst.outputs}
        inner = {id(v) for v in [*inst.inside, *defined] if id(v) not in leaving}
        body.value_info.extend(value_map[v] for v in self.graph.value_info if id(v) in inner)
        function = Function(self.domain, "", body, opset_imports=self._imports(body))
        function.metadata_props[ROOT_KEY] = root.tag
        return function

    def _imports(self, body: Graph) -> dict[str, int]:
        used = {n.domain for n in walk(body.nodes)[0]}
        imports = {d: v for d, v in self.model.opset_imports.items() if d in used}
        for domain in sorted(used - set(imports)):
            imports[domain] = 1  # this pass's own domain, for calls nested in the body
        return imports

    def _adopt(self, group: list[_Instance]) -> Function:
        """Make the first instance's body the group's function, keeping only the node metadata
        every instance agrees on (the rest goes to the call sites' records)."""
        function = group[0].body
        walks = [walk(inst.body.graph.nodes)[0] for inst in group]
        for position, node in enumerate(walks[0]):
            others = [w[position].metadata_props for w in walks[1:]]
            for key in list(node.metadata_props):
                if key in SCOPE_KEYS:
                    continue
                value = node.metadata_props[key]
                if any(o.get(key) != value for o in others):
                    del node.metadata_props[key]
        taken = {f.name for f in self.model.functions.values() if f.domain == self.domain}
        function.name = unique_name(strip_index(group[0].scope.class_name) or "Function", taken)
        self.model.functions[function.identifier] = function
        return function

    # -- call sites ------------------------------------------------------------------------------

    def _replace(self, inst: _Instance, function: Function) -> None:
        graph = self.graph
        scope = inst.scope
        outputs = [clone_value(v) for v in inst.outputs]
        taken = {n.name for n in graph.nodes if n.name}
        name = unique_name(scope.module_path or strip_index(scope.class_name), taken)
        # An input may be the result of a scope outlined just before: read the call's output.
        inputs = [self._renamed.get(id(v), v) for v in inst.inputs]
        call = Node(
            function.domain,
            function.name,
            inputs,
            outputs=outputs,
            name=name,
            overload=function.overload,
            scope=scope,
        )
        namespace = next(
            (
                p
                for p in (
                    namespace_prefix(n.metadata_props.get(NAMESPACE_KEY), n.scope, scope.depth)
                    for n in inst.members
                )
                if p is not None
            ),
            None,
        )
        if namespace is not None:
            call.metadata_props[NAMESPACE_KEY] = namespace
        record = self._record(inst, function, call)
        if record is not None:
            call.metadata_props[RECORD_KEY] = encode_record(record)

        graph.insert_before(inst.members[0], call)
        replaced = {}
        for old, new in zip(inst.outputs, outputs):
            old.replace_all_uses_with(new)
            replaced[id(old)] = new
        self._renamed.update(replaced)
        _, defined = walk(inst.members)
        gone = {id(v) for v in defined}
        graph.value_info[:] = [
            replaced.get(id(v), v)
            for v in graph.value_info
            if id(v) in replaced or id(v) not in gone
        ]
        graph.remove(inst.members)

    def _record(self, inst: _Instance, function: Function, call: Node) -> dict | None:
        """What inlining needs to restore this instance; empty when the body's names are its
        own; None with record=none."""
        if self.record == "none":
            return None
        body_nodes, body_values = walk(function.graph.nodes)
        own_nodes, own_values = walk(inst.members)
        pad = len(inst.inside)
        pairs = list(zip(body_nodes, [None] * pad + own_nodes))
        record: dict = {}
        names = [own.name if own is not None else body.name for body, own in pairs]
        if names != [body.name for body in body_nodes]:
            record["nodes"] = names
        values = [v.name for v in inst.inside] + [v.name for v in own_values]
        if values != [v.name for v in body_values]:
            record["values"] = values
        if inst.moved:
            record["moved"] = [list(m) for m in inst.moved]
        root_tag = function.metadata_props.get(ROOT_KEY)
        call_namespace = call.metadata_props.get(NAMESPACE_KEY)
        changes = {}
        for i, (body, own) in enumerate(pairs):
            if own is None:
                continue
            _, rebuilt = inlined_scope(body, inst.scope, call_namespace, root_tag)
            diff = metadata_diff(own.metadata_props, rebuilt)
            if self.record == "names":
                diff = {k: v for k, v in diff.items() if k == RECORD_KEY}
            if diff:
                changes[str(i)] = diff
        if changes:
            record["meta"] = changes
        return record

    def _drop_unused_initializers(self, values: list[Value]) -> None:
        """Initializers copied into bodies that nothing outside reads any more."""
        graph = self.graph
        outputs = {id(v) for v in graph.outputs}
        dropped = set()
        for value in values:
            if not value.has_uses() and id(value) not in outputs:
                graph.remove_initializer(value.name)
                dropped.add(id(value))
        if dropped:
            graph.value_info[:] = [v for v in graph.value_info if id(v) not in dropped]


def _local_name(name: str, module_path: str) -> str:
    """A weight's name seen from its module: ``h.3.attn.c_attn.weight`` -> ``attn.c_attn.weight``."""
    if module_path and name.startswith(module_path + "."):
        return name[len(module_path) + 1 :]
    return name
