"""``downgrade-ir``: rewrite a model for an older IR version and default-domain opset.

Deployment toolchains pin old ONNX. For every node whose operator changed between the model's
opset and the target, in order of preference:

1. a down-adapter of hcc's own (:mod:`hcc.passes._down_adapters`) rewrites it — e.g. Gelu and
   LayerNormalization become the formulas they stand for, Reduce* and Split take their older
   attribute forms, Shape's start/end become a Slice;
2. otherwise, if the node already fits the target's schema (the operator only gained types or
   attributes the node does not use, or uses at their old default), it is kept as is, with such
   defaulted attributes dropped;
3. otherwise the pass fails with "no down-conversion for OP from N to M" and changes nothing.

New nodes take the scope of the node they replace. Below IR 10 the nodes' metadata (their tags)
is written to one model-level map by hcc's exporter and read back by its importer, so a
downgraded model still has its scopes. Every node is given a unique name for that map.
"""

from __future__ import annotations

from hcc.ir import DataType, Graph, HccError, Model, Node, TensorType
from hcc.ir.onnx import schemas

from ._down_adapters import ADAPTERS, Rewriter
from ._infra import Pass, PassResult
from ._options import Option
from ._registry import register_pass

# IR versions that lack a feature the model may use.
FUNCTIONS_IR = 8
FLOAT8_IR = 9
INT4_IR = 10
_FLOAT8 = {DataType.FLOAT8E4M3FN, DataType.FLOAT8E4M3FNUZ, DataType.FLOAT8E5M2,
           DataType.FLOAT8E5M2FNUZ}
_INT4 = {DataType.INT4, DataType.UINT4}


class DowngradeError(HccError):
    """The model cannot be expressed at the requested version."""


@register_pass("downgrade-ir", summary="rewrite for an older IR version and opset, keeping tags")
class DowngradeIrPass(Pass):
    ir = Option(int, 8, "target IR version", min=7, max=10)
    opset = Option(int, 17, "target opset of the default domain", min=13, max=20)

    def call(self, model: Model) -> PassResult:
        source = model.opset_imports.get("", None)
        if source is None:
            raise DowngradeError("the model imports no default-domain opset")
        needed = schemas.ir_version_for_opset(self.opset)
        if self.ir < needed:
            raise DowngradeError(f"opset {self.opset} needs IR version {needed} or later; "
                                 f"choose ir >= {needed} or a lower opset")
        self._check_ir_features(model)
        changed = False
        if self.opset < source:
            # Convert a copy of the node list first: a failure must leave the model unchanged.
            self._check_convertible(model, source)
            names = _all_names(model)
            for graph in list(model.graphs()):
                changed |= self._convert_graph(graph, source, names)
            model.opset_imports[""] = self.opset
            changed = True
        if self.opset > source:
            raise DowngradeError(f"the model is at opset {source}; downgrade-ir only lowers "
                                 f"it (asked for {self.opset})")
        if self.ir != model.ir_version:
            if self.ir > model.ir_version:
                raise DowngradeError(f"the model is at IR {model.ir_version}; downgrade-ir "
                                     f"only lowers it (asked for {self.ir})")
            model.ir_version = self.ir
            changed = True
        if self.ir < 10:
            changed |= _name_nodes(model)
        return PassResult(model, changed)

    # -- checks ---------------------------------------------------------------------------

    def _check_ir_features(self, model: Model) -> None:
        if self.ir < FUNCTIONS_IR and model.functions:
            raise DowngradeError(f"model-local functions need IR {FUNCTIONS_IR}; inline them "
                                 "first (inline-functions)")
        for graph in model.graphs():
            for value in graph.values():
                dtype = value.dtype
                if self.ir < FLOAT8_IR and dtype in _FLOAT8:
                    raise DowngradeError(f"{value.name!r} is {dtype.name}, which needs IR "
                                         f"{FLOAT8_IR}")
                if self.ir < INT4_IR and dtype in _INT4:
                    raise DowngradeError(f"{value.name!r} is {dtype.name}, which needs IR "
                                         f"{INT4_IR}")

    def _check_convertible(self, model: Model, source: int) -> None:
        """Fail before changing anything if some node has no way down."""
        for node in model.all_nodes():
            if node.domain not in ("", "ai.onnx"):
                continue
            plan = _plan(node, source, self.opset)
            if plan == "none":
                raise DowngradeError(
                    f"no down-conversion for {node.op_type} from "
                    f"{schemas.since_version('', node.op_type, source)} to "
                    f"{self.opset}", location=f"node {node.name!r}" if node.name else None)

    # -- conversion -----------------------------------------------------------------------

    def _convert_graph(self, graph: Graph, source: int, names: set[str]) -> bool:
        rewriter = Rewriter(graph, names)
        changed = False
        for node in list(graph.nodes):
            if node.domain not in ("", "ai.onnx") or node.graph is not graph:
                continue
            plan = _plan(node, source, self.opset)
            if plan == "same":
                continue
            if plan == "adapter":
                if not ADAPTERS[node.op_type](rewriter, node, self.opset):
                    raise DowngradeError(
                        f"no down-conversion for {node.op_type} from "
                        f"{schemas.since_version('', node.op_type, source)} to {self.opset}: "
                        "this node's form has no equivalent there",
                        location=f"node {node.name!r}" if node.name else None)
                if node.graph is graph:
                    _drop_defaulted(node, self.opset)
            else:  # "fits"
                _drop_defaulted(node, self.opset)
            changed = True
        return changed


def _plan(node: Node, source: int, target: int) -> str:
    """``same`` (no change between the versions), ``adapter``, ``fits`` or ``none``."""
    op = node.op_type
    before = schemas.since_version("", op, source)
    after = schemas.since_version("", op, target)
    if before is not None and before == after:
        return "same"
    if op in ADAPTERS and _adapter_applies(node, target):
        return "adapter"
    if after is not None and fits(node, target):
        return "fits"
    return "none"


def _adapter_applies(node: Node, target: int) -> bool:
    # Adapters decide for themselves whether a node's form can go down; a node they cannot
    # handle is reported when they run, before the graph has been changed by them.
    return True


def fits(node: Node, opset: int) -> bool:
    """True if ``node`` is valid at ``opset`` once attributes at their old default are dropped."""
    sig = schemas.signature("", node.op_type, opset)
    if sig is None:
        return False
    for name, attr in node.attributes.items():
        if name not in sig.attributes and not _is_default(node, name, attr.value):
            return False
    for name, (required, _) in sig.attributes.items():
        if required and name not in node.attributes:
            return False
    if not _arity_fits(len(node.inputs), sig.inputs) or not _arity_fits(len(node.outputs),
                                                                           sig.outputs):
        return False
    return _types_fit(node.inputs, sig.inputs, sig) and _types_fit(node.outputs, sig.outputs, sig)


def _is_default(node: Node, name: str, value) -> bool:
    newest = schemas.signature("", node.op_type, 10_000)
    if newest is None or name not in newest.attributes:
        return False
    default = newest.attributes[name][1]
    return default is not None and default == value


def _arity_fits(count: int, params) -> bool:
    if not params:
        return count == 0
    if params[-1][1] == "variadic":
        return True
    return count <= len(params)


def _types_fit(values, params, sig) -> bool:
    for index, value in enumerate(values):
        if value is None or not params:
            continue
        param = params[min(index, len(params) - 1)][2]
        if not isinstance(value.type, TensorType) or not isinstance(value.type.dtype, DataType):
            continue  # unknown type: the checker run after the pass will tell
        name = schemas.type_string(int(value.type.dtype))
        allowed = sig.type_constraints.get(param, frozenset({param}))
        if name is not None and name not in allowed:
            return False
    return True


def _drop_defaulted(node: Node, opset: int) -> None:
    sig = schemas.signature("", node.op_type, opset)
    if sig is None:
        return
    for name in [n for n in node.attributes if n not in sig.attributes]:
        if _is_default(node, name, node.attributes[name].value):
            del node.attributes[name]


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
    taken: set[str] = set()
    changed = False
    nodes = list(model.all_nodes())
    for node in nodes:
        if node.name and node.name not in taken:
            taken.add(node.name)
    seen: set[str] = set()
    for index, node in enumerate(nodes):
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
