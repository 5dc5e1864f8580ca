"""``internalize-constants``: every piece computes its own constants and shape helpers.

After ``split`` a piece may read small values that another piece computed: shape vectors,
attention masks built from the model's inputs, RoPE tables, constants. Passing them across the
boundary ties pieces together, so this pass copies the nodes that make such a value into every
piece that reads it, when that is cheap:

* the copy needs at most ``max_nodes`` nodes, and
* the initializers it adds weigh at most ``max_bytes`` in all;
* what the copy reads must be available in the piece: the model's inputs, initializers, or a
  tensor the piece already has. The data of a floating-point model input is not: it is the
  activation stream (pixels, a hidden state fed in), and recomputing from it would redo the
  work of earlier pieces (only its shape may be read). A ``Shape`` of a tensor the piece does
  not have may read instead a tensor the piece does have whose shape is known to be the same
  (the hidden state of the next layer has the shape of the previous one's).

Values that stay on the boundary are activations (and anything too large to recompute), the
tensors named by ``keep`` and those the choosing pass asked to keep (``extract`` keeps what its
modules take and return).

Large weights used by several pieces (a tied embedding and head) are never duplicated by
accident: ``shared_weights`` decides. ``share`` (the default) keeps one copy on disk that every
piece reads (one external-data file for all pieces); ``duplicate`` gives each piece its own copy;
``error`` refuses to split such a model.
"""

from __future__ import annotations

from hcc.ir import DataType, Graph, HccError, Model, Node, Value, node_reads
from hcc.ir import owner_in as _top

from .._infra import Pass, PassResult
from .._options import Option
from .._registry import register_pass
from .model import KEEP_KEY, Piece, boundaries, node_order, piece_inputs, pieces_of

SHARED_WEIGHTS_KEY = "hcc.shared_weights"


@register_pass(
    "internalize-constants",
    summary="copy constants and shape helpers into every piece that needs them",
)
class InternalizeConstantsPass(Pass):
    max_nodes = Option(int, 64, "largest helper computation to copy into a piece", min=0)
    max_bytes = Option(int, 16 << 10, "most initializer bytes one copied helper may add", min=0)
    shared_weights = Option(
        str,
        "share",
        "large weights used by several pieces",
        choices=["share", "duplicate", "error"],
    )
    keep = Option(list[str], [], "tensors that stay on the boundary even when cheap to copy")

    def call(self, model: Model) -> PassResult:
        pieces = pieces_of(model)
        graph = model.graph
        # Shape's start/end (opset 15) let a copied Shape read a tensor of another rank.
        self._shape_ranges = model.opset_imports.get("", 0) >= 15
        order = node_order(graph)
        self._kept = set(self.keep) | set(model.meta.get(KEEP_KEY, ()))
        changed = False
        for piece in pieces:
            changed |= self._internalize(graph, piece, pieces, order)
        shared = shared_initializers(model, pieces)
        big = [
            v for v in shared if v.const_value is not None and v.const_value.nbytes > self.max_bytes
        ]
        if big and self.shared_weights == "error":
            names = ", ".join(f"{v.name} ({v.const_value.nbytes} bytes)" for v in big[:5])
            raise HccError(
                f"large weights are used by several pieces: {names}; "
                "set shared_weights=share or duplicate"
            )
        model.meta[SHARED_WEIGHTS_KEY] = self.shared_weights
        return PassResult(model, changed)

    def _internalize(
        self, graph: Graph, piece: Piece, pieces: list[Piece], order: dict[Node, int]
    ) -> bool:
        changed = False
        progress = True
        while progress:
            progress = False
            edge = piece_inputs(graph, piece, order=order)[0]
            available = _available(graph, piece, edge)
            for value in edge:
                if value.producer is None or value.name in self._kept:
                    continue  # a model input, or a tensor asked to stay on the boundary
                plan = self._plan(graph, value, piece, available - {value}, edge)
                if plan is None:
                    continue
                nodes, rebased, ranges = plan
                if _closes_a_cycle(graph, piece, value, nodes, rebased):
                    continue
                piece.copied = sorted(set(piece.copied) | set(nodes), key=order.__getitem__)
                for node, substitutes in rebased.items():
                    piece.rebased.setdefault(node, {}).update(substitutes)
                for node, attributes in ranges.items():
                    piece.rebased_attributes.setdefault(node, {}).update(attributes)
                progress = changed = True
                break  # the boundary changed: recompute it
        return changed

    def _plan(
        self,
        graph: Graph,
        value: Value,
        piece: Piece,
        available: set[Value],
        boundary_first: list[Value],
    ):
        """The nodes to copy so the piece computes ``value`` itself, or None if too costly."""
        members = set(piece.nodes) | set(piece.copied)
        nodes: dict[Node, None] = {}
        rebased: dict[Node, dict[int, Value]] = {}
        ranges: dict[Node, dict[str, int]] = {}
        added_bytes = 0
        have_inits = {v for n in members for v in piece.reads(n) if v.is_initializer}
        stack: list[tuple[Value, Node | None]] = [(value, None)]  # (value, the node reading it)
        seen: set[Value] = set()
        while stack:
            current, reader = stack.pop()
            if current in available:
                continue
            if current in graph.inputs and _is_float(current) and not _reads_shape_only(reader):
                # The data of a floating-point model input is the activation stream (pixels,
                # a hidden state fed in): recomputing from it would redo earlier pieces' work.
                return None
            if current in seen:
                continue
            seen.add(current)
            if current.is_initializer:
                if current not in have_inits:
                    added_bytes += current.const_value.nbytes
                    if added_bytes > self.max_bytes:
                        return None
                continue
            producer = current.producer
            if producer is None:
                if current in graph.inputs:
                    continue  # the piece may take a model input
                return None
            producer = _top(producer, graph)
            if producer in members or producer in nodes:
                continue
            nodes[producer] = None
            if len(nodes) > self.max_nodes:
                return None
            if producer.op_type == "Shape" and producer.domain == "":
                source = producer.inputs[0]
                if source not in available and not source.is_initializer:
                    found = _same_shape(
                        source, available, producer, boundary_first, self._shape_ranges
                    )
                    if found is not None:
                        twin, attributes = found
                        rebased[producer] = {0: twin}
                        if attributes:
                            ranges[producer] = attributes
                        continue
            for read in node_reads(producer):
                stack.append((read, producer))
        return list(nodes), rebased, ranges


InternalizeConstantsPass.__doc__ = __doc__  # `hcc passes` shows the whole description


def _closes_a_cycle(
    graph: Graph,
    piece: Piece,
    value: Value,
    nodes: list[Node],
    rebased: dict[Node, dict[int, Value]],
) -> bool:
    """Whether copying ``nodes`` to compute ``value`` would make the piece a cycle: a copied
    Shape of the piece reads ``value`` in place of a tensor of the same shape, and the copies
    depend on that Shape (the reshaped token ids, whose Reshape is sized by the mask's Shape
    that reads them). ``value`` then stays on the boundary."""
    readers = {node for node, substitutes in piece.rebased.items() if value in substitutes.values()}
    if not readers:
        return False
    members = set(piece.nodes) | set(piece.copied) | set(nodes)
    stack, seen = list(nodes), set()
    while stack:
        node = stack.pop()
        if node in readers:
            return True
        if node in seen:
            continue
        seen.add(node)
        # The inputs the node reads in the piece: a planned copy's own substitutes, or the
        # piece's for a node it has already.
        substitutes = rebased.get(node) or piece.rebased.get(node, {})
        reads = [substitutes.get(i, v) for i, v in enumerate(node.inputs)]
        reads += [v for sub in node.subgraphs() for inner in sub.all_nodes() for v in inner.inputs]
        for read in reads:
            if read is not None and read.producer is not None:
                producer = _top(read.producer, graph)
                if producer in members:
                    stack.append(producer)
    return False


def _available(graph: Graph, piece: Piece, edge: list[Value]) -> set[Value]:
    """Values the piece has without help: its own results and what crosses its boundary."""
    have = set(edge)
    for node in set(piece.nodes) | set(piece.copied):
        have.update(node.outputs)
    return have


def _same_shape(
    value: Value, available: set[Value], shape_node: Node, boundary_first: list[Value], ranges: bool
):
    """An available tensor whose dims read by ``shape_node`` are known to equal ``value``'s.

    Returns ``(tensor, start/end attributes for the copied Shape)`` or None. Only the piece's
    boundary inputs are candidates: they exist before any of its nodes run, and one whose
    producer would read the copied Shape stays on the boundary (``_closes_a_cycle``). A tensor
    of the same rank is taken first; with ``ranges`` (opset 15 or later) a tensor whose leading
    dims match may be read through Shape's start/end (the mask's ``[batch, seq]`` from the
    hidden state's ``[batch, seq, hidden]``).
    """
    shape = value.shape
    if shape is None:
        return None
    rank = len(shape)
    start = shape_node.attr("start", 0)
    end = shape_node.attr("end", None)
    start = start + rank if start < 0 else start
    end = rank if end is None else (end + rank if end < 0 else end)
    start, end = max(0, min(start, rank)), max(0, min(end, rank))
    wanted = tuple(shape[start:end])
    if any(d is None for d in wanted):
        return None
    candidates = [v for v in boundary_first if v in available and v.shape is not None]
    for candidate in candidates:
        if len(candidate.shape) == rank and tuple(candidate.shape[start:end]) == wanted:
            return candidate, {}
    if not ranges:
        return None
    for candidate in candidates:
        other = candidate.shape
        if len(other) >= end and tuple(other[start:end]) == wanted:
            return candidate, {"start": start, "end": end}
    return None


_FLOATS = frozenset({DataType.FLOAT, DataType.FLOAT16, DataType.BFLOAT16, DataType.DOUBLE})


def _is_float(value: Value) -> bool:
    return value.dtype in _FLOATS


def _reads_shape_only(node: Node | None) -> bool:
    return node is not None and node.domain == "" and node.op_type in ("Shape", "Size")


def shared_initializers(model: Model, pieces: list[Piece]) -> list[Value]:
    """Initializers read by more than one piece, in graph order."""
    count: dict[Value, int] = {}
    for edge in boundaries(model, pieces):
        for value in edge.initializers:
            count[value] = count.get(value, 0) + 1
    return [v for v in model.graph.initializers.values() if count.get(v, 0) > 1]
