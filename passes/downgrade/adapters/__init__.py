"""Down-adapters of hcc's own, one module per family of operators.

An adapter handles one operator whose newer form has no generic way down. Each is registered
for its operators with :func:`..rewriter.adapter` and follows the contract stated there:
rewrite the node for ``rw.target`` and return True, or return False before changing anything.
Adapters that change a node in place leave the rest to the pass, which checks the node against
the target schema afterwards (and widens its types if needed).

Importing this package registers every adapter in :data:`ADAPTERS`.
"""

from __future__ import annotations

from ..rewriter import ADAPTERS
from . import bitcast, bits, casts, formulas, grid, layout, pool, quantize, reduce, resize, scatter  # noqa: F401

__all__ = ["ADAPTERS"]
