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

Everything else converts.

An elementwise op of the list (``Pow``, ``Exp``, or one a user adds) stays float32 only where it
borders float32 computation: one of its float inputs comes from a float32 node (or a float32
model input), or one of its results is read in float32 (by a kept node, or as a float32 model
output). Between converted neighbours keeping it buys nothing: its inputs are low already and
its result is rounded to the low type on the way out, so it overflows exactly where the low op
would (GPT-2's ``Pow(x, 3)`` in its tanh GELU) and the two Casts only add a rounding where a
runtime that computes low ops in float32 would have none. A RMSNorm's ``Pow`` feeds the kept
``ReduceMean``, so it stays float32 and the squares never pass through float16.

The list is a default: ``keep_ops = []`` converts every op, and the
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


# Ops each element of whose result depends only on the same element of their inputs: keeping one
# in float32 matters only at a border with float32 computation (see the module docstring).
ELEMENTWISE = frozenset(
    {
        "Abs", "Add", "Ceil", "Cos", "Cosh", "Div", "Elu", "Erf", "Exp", "Floor", "Gelu",
        "HardSigmoid", "HardSwish", "LeakyRelu", "Log", "Mish", "Mul", "Neg", "Pow",
        "Reciprocal", "Relu", "Round", "Selu", "Sigmoid", "Sign", "Sin", "Sinh", "Softplus",
        "Softsign", "Sqrt", "Sub", "Tan", "Tanh", "ThresholdedRelu",
    }
)  # fmt: skip


class Policy:
    """``keeps(node)``: must the node compute in float32 (its scope or its op says so)?
    ``at_border_only(node)``: is it kept by an elementwise op name alone, so that it stays
    float32 only where it borders float32 computation?"""

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

    def at_border_only(self, node: Node) -> bool:
        return (
            node.op_type in ELEMENTWISE
            and node.op_type in self.ops
            and node.domain in ("", "ai.onnx")
            and not (bool(self.scopes) and self.scopes.covers(node.scope))
        )
