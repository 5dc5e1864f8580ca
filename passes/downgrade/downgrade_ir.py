"""``downgrade-ir``: rewrite a model for an older IR version and default-domain opset.

Deployment toolchains pin old ONNX. Every node of the default domain whose operator changed
between the model's opset and the target is converted, trying in turn:

1. a down-adapter of hcc's own for that operator (:mod:`.adapters`): e.g. Reduce* and
   Split take their older attribute forms, Gelu and LayerNormalization become their formulas;
2. the node as it is, when it already fits the target's schema (the operator only gained types
   or attributes the node does not use, or uses at their default, which are then dropped);
3. the same node computed in a wider type the target accepts, with Casts around it
   (:mod:`.generic`): e.g. an int8 Add becomes an int32 Add;
4. the function body onnx defines for the operator, whose nodes are converted the same way.

Otherwise the pass fails with "no down-conversion for OP from N to M". The conversion runs on a
copy of the graphs, so a failure leaves the model exactly as it was.

New nodes take the scope and metadata of the node they replace. Below IR 10 the nodes' metadata
(their tags) is written to one model-level map by hcc's exporter and read back by its importer,
so a downgraded model still has its scopes; every node is given a unique name for that map.
"""

from __future__ import annotations

from hcc.ir import (
    AttrType,
    DataType,
    Graph,
    HccError,
    Model,
    Node,
    OptionalType,
    SequenceType,
    SparseTensorType,
    TensorType,
)
from hcc.ir._clone import clone_graph
from hcc.ir.onnx import schemas

from .._infra import Pass, PassResult
from .._options import Option
from .._registry import register_pass
from .adapters import ADAPTERS
from .generic import drop_defaulted, expand_into_body, fits, widen
from .rewriter import Refuse, Rewriter

DEFAULT_DOMAINS = ("", "ai.onnx")

# The first IR version that has each feature a model may use (onnx.proto's version history).
_DTYPE_IR = {
    DataType.FLOAT8E4M3FN: 9,
    DataType.FLOAT8E4M3FNUZ: 9,
    DataType.FLOAT8E5M2: 9,
    DataType.FLOAT8E5M2FNUZ: 9,
    DataType.INT4: 10,
    DataType.UINT4: 10,
    DataType.FLOAT4E2M1: 11,
    DataType.FLOAT8E8M0: 12,
    DataType.INT2: 13,
    DataType.UINT2: 13,
    DataType.FLOAT6E2M3: 14,
    DataType.FLOAT6E3M2: 14,
}
FUNCTIONS_IR = 8
FUNCTION_DEFAULTS_IR = 9
OVERLOADS_IR = 10


class DowngradeError(HccError):
    """The model cannot be expressed at the requested version."""


@register_pass("downgrade-ir", summary="rewrite for an older IR version and opset, keeping tags")
class DowngradeIrPass(Pass):
    """Lower the IR version and the default-domain opset, converting the nodes that changed.

    The IR version is never raised: asking for more than the model has is an error, as is an
    opset above the model's. Choose ``ir`` at least ``lowest_ir(model)`` for the features the
    model uses (functions need 8, float8 needs 9, int4 needs 10).
    """

    ir = Option(int, 8, "target IR version", min=7, max=10)
    opset = Option(int, 17, "target opset of the default domain", min=13, max=20)

    def call(self, model: Model) -> PassResult:
        source = model.opset_imports.get("", model.opset_imports.get("ai.onnx"))
        if source is None:
            raise DowngradeError("the model imports no default-domain opset")
        if self.opset > source:
            raise DowngradeError(
                f"the model is at opset {source}; downgrade-ir only lowers "
                f"it (asked for {self.opset})"
            )
        needed = schemas.ir_version_for_opset(self.opset)
        if self.ir < needed:
            raise DowngradeError(
                f"opset {self.opset} needs IR version {needed} or later; "
                f"choose ir >= {needed} or a lower opset"
            )
        if self.ir > model.ir_version:
            raise DowngradeError(
                f"the model is at IR {model.ir_version}; downgrade-ir only "
                f"lowers it (asked for {self.ir})"
            )
        changed = False
        if self.opset < source:
            graphs = convert_graphs(model, self.opset)
            _check_ir_features(self.ir, model, [g for _, g in graphs])
            for owner, graph in graphs:
                if owner is model:
                    model.graph = graph
                else:
                    owner.graph = graph
                    if any(d in owner.opset_imports for d in DEFAULT_DOMAINS):
                        _set_default_opset(owner.opset_imports, self.opset)
            _set_default_opset(model.opset_imports, self.opset)
            changed = True
        else:
            _check_ir_features(self.ir, model, list(_top_graphs(model)))
        if self.ir != model.ir_version:
            model.ir_version = self.ir
            changed = True
        if self.ir < 10:
            changed |= _name_nodes(model)
        return PassResult(model, changed)


# -- conversion ---------------------------------------------------------------------------------


def convert_graphs(model: Model, target: int) -> list[tuple[object, Graph]]:
    """Converted copies of the main graph and of every function body, as (owner, graph).

    Raises DowngradeError, naming the first node that cannot be converted; the model itself is
    not touched.
    """
    names = _all_names(model)
    rewriter = Rewriter(names, target)
    model_opset = model.opset_imports.get("", model.opset_imports.get("ai.onnx"))
    result: list[tuple[object, Graph]] = [(model, clone_graph(model.graph))]
    for function in model.functions.values():
        result.append((function, clone_graph(function.graph)))
    for owner, graph in result:
        opsets = owner.opset_imports
        source = opsets.get("", opsets.get("ai.onnx", model_opset))
        _convert(rewriter, graph, source)
    return result


def _convert(rw: Rewriter, graph: Graph, source: int) -> None:
    """Convert every node of ``graph`` (and its subgraphs) from ``source`` to ``rw.target``.

    Work items are (node, the opset it is written for, the ops whose conversion made it). New
    nodes are queued too: those of a function body at the body's opset, those an adapter made
    (and a node an adapter changed in place) at the target, where they are checked once more.
    """
    target = rw.target
    work: list[tuple[Node, int, tuple]] = []
    for node in graph.all_nodes():
        rw.set_opset(node, source)
        work.append((node, source, ()))
    work.reverse()  # pop() takes nodes in graph order
    while work:
        node, opset, chain = work.pop()
        if node.domain not in DEFAULT_DOMAINS or not _attached(node, graph):
            continue
        before = schemas.since_version("", node.op_type, opset)
        step = (node.op_type, before if before is not None else opset)
        try:
            outcome = _convert_node(rw, node, opset)
        except Refuse as refusal:
            raise _no_conversion(node, chain + (step,), target, str(refusal)) from None
        made = rw.take_created()
        if outcome is None:
            raise _no_conversion(node, chain + (step,), target)
        if outcome == _RECHECK and _attached(node, graph):
            rw.set_opset(node, target)
            made.append(node)
        for new in reversed(made):
            work.append((new, rw.opset_of(new), chain + (step,)))


_DONE = "done"
_RECHECK = "recheck"  # an adapter changed the node in place: check it at the target


def _convert_node(rw: Rewriter, node: Node, opset: int) -> str | None:
    """One step for one node; None when no way down is known."""
    target = rw.target
    if opset != target:
        before = schemas.since_version("", node.op_type, opset)
        after = schemas.since_version("", node.op_type, target)
        if before is not None and before == after:
            rw.set_opset(node, target)
            return _DONE
        adapter = ADAPTERS.get(node.op_type)
        if adapter is not None and adapter(rw, node):
            return _RECHECK
    if schemas.signature("", node.op_type, target) is not None and fits(rw, node, target):
        drop_defaulted(node, opset, target)
        rw.set_opset(node, target)
        return _DONE
    if widen(rw, node, target):
        return _DONE
    if opset != target and expand_into_body(rw, node):
        return _DONE
    return None


def _attached(node: Node, root: Graph) -> bool:
    """True while ``node`` is still part of ``root`` (an adapter may have replaced the node
    that owned its subgraph)."""
    graph = node.graph
    while graph is not None and graph is not root:
        owner = graph.parent
        graph = owner.graph if owner is not None else None
    return graph is root


def _no_conversion(node: Node, chain: tuple, target: int, reason: str = "") -> DowngradeError:
    op, since = chain[0]
    message = f"no down-conversion for {op} from {since} to {target}"
    if len(chain) > 1:
        inner_op, inner_since = chain[-1]
        message += f" (converting it needs {inner_op} from {inner_since})"
    if reason:
        message += f": {reason}"
    location = f"node {node.name!r}" if node.name and len(chain) == 1 else None
    return DowngradeError(message, location=location)


def _set_default_opset(opsets: dict[str, int], version: int) -> None:
    if "ai.onnx" in opsets and "" not in opsets:
        opsets["ai.onnx"] = version
    else:
        opsets[""] = version


# -- IR features --------------------------------------------------------------------------------


def lowest_ir(model: Model) -> int:
    """The lowest IR version (7 or more) that can hold everything ``model`` uses."""
    return max([7] + [need for need, _ in _ir_needs(model, list(_top_graphs(model)))])


def _check_ir_features(ir: int, model: Model, graphs: list[Graph]) -> None:
    for need, what in _ir_needs(model, graphs):
        if ir < need:
            raise DowngradeError(f"{what} needs IR {need} or later (asked for IR {ir})")


def _ir_needs(model: Model, graphs: list[Graph]):
    """(IR version, what needs it) for each versioned feature the model uses."""
    if model.functions:
        yield FUNCTIONS_IR, "model-local functions (inline them first)"
    for function in model.functions.values():
        if function.attribute_defaults:
            yield FUNCTION_DEFAULTS_IR, f"default attribute values of function {function.name!r}"
        if function.overload:
            yield OVERLOADS_IR, f"the overload of function {function.name!r}"
    for top in graphs:
        for graph in top.subgraphs(include_self=True):
            for value in graph.values():
                ir_type = value.type
                if ir_type is None and value.dtype is not None:  # an initializer, untyped
                    ir_type = TensorType(value.dtype)
                yield from _type_needs(ir_type, repr(value.name))
            for node in graph.nodes:
                if node.overload:
                    yield OVERLOADS_IR, f"the overload of node {node.name!r}"
                for attr in node.attributes.values():
                    if attr.type == AttrType.TENSOR and attr.value is not None:
                        yield from _dtype_needs(attr.value.dtype, f"a tensor of {node.name!r}")


def _type_needs(ir_type, what: str):
    if isinstance(ir_type, (OptionalType, SparseTensorType)):
        yield 8, f"{what} ({type(ir_type).__name__.replace('Type', '').lower()} type)"
    if isinstance(ir_type, (OptionalType, SequenceType)):
        yield from _type_needs(ir_type.elem, what)
    elif isinstance(ir_type, TensorType):
        yield from _dtype_needs(ir_type.dtype, what)


def _dtype_needs(dtype, what: str):
    need = _DTYPE_IR.get(dtype) if isinstance(dtype, DataType) else None
    if need is not None:
        yield need, f"{what} ({dtype.name})"


def _top_graphs(model: Model):
    yield model.graph
    for function in model.functions.values():
        yield function.graph


# -- names --------------------------------------------------------------------------------------


def _all_names(model: Model) -> set[str]:
    names: set[str] = set()
    for graph in model.graphs():
        for value in graph.values():
            names.add(value.name)
        for node in graph.nodes:
            names.add(node.name)
    return names


def _name_nodes(model: Model) -> bool:
    """Give every node a unique name (the key of its metadata below IR 10)."""
    taken = {node.name for node in model.all_nodes() if node.name}
    seen: set[str] = set()
    changed = False
    for index, node in enumerate(list(model.all_nodes())):
        if node.name and node.name not in seen:
            seen.add(node.name)
            continue
        base = f"{node.op_type}_{index}"
        name = base
        counter = 0
        while name in taken:
            counter += 1
            name = f"{base}_{counter}"
        node.name = name
        taken.add(name)
        seen.add(name)
        changed = True
    return changed
