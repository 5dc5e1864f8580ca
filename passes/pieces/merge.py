"""Putting pieces back together: one model from models whose boundary tensors match by name.

Pieces are merged in order. A piece's input that an earlier piece produces is wired to it (the
types must agree, or the tensor is named in the error). With ``model_inputs`` (given by a
manifest, or recorded in pieces that hcc wrote) every other input is an error naming the
tensor; for pieces from elsewhere such inputs become model inputs. Nodes that a later piece
copied from an earlier one (``internalize-constants``) are recognised by their output names and
kept once. Initializers with the same content are kept once, whatever their names; two
different initializers with the same name are an error. Scopes and all node metadata come
along unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence

from hcc.ir import Graph, HccError, Model, Node, Value
from hcc.ir._clone import clone_node, clone_value
from hcc.ir._tensors import ExternalTensor

from .model import MODEL_INPUTS_KEY, MODEL_OUTPUTS_KEY, PIECE_KEY


class CombineError(HccError):
    """The pieces do not fit together."""


def combine_models(
    pieces: Sequence[Model],
    *,
    model_inputs: Sequence[str] | None = None,
    model_outputs: Sequence[str] | None = None,
    name: str = "",
) -> Model:
    """One model computing what ``pieces`` compute when run in order.

    ``model_inputs`` / ``model_outputs`` name the combined model's inputs and outputs (in that
    order). By default they are what the pieces recorded (hcc writes the whole model's interface
    into every piece), else the inputs no earlier piece makes and the outputs no later piece
    reads.
    """
    if not pieces:
        raise CombineError("nothing to combine")
    if model_inputs is None:
        model_inputs = _recorded(pieces, MODEL_INPUTS_KEY)
    if model_outputs is None:
        model_outputs = _recorded(pieces, MODEL_OUTPUTS_KEY)
    by_name: dict[str, Value] = {}  # every value of the combined graph, by name
    inputs: list[Value] = []
    initializers = _Initializers()
    nodes: list[Node] = []
    for index, piece in enumerate(pieces):
        graph = piece.graph
        value_map: dict[Value, Value] = {}
        for value in graph.inputs:
            existing = by_name.get(value.name)
            if existing is not None:
                _check_types(existing, value, index)
                value_map[value] = existing
            else:
                copy = clone_value(value)
                by_name[value.name] = copy
                inputs.append(copy)
                value_map[value] = copy
        for value in graph.initializers.values():
            value_map[value] = initializers.add(value, by_name, index)
        for node in graph.nodes:
            names = [v.name for v in node.outputs if v.name]
            if names and all(n in by_name for n in names):
                first = by_name[names[0]].producer
                if first is not None and _same_op(first, node):
                    for old in node.outputs:
                        if old.name:
                            value_map[old] = by_name[old.name]
                    continue  # a helper this piece copied from an earlier one
                raise CombineError(
                    f"tensor {names[0]!r} is made by two different nodes (piece {index + 1})"
                )
            clash = [n for n in names if n in by_name]
            if clash:
                raise CombineError(f"tensor {clash[0]!r} is made twice (piece {index + 1})")
            copy = clone_node(node, value_map)
            nodes.append(copy)
            for value in copy.outputs:
                if value.name:
                    by_name[value.name] = value
    # A model input that a piece produced later would make a cycle: pieces run in order.
    for value in inputs:
        if value.producer is not None:
            raise CombineError(f"tensor {value.name!r} is read before the piece that makes it")
    if model_inputs is not None:
        missing = [n for n in model_inputs if n not in {v.name for v in inputs}]
        if missing:
            raise CombineError(f"model input {missing[0]!r} is not an input of any piece")
        extra = [v.name for v in inputs if v.name not in set(model_inputs)]
        if extra:
            raise CombineError(
                f"tensor {extra[0]!r} is read by a piece but no earlier piece "
                "makes it (boundary names do not match)"
            )
        order = {n: i for i, n in enumerate(model_inputs)}
        inputs.sort(key=lambda v: order[v.name])
    if model_outputs is not None:
        outputs = []
        for output in model_outputs:
            if output not in by_name:
                raise CombineError(f"model output {output!r} is made by no piece")
            outputs.append(by_name[output])
    else:
        # Without a manifest: every piece output that no later piece reads (the last piece's
        # outputs, and model outputs an earlier piece makes, such as BERT's last hidden state).
        read_later: set[str] = set()
        outputs = []
        for piece in reversed(pieces):
            for value in reversed(piece.graph.outputs):
                if value.name not in read_later and by_name[value.name] not in outputs:
                    outputs.append(by_name[value.name])
            read_later.update(v.name for v in piece.graph.inputs)
        outputs.reverse()
    graph = Graph(
        inputs,
        outputs,
        nodes,
        initializers=initializers.by_name.values(),
        name=name or pieces[0].graph.name,
    )
    for piece in pieces:
        for value in piece.graph.value_info:
            if value.name in by_name and by_name[value.name] not in graph.value_info:
                target = by_name[value.name]
                if target.type is None:
                    target.type = value.type
                graph.value_info.append(target)
    first = pieces[0]
    opsets: dict[str, int] = {}
    for piece in pieces:
        for domain, version in piece.opset_imports.items():
            if opsets.setdefault(domain, version) != version:
                name = domain or "ai.onnx"
                raise CombineError(f"pieces import different versions of opset {name!r}")
    functions = {}
    for piece in pieces:
        functions.update(piece.functions)
    metadata = {
        k: v
        for k, v in first.metadata_props.items()
        if k not in (PIECE_KEY, MODEL_INPUTS_KEY, MODEL_OUTPUTS_KEY)
    }
    return Model(
        graph,
        ir_version=max(p.ir_version for p in pieces),
        opset_imports=opsets,
        producer_name=first.producer_name,
        producer_version=first.producer_version,
        domain=first.domain,
        model_version=first.model_version,
        doc_string=first.doc_string,
        metadata_props=metadata,
        functions=functions.values(),
    )


def _recorded(pieces: Sequence[Model], key: str) -> list[str] | None:
    """The model interface the pieces recorded (hcc writes it into each piece), if they agree."""
    texts = {piece.metadata_props.get(key) for piece in pieces}
    if len(texts) != 1 or None in texts:
        return None
    try:
        names = json.loads(texts.pop())
    except ValueError:
        return None
    return names if isinstance(names, list) and all(isinstance(n, str) for n in names) else None


def _check_types(existing: Value, incoming: Value, index: int) -> None:
    a, b = existing.type, incoming.type
    if a is None or b is None:
        return
    if getattr(a, "dtype", None) != getattr(b, "dtype", None):
        raise CombineError(
            f"boundary tensor {incoming.name!r}: piece {index + 1} expects "
            f"{b} but an earlier piece makes {a}"
        )
    sa, sb = getattr(a, "shape", None), getattr(b, "shape", None)
    if (
        sa is not None
        and sb is not None
        and (
            len(sa) != len(sb)
            or any(isinstance(x, int) and isinstance(y, int) and x != y for x, y in zip(sa, sb))
        )
    ):
        raise CombineError(
            f"boundary tensor {incoming.name!r}: piece {index + 1} expects "
            f"{b} but an earlier piece makes {a}"
        )


class _Initializers:
    """The combined model's initializers, one per content.

    Comparing contents must not read every weight: tensors that are the same object, or the same
    bytes of the same external file (pieces sharing one weights file), match without reading;
    others are told apart by dtype, shape and their first and last bytes, and only tensors that
    agree on all of those are hashed in full (streamed from disk for external data).
    """

    def __init__(self) -> None:
        self.by_name: dict[str, Value] = {}
        self._by_place: dict[tuple, Value] = {}
        self._by_probe: dict[tuple, list[Value]] = {}
        self._digests: dict[int, str] = {}

    def add(self, value: Value, by_name: dict[str, Value], index: int) -> Value:
        tensor = value.const_value
        place = _place(tensor)
        same = self._by_place.get(place)
        if same is not None:
            return same
        probe = _probe(tensor)
        for candidate in self._by_probe.get(probe, []):
            if self._digest(candidate.const_value) == self._digest(tensor):
                self._by_place[place] = candidate
                return candidate
        if value.name in self.by_name:
            raise CombineError(
                f"initializer {value.name!r} differs between pieces (piece {index + 1})"
            )
        if value.name in by_name:
            raise CombineError(
                f"initializer {value.name!r} clashes with a tensor of an earlier piece"
            )
        copy = clone_value(value)
        self.by_name[value.name] = copy
        by_name[value.name] = copy
        self._by_place[place] = copy
        self._by_probe.setdefault(probe, []).append(copy)
        return copy

    def _digest(self, tensor) -> str:
        key = id(tensor)
        if key not in self._digests:
            digest = hashlib.sha256()
            for chunk in _chunks(tensor):
                digest.update(chunk)
            self._digests[key] = digest.hexdigest()
        return self._digests[key]


def _place(tensor) -> tuple:
    if isinstance(tensor, ExternalTensor):
        return (
            "file",
            os.path.realpath(tensor.path),
            tensor.offset,
            tensor.length,
            int(tensor.dtype),
            tensor.shape,
        )
    return ("object", id(tensor))


_PROBE = 64


def _probe(tensor) -> tuple:
    if int(tensor.dtype) == 8:  # strings have no raw form
        return (8, tensor.shape, repr(tensor.numpy().tolist()[:4]))
    if isinstance(tensor, ExternalTensor):
        with open(tensor.path, "rb") as f:
            head = os.pread(f.fileno(), min(_PROBE, tensor.length), tensor.offset)
            tail = os.pread(
                f.fileno(),
                min(_PROBE, tensor.length),
                tensor.offset + max(0, tensor.length - _PROBE),
            )
    else:
        view = tensor.raw_view()
        head, tail = bytes(view[:_PROBE]), bytes(view[-_PROBE:])
    return (int(tensor.dtype), tensor.shape, head, tail)


def _chunks(tensor, size: int = 1 << 24):
    """The tensor's raw bytes in pieces; external data is read with pread, not mapped, so
    hashing a large weight does not keep it in memory."""
    if int(tensor.dtype) == 8:
        yield repr(tensor.numpy().tolist()).encode()
        return
    if isinstance(tensor, ExternalTensor):
        with open(tensor.path, "rb") as f:
            for start in range(0, tensor.length, size):
                yield os.pread(f.fileno(), min(size, tensor.length - start), tensor.offset + start)
        return
    view = tensor.raw_view()
    for start in range(0, len(view), size):
        yield view[start : start + size]


def _same_op(a: Node, b: Node) -> bool:
    if (a.domain, a.op_type, a.overload) != (b.domain, b.op_type, b.overload):
        return False
    # A copied Shape may read a tensor of another rank through start/end (internalize-constants
    # rebases it onto what the piece has): the same dims, so the same helper.
    ignored = {"start", "end"} if (a.domain, a.op_type) == ("", "Shape") else set()
    if set(a.attributes) - ignored != set(b.attributes) - ignored:
        return False
    for name, attr in a.attributes.items():
        if name in ignored:
            continue
        other = b.attributes[name]
        if attr.type != other.type:
            return False
        if attr.type in (1, 2, 3, 6, 7, 8) and attr.value != other.value:
            return False
    return True
