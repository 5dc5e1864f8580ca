"""Structural and scope invariants of the IR, checked in one linear walk.

:func:`check` returns every problem found, one line each, naming the graph (or function), the
node and the value; :func:`verify` raises :class:`~hcc.ir.VerificationError` listing them. The
pass manager runs ``verify`` after each pass in verify-each mode, so the walk must stay linear:
every value and every use is looked at a constant number of times.

What is checked:

* SSA: a value name is defined once in a graph and the graphs nested in it; a subgraph may not
  redefine a name visible from an enclosing graph. Unnamed values (the exporter names them) are
  exempt. A graph input that is also an initializer is one value, defined once.
* Order: every node input is defined before the node (graph input, initializer, earlier output, or
  a value visible from an enclosing graph at the owning node).
* No dangling values, and use-def lists that agree with the nodes: ``value.uses`` holds exactly
  the (node, index) pairs that read it, producers and ``value.index`` match ``node.outputs``,
  ``node.graph`` and ``subgraph.parent`` point at what lists them, graph outputs are defined.
* Scopes: every node has a :class:`Scope`; stored ``hcc.tag``/``hcc.module`` metadata agree with
  it; with ``require_scopes`` no node has the unknown scope.
* Unique names: nodes (when named) per graph, graph inputs, initializers, function identifiers.
* Tensors (initializers and attribute values): a known element type, no negative dimension,
  and stored data of the size the type and shape take. The model's ir_version is one hcc knows.
"""

from __future__ import annotations

from ._graph import Graph
from ._model import Function, Model
from ._nodes import Node, Value
from ._scope import MODULE_KEY, TAG_KEY, Scope
from ._verify_state import (
    RunState,
    attribute_tensors,
    function_name,
    graph_name,
    named_subgraphs,
    owners,
)
from .errors import VerificationError

__all__ = ["MAX_IR_VERSION", "check", "verify"]

# The IR versions hcc reads and writes: those of onnx 1.19 to 1.23 (pyproject pins onnx < 1.24).
# A newer file may hold fields this hcc would drop without knowing.
MIN_IR_VERSION = 1
MAX_IR_VERSION = 14


def verify(obj: Model | Graph | Function, *, require_scopes: bool = False) -> None:
    """Raise :class:`VerificationError` listing every broken invariant of ``obj``."""
    problems = check(obj, require_scopes=require_scopes)
    if problems:
        raise VerificationError(problems)


def check(obj: Model | Graph | Function, *, require_scopes: bool = False) -> list[str]:
    """Every broken invariant of a model, graph or function, one line each (empty: valid)."""
    checker = _Checker(require_scopes)
    if isinstance(obj, Model):
        checker.check_model(obj)
    elif isinstance(obj, Function):
        checker.check_root(obj.graph, function_name(obj))
    elif isinstance(obj, Graph):
        checker.check_graph_alone(obj)
    else:
        raise TypeError(f"cannot verify a {type(obj).__name__}")
    return checker.problems


class _Checker(RunState):
    """One verification run: the walk and the checks (the state and messages: RunState)."""

    # -- entry points ---------------------------------------------------------------------------

    def check_model(self, model: Model) -> None:
        version = model.ir_version
        if not (isinstance(version, int) and MIN_IR_VERSION <= version <= MAX_IR_VERSION):
            self.problems.append(
                f"model: ir_version {version!r} is not one hcc knows "
                f"({MIN_IR_VERSION} to {MAX_IR_VERSION})"
            )
        roots: list[tuple[Graph, str]] = [(model.graph, graph_name(model.graph))]
        for key, function in model.functions.items():
            if key != function.identifier:
                self.problems.append(
                    f"model: {function_name(function)} is stored under key {key!r}, "
                    f"not its identifier {function.identifier!r}"
                )
            roots.append((function.graph, function_name(function)))
        for graph, where in roots:
            self._survey(graph, where)
        for graph, where in roots:
            self._walk(graph, where)
        self._check_uses()

    def check_root(self, graph: Graph, where: str) -> None:
        self._survey(graph, where)
        self._walk(graph, where)
        self._check_uses()

    def check_graph_alone(self, graph: Graph) -> None:
        """A graph on its own; a subgraph sees what its owner sees in the enclosing graphs."""
        chain = owners(graph)
        if not chain:
            self.check_root(graph, graph_name(graph))
            return
        self._survey(chain[0][0], graph_name(chain[0][0]))
        for outer, owner in chain:
            # Outer values are only made visible: checking them is the outer graph's business.
            self.open_graphs.add(id(outer))
            visible = [*outer.inputs, *outer.initializers.values()]
            for node in outer._nodes:
                if node is owner:
                    break
                visible.extend(node._outputs)
            for value in visible:
                self.defined.setdefault(id(value), "a value of an enclosing graph")
                if value.name:
                    self.visible.setdefault(value.name, (value, id(outer)))
        if id(graph) not in self.graph_where:  # a stale ``parent``: the owner does not hold it
            self._survey(graph, graph_name(graph))
        self._walk(graph, self.graph_where.get(id(graph), graph_name(graph)))
        self._check_uses()

    # -- the walk ---------------------------------------------------------------------------------

    def _walk(self, graph: Graph, where: str) -> None:
        problems = self.problems
        if id(graph) in self.walked:
            problems.append(f"{where}: this graph object is also attached elsewhere in the model")
            return
        graph_id = id(graph)
        self.walked.add(graph_id)
        self.open_graphs.add(graph_id)
        defined = self.defined
        visible = self.visible
        # Values this graph defines: taken out of the environment when the walk leaves it, and
        # their use lists checked once every node has been seen.
        here: list[Value] = []
        self.value_groups.append((where, here))

        def define(value: Value, how: str | Node) -> None:
            """Add a value to the environment, reporting SSA breaks (the slow path)."""
            key = id(value)
            earlier = defined.get(key)
            if earlier is not None:
                # The one legal double listing: an input whose default is an initializer.
                if not (earlier == "graph input" and how == "initializer"):
                    problems.append(
                        f"{where}: {self._value(value)} is defined twice, as "
                        f"{self._how(value, earlier)} and as {self._how(value, how)}"
                    )
                return
            defined[key] = how
            here.append(value)
            name = value.name
            previous = visible.get(name) if name else None
            if previous is not None:
                other, home = previous
                if home == graph_id:
                    problems.append(
                        f"{where}: value name %{name} is defined twice (SSA), as "
                        f"{self._how(other, self.defined.get(id(other), 'a value'))} and as "
                        f"{self._how(value, how)}"
                    )
                else:
                    problems.append(
                        f"{where}: {self._how(value, how)} %{name} redefines a name visible from "
                        f"{self.graph_where.get(home, 'an enclosing graph')} (SSA)"
                    )
            elif name:
                visible[name] = (value, graph_id)

        # Inputs and initializers.
        input_names: set[str] = set()
        for position, value in enumerate(graph.inputs):
            if not isinstance(value, Value):
                problems.append(f"{where}: graph input {position} is {value!r}, not a Value")
                continue
            if value.name and value.name in input_names:
                problems.append(f"{where}: graph input name %{value.name} is used twice")
            input_names.add(value.name)
            if value.meta.get("_graph") is not graph and value._producer is None:
                problems.append(
                    f"{where}: graph input {self._value(value)} does not know its graph "
                    "(appended to graph.inputs by hand? build the Graph with it)"
                )
            if value._producer is not None:
                problems.append(
                    f"{where}: graph input {self._value(value)} is also the output of "
                    f"{self._node(value._producer)}"
                )
            define(value, "graph input")
        for key, value in graph.initializers.items():
            if value.name != key:
                problems.append(
                    f"{where}: initializer stored under name '{key}' is named %{value.name}"
                )
            if value.const_value is None:
                problems.append(f"{where}: initializer {self._value(value)} has no const_value")
            else:
                problem = value.const_value.data_problem()
                if problem:
                    problems.append(f"{where}: initializer {self._value(value)} {problem}")
            if value._producer is not None:
                problems.append(
                    f"{where}: initializer {self._value(value)} is also the output of "
                    f"{self._node(value._producer)}"
                )
            if value.meta.get("_graph") is not graph:
                problems.append(
                    f"{where}: initializer {self._value(value)} does not know its graph"
                )
            define(value, "initializer")

        # Nodes, in order.
        node_names: dict[str, int] = {}
        require_scopes = self.require_scopes
        check_scope = self._check_scope
        walked_nodes = self.walked_nodes
        for position, node in enumerate(graph._nodes):
            if id(node) in walked_nodes:
                problems.append(f"{where}: {self._node(node)} is listed more than once")
            walked_nodes.add(id(node))
            if node._graph is not graph:
                owner = node._graph
                claimed = (
                    "no graph"
                    if owner is None
                    else self.graph_where.get(id(owner), graph_name(owner))
                )
                problems.append(f"{where}: {self._node(node)} is listed here but claims {claimed}")
            if node.name:
                first = node_names.setdefault(node.name, position)
                if first != position:
                    problems.append(
                        f"{where}: node name '{node.name}' is used by nodes #{first} and "
                        f"#{position}"
                    )
            check_scope(node, where, require_scopes)
            for name, tensor in attribute_tensors(node):
                problem = tensor.data_problem()
                if problem:
                    problems.append(f"{where}: {self._node(node)}: attribute {name} {problem}")

            for i, value in enumerate(node._inputs):
                if value is None:
                    continue
                if (node, i) not in value._uses:
                    problems.append(
                        f"{where}: {self._node(node)}: input {i} {self._value(value)} does not "
                        "list this use"
                    )
                if id(value) not in defined:
                    problems.append(
                        f"{where}: {self._node(node)}: input {i} {self._value(value)} "
                        + self._why_undefined(value)
                    )

            for name, sub in named_subgraphs(node):
                if sub.parent is not node:
                    problems.append(
                        f"{where}: {self._node(node)}: subgraph '{name}' has parent "
                        f"{'None' if sub.parent is None else self._node(sub.parent)}"
                    )
                inner = self.graph_where.get(id(sub), f"{where} > {self._node(node)}.{name}")
                self._walk(sub, inner)

            for i, value in enumerate(node._outputs):
                if value._producer is not node or value._index != i:
                    problems.append(
                        f"{where}: {self._node(node)}: output {i} {self._value(value)} names "
                        f"output {value._index} of "
                        f"{'no node' if value._producer is None else self._node(value._producer)} "
                        "as its producer"
                    )
                name = value.name
                if id(value) in defined or (name and name in visible):
                    define(value, node)
                else:  # the common case, inlined: a fresh value
                    defined[id(value)] = node
                    here.append(value)
                    if name:
                        visible[name] = (value, graph_id)

        for position, value in enumerate(graph.outputs):
            if not isinstance(value, Value):
                problems.append(f"{where}: graph output {position} is {value!r}, not a Value")
            elif id(value) not in defined:
                problems.append(
                    f"{where}: graph output {self._value(value)} " + self._why_undefined(value)
                )

        # Leave the graph: its names stop being visible.
        for value in here:
            del defined[id(value)]
            entry = visible.get(value.name)
            if entry is not None and entry[0] is value:
                del visible[value.name]
        self.open_graphs.discard(graph_id)

    def _check_scope(self, node: Node, where: str, require_scopes: bool) -> None:
        scope = node._scope
        if not isinstance(scope, Scope):
            self.problems.append(
                f"{where}: {self._node(node)} has no scope (found {type(scope).__name__})"
            )
            return
        if require_scopes and scope.is_unknown:
            self.problems.append(f"{where}: {self._node(node)} has the unknown scope (untagged)")
        metadata = node.metadata_props
        if not metadata:
            return
        stored_tag = metadata.get(TAG_KEY)
        stored_module = metadata.get(MODULE_KEY)
        if stored_tag is None and stored_module is None:
            return
        expected = self.tags.get(id(scope))
        if expected is None:
            expected = self.tags[id(scope)] = (scope.tag, scope.module_path)
        if stored_tag is not None and stored_tag != expected[0]:
            if not (scope.is_unknown and stored_tag in ("", "/")):
                self.problems.append(
                    f"{where}: {self._node(node)}: metadata {TAG_KEY}={stored_tag!r} disagrees "
                    f"with its scope {expected[0]!r}"
                )
        if stored_module is not None and stored_module != expected[1]:
            self.problems.append(
                f"{where}: {self._node(node)}: metadata {MODULE_KEY}={stored_module!r} disagrees "
                f"with its scope's module path {expected[1]!r}"
            )

    def _check_uses(self) -> None:
        """Every recorded use must be a real input slot of a node the walk saw."""
        walked_nodes = self.walked_nodes
        for where, values in self.value_groups:
            for value in values:
                for user, i in value._uses:
                    if id(user) not in walked_nodes or user._graph is None:
                        self.problems.append(
                            f"{where}: {self._value(value)} lists a use by {self._node(user)}, "
                            "which is not in the verified graphs (a node built but never added?)"
                        )
                    elif i >= len(user._inputs) or user._inputs[i] is not value:
                        self.problems.append(
                            f"{where}: {self._value(value)} lists a use as input {i} of "
                            f"{self._node(user)}, which reads something else there"
                        )
