"""Trace three of a deep model's layers and repeat the middle one's graph for the others.

Exporting costs time per layer, twice over: torch's exporter re-traces every operator of every
layer with symbolic shapes (~4 s per LLaMA layer here), and the onnxscript optimizer's rewrite
rules match patterns with several outputs against every node of the graph (quadratic: most of a
22-layer export's time). Yet the layers of a decoder or an encoder are one module class built from
one config. A model whose layers are alike is traced with its layer list cut to three (first,
middle, last), optimized and tagged as usual, and the last layer then serves as the template of
layers 3..N-1: each copy reads what its predecessor computed where the template reads the middle
layer, its own parameters (``layers.i.*``) and the same shared values (masks, rotary tables) as
every layer. Copies are whole nodes with the template's operators, attributes and scopes renamed
to their layer.

Two checks make the copy safe. Before tracing, the layers must be alike as modules: one class,
the same parameter and buffer shapes, the same plain attributes in every submodule except an
attribute holding the layer's own index (``layer_idx``); per-layer settings such as sliding-window
layers differ there. After tracing, the middle and the last layer must be the same graph up to
their names: same operators, attributes, constants, scopes and wiring, which also shows that the
layer's index changes nothing it computes (a layer parameter both share, say two equal norms the
optimizer merged, is refused too: the other layers' may differ). When either check fails the whole model is traced as usual.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable

import hcc.ir as ir
from hcc.ir._clone import clone_node

# Below this many layers, tracing three saves nothing worth the check.
MIN_LAYERS = 4
TRACED = 3


class LayerList:
    """The model's repeated layers: the ``ModuleList`` at ``path`` holding ``count`` of them."""

    def __init__(self, module, path: str) -> None:
        self.module = module
        self.path = path
        self.layers = module.get_submodule(path)
        self.count = len(self.layers)

    @contextlib.contextmanager
    def truncated(self):
        """The model with only its first :data:`TRACED` layers, restored afterwards."""
        import torch

        owner_path, _, attribute = self.path.rpartition(".")
        owner = self.module.get_submodule(owner_path)
        setattr(owner, attribute, torch.nn.ModuleList(list(self.layers)[:TRACED]))
        try:
            yield
        finally:
            setattr(owner, attribute, self.layers)

    def rename_level(self, path: str, class_name: str, old: int, new: int) -> tuple[str, str]:
        """A scope level's module path and class segment (``LlamaDecoderLayer.2``) as layer
        ``new``'s instead of layer ``old``'s."""
        if path == f"{self.path}.{old}" and class_name.endswith(f".{old}"):
            class_name = class_name.removesuffix(f".{old}") + f".{new}"
        return self.rename(path, old, new), class_name

    def rename(self, text: str, old: int, new: int) -> str:
        """``text`` with layer ``old``'s module path (as a whole name) changed to layer ``new``'s."""
        pattern = rf"(?<![\w.]){re.escape(self.path)}\.{old}(?![\w])"
        return re.sub(pattern, f"{self.path}.{new}", text)


def repeated_layers(module) -> LayerList | None:
    """The longest list of at least :data:`MIN_LAYERS` alike layers in ``module``, or None."""
    import torch

    best = None
    for path, child in module.named_modules():
        if not isinstance(child, torch.nn.ModuleList) or len(child) < MIN_LAYERS:
            continue
        if best is None or len(child) > best[1]:
            best = (path, len(child))
    if best is None:
        return None
    layers = LayerList(module, best[0])
    reference = layers.layers[1]
    if not all(_alike(layer, reference, index, 1) for index, layer in enumerate(layers.layers)):
        return None
    return layers


def _alike(layer, reference, index: int, reference_index: int) -> bool:
    """Same class, tensor shapes and plain attributes, module by module (see the docstring)."""
    if type(layer) is not type(reference):
        return False
    mine, theirs = list(layer.named_modules()), list(reference.named_modules())
    if [(n, type(m)) for n, m in mine] != [(n, type(m)) for n, m in theirs]:
        return False
    for (_, a), (_, b) in zip(mine, theirs):
        if _tensors(a) != _tensors(b):
            return False
        plain_a, plain_b = _plain(a), _plain(b)
        if plain_a.keys() != plain_b.keys():
            return False
        for key, value in plain_a.items():
            other = plain_b[key]
            if value == index and other == reference_index and type(value) is int:
                continue  # the layer's own index (layer_idx): the traced graphs are compared
            try:
                if not bool(value == other):
                    return False
            except Exception:  # an attribute without a usable == (an array): not provably alike
                return False
    return True


def _tensors(module) -> list:
    items = [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]
    return [(name, tuple(t.shape), t.dtype) for name, t in items]


def _plain(module) -> dict:
    import torch

    return {
        key: value
        for key, value in vars(module).items()
        if not key.startswith("_") and not isinstance(value, torch.Tensor | torch.nn.Module)
    }


def repeat(
    model: ir.Model, layers: LayerList, parameter: Callable[[ir.Value, str], ir.Value]
) -> bool:
    """Grow ``model`` (exported with :data:`TRACED` layers, its nodes scoped) to all
    ``layers.count`` layers; ``parameter(template, name)`` makes the initializer of a copied
    layer's parameter. Returns False, leaving the model untouched, when the traced middle and
    last layers are not the same graph up to names."""
    graph = model.graph
    members = [_members(graph, layers, k) for k in range(TRACED)]
    middle, template = members[-2], members[-1]
    plan = _match(middle, template, layers, graph)
    if plan is None or not template:
        return False
    own_outputs = _own_outputs(graph, members)
    if own_outputs is None or not _exits_follow(graph, template, members, own_outputs):
        return False
    if not _own_inputs_exist(graph, members, plan, layers.count):
        return False
    _grow(graph, layers, template, plan, parameter, own_outputs)
    return True


def _members(graph: ir.Graph, layers: LayerList, index: int) -> list[ir.Node]:
    """The nodes scoped inside layer ``index``, in graph order."""
    path = f"{layers.path}.{index}"
    return [
        node
        for node in graph
        if node.scope.module_path == path or node.scope.module_path.startswith(path + ".")
    ]


def _match(middle: list[ir.Node], template: list[ir.Node], layers: LayerList, graph: ir.Graph):
    """How each template input is wired, if ``middle`` and ``template`` are the same graph up to
    names: per (node index, input index) ``("carry", j, k)`` (output k of node j of the previous
    layer), ``("param", name)`` (the template's own parameter), ``("input", p, stride)`` (the
    layer's own graph input at position p, each layer's ``stride`` positions after its
    predecessor's: a KV cache's history) or ``("shared",)``. Inputs computed inside the layer
    have no entry."""
    positions = {id(value): p for p, value in enumerate(graph.inputs)}
    if len(middle) != len(template):
        return None
    position = {}  # value -> (node index, output index) in its own layer
    for layer in (middle, template):
        for j, node in enumerate(layer):
            for k, value in enumerate(node.outputs):
                position[value] = (j, k)
    in_middle, in_template = set(map(id, middle)), set(map(id, template))
    last = TRACED - 1
    plan = {}
    for j, (a, b) in enumerate(zip(middle, template)):
        if not _same_node(a, b, layers):
            return None
        for i, (x, y) in enumerate(zip(a.inputs, b.inputs)):
            if x is None or y is None:
                if x is not y:
                    return None
                continue
            x_inside = x.producer is not None and id(x.producer) in in_middle
            y_inside = y.producer is not None and id(y.producer) in in_template
            if x_inside or y_inside:
                if not (x_inside and y_inside and position[x] == position[y]):
                    return None
            elif y.producer is not None and id(y.producer) in in_middle:
                plan[(j, i)] = ("carry", *position[y])
            elif x is y and not _layer_parameter(x, layers):
                plan[(j, i)] = ("shared",)
            elif (
                x is not y
                and x.is_initializer
                and y.is_initializer
                and layers.rename(x.name, last - 1, last) == y.name
            ):
                plan[(j, i)] = ("param", y.name)
            elif x is not y and id(x) in positions and id(y) in positions:
                stride = positions[id(y)] - positions[id(x)]
                if stride <= 0 or x.type != y.type:
                    return None
                plan[(j, i)] = ("input", positions[id(y)], stride)
            else:
                return None
    return plan


def _own_inputs_exist(graph: ir.Graph, members: list, plan: dict, count: int) -> bool:
    """Each grown layer's own graph inputs are there, unread by the traced layers and typed
    like the template's: the model takes every layer's inputs even when traced with three
    (what lies outside the layers, a Shape sizing the mask, may read any of them)."""
    inputs = graph.inputs
    template = members[-1]
    inside = {id(node) for layer in members for node in layer}
    for (j, i), wiring in plan.items():
        if wiring[0] != "input":
            continue
        _, position, stride = wiring
        for index in range(TRACED, count):
            at = position + stride * (index - (TRACED - 1))
            if at >= len(inputs):
                return False
            value = inputs[at]
            if value.type != template[j].inputs[i].type:
                return False
            if any(id(node) in inside for node, _ in value.uses):
                return False
    return True


def _own_outputs(graph: ir.Graph, members: list) -> list[tuple[int, int]] | None:
    """The (node index, output index) of the values each layer hands out as graph outputs of
    its own (a KV cache's keys and values), if the middle and last layers have them at the same
    place, and every traced layer's lie together right after its predecessor's; None if not."""
    position = {id(value): p for p, value in enumerate(graph.outputs)}
    found = [
        [
            (j, k, position[id(value)])
            for j, node in enumerate(layer)
            for k, value in enumerate(node.outputs)
            if id(value) in position
        ]
        for layer in members
    ]
    if [(j, k) for j, k, _ in found[-2]] != [(j, k) for j, k, _ in found[-1]]:
        return None
    own = [(j, k) for j, k, _ in sorted(found[-1], key=lambda entry: entry[2])]
    width = len(own)
    spans = [sorted(p for _, _, p in layer) for layer in found]
    for span in spans:
        if len(span) != width or (span and span != list(range(span[0], span[0] + width))):
            return None
    for before, after in zip(spans, spans[1:]):
        if before and after[0] != before[0] + width:
            return None
    return own


def _layer_parameter(value: ir.Value, layers: LayerList) -> bool:
    return value.is_initializer and (value.name or "").startswith(layers.path + ".")


def _same_node(a: ir.Node, b: ir.Node, layers: LayerList) -> bool:
    if (a.domain, a.op_type, a.overload) != (b.domain, b.op_type, b.overload):
        return False
    if len(a.inputs) != len(b.inputs) or len(a.outputs) != len(b.outputs):
        return False
    if _scope_key(a.scope, layers, TRACED - 2, TRACED - 1) != _scope_key(b.scope, layers):
        return False
    if a.attributes.keys() != b.attributes.keys():
        return False
    return all(
        _attr_key(attr) == _attr_key(b.attributes[name]) for name, attr in a.attributes.items()
    )


def _scope_key(scope: ir.Scope, layers: LayerList, old: int = 0, new: int = 0) -> tuple:
    """The scope's levels, with layer ``old`` renamed to ``new``."""
    return tuple(
        layers.rename_level(s.module_path, s.class_name, old, new)
        for s in scope.ancestors(include_self=True)
    )


def _attr_key(attr: ir.Attr):
    if attr.type in (ir.AttrType.GRAPH, ir.AttrType.GRAPHS):
        return object()  # a subgraph never compares equal: such layers are traced in full
    value = attr.value
    if attr.type == ir.AttrType.TENSOR:
        return (attr.type, value.dtype, tuple(value.shape), value.numpy().tobytes())
    return (attr.type, tuple(value) if isinstance(value, list | tuple) else value)


def _exits_follow(graph: ir.Graph, template: list[ir.Node], members: list, own: list) -> bool:
    """Only the last layer's values leave the layers, and only to nodes after it: the copies go
    between the template and those readers. A value of an earlier layer read outside the layers
    would need a copy per layer too. The layers' own graph outputs (``own``, checked by
    :func:`_own_outputs`) are the exception: read by nothing outside the layers, every copy
    gets its own."""
    inside = {id(node) for layer in members for node in layer}
    order = {id(node): i for i, node in enumerate(graph)}
    end = order[id(template[-1])]
    template_own = {id(template[j].outputs[k]) for j, k in own}
    for layer in members[:-1]:
        for node in layer:
            if node.op_type == "Constant" and not node.inputs:
                continue  # a literal made once, which every later reader shares
            for value in node.outputs:
                if any(id(n) not in inside for n, _ in value.uses):
                    return False
    for node in template:
        for value in node.outputs:
            outside = [n for n, _ in value.uses if id(n) not in inside]
            if outside and id(value) in template_own:
                return False
            if any(order[id(n)] <= end for n in outside):
                return False
    return True


def _grow(
    graph: ir.Graph, layers: LayerList, template: list, plan: dict, parameter, own_outputs: list
) -> None:
    """Insert layers TRACED..count-1 after the template; what read the template from outside
    the layers (the final norm, graph outputs) then reads the last copy. Each copy reads its own
    graph inputs and adds its own graph outputs after its predecessor's."""
    last = TRACED - 1
    own = set(map(id, template))
    per_layer = set(own_outputs)
    readers = [
        (j, k, [(n, i) for n, i in value.uses if id(n) not in own])
        for j, node in enumerate(template)
        for k, value in enumerate(node.outputs)
        if (j, k) not in per_layer
    ]
    outputs = graph.outputs
    added: list[ir.Value] = []
    nodes = list(graph)
    cut = nodes.index(template[-1]) + 1
    grown: list[ir.Node] = []
    previous = template
    for index in range(TRACED, layers.count):
        value_map: dict[ir.Value, ir.Value] = {}
        scopes: dict[ir.Scope, ir.Scope] = {}
        for (j, i), wiring in plan.items():
            value = template[j].inputs[i]
            if wiring[0] == "carry":
                value_map[value] = previous[wiring[1]].outputs[wiring[2]]
            elif wiring[0] == "param":
                value_map[value] = parameter(value, layers.rename(wiring[1], last, index))
            elif wiring[0] == "input":
                value_map[value] = graph.inputs[wiring[1] + wiring[2] * (index - last)]
        copies = []
        for node in template:
            copy = clone_node(node, value_map)
            copy.name = f"{node.name}__{index}" if node.name else ""
            for value in copy.outputs:
                value.name = f"{value.name}__{index}" if value.name else ""
            copy.metadata_props = {
                key: layers.rename(text, last, index) for key, text in node.metadata_props.items()
            }
            copy.scope = _renamed(node.scope, layers, index, scopes)
            graph.append(copy)
            copies.append(copy)
        grown += copies
        previous = copies
        added += [copies[j].outputs[k] for j, k in own_outputs]
    graph.sort_nodes(nodes[:cut] + grown + nodes[cut:])
    if added:
        end = max(outputs.index(template[j].outputs[k]) for j, k in own_outputs) + 1
        outputs[end:end] = added
    for j, k, uses in readers:
        old, new = template[j].outputs[k], previous[j].outputs[k]
        for node, i in uses:
            node.replace_input_with(i, new)
        for position, value in enumerate(outputs):
            if value is old:
                outputs[position] = new


def _renamed(scope: ir.Scope, layers: LayerList, index: int, cache: dict) -> ir.Scope:
    """``scope`` with the template layer's module paths changed to layer ``index``'s."""
    if scope.parent is None:
        return scope
    if scope not in cache:
        parent = _renamed(scope.parent, layers, index, cache)
        path, name = layers.rename_level(scope.module_path, scope.class_name, TRACED - 1, index)
        cache[scope] = parent.child(path, name, scope.qualified_class)
    return cache[scope]
