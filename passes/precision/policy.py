"""Which nodes keep float32: the scope policy (``keep`` globs) and the operator list.

The default operator list holds the ops whose float16 form goes wrong on ordinary transformer
activations, not merely rounds a little:

- ``Pow``: squares overflow float16 once |x| > 256 (65504 is the largest float16), which a
  residual stream reaches; the norm that squares it then divides by infinity;
- ``ReduceMean``, ``ReduceSum``, ``ReduceSumSquare``, ``ReduceL2``, ``ReduceLogSumExp``: sums of
  hundreds of terms overflow or lose the low bits of every term (a float16 sum of 4096 values
  near 1 is off by units, not by ulps);
- ``Exp``, ``Softmax``, ``LogSoftmax``: exp overflows float16 above 11.09, so unnormalised
  scores saturate to infinity and rows become NaN;
- ``CumSum``, ``Range``: counters and positions are exact in float16 only up to 2048.

Everything else converts. The list is a default: ``keep_ops = []`` converts every op, and the
scope policy (``keep``) can keep whole modules (norms, the LM head) instead.
"""

from __future__ import annotations

from collections.abc import Iterable

from hcc.ir import Node

from .._scope_patterns import ScopePattern

DEFAULT_KEEP_OPS = (
    "Pow",
    "ReduceMean",
    "ReduceSum",
    "ReduceSumSquare",
    "ReduceL2",
    "ReduceLogSumExp",
    "Exp",
    "Softmax",
    "LogSoftmax",
    "CumSum",
    "Range",
)


class Policy:
    """``keeps(node)``: must the node compute in float32 (its scope or its op says so)?"""

    __slots__ = ("scopes", "ops")

    def __init__(
        self, keep: Iterable[str] = (), keep_ops: Iterable[str] = DEFAULT_KEEP_OPS
    ) -> None:
        self.scopes = ScopePattern(list(keep))
        self.ops = frozenset(keep_ops)

    def keeps(self, node: Node) -> bool:
        return (
            node.op_type in self.ops
            and node.domain in ("", "ai.onnx")
            or (bool(self.scopes) and self.scopes.covers(node.scope))
        )
