"""The ``downgrade-ir`` pass family: rewrite a model for an older IR version and opset.

- :mod:`.downgrade_ir`: the pass (what to try for each node, IR-version features, names);
- :mod:`.rewriter`: the toolbox adapters build with (new nodes in the replaced node's scope,
  types on demand) and the adapter registry;
- :mod:`.generic`: conversions for any operator, from onnx's schemas (fits, widen, function
  bodies);
- :mod:`.adapters`: hcc's own down-adapters, one module per family of operators.
"""

from __future__ import annotations

from .downgrade_ir import DowngradeError, DowngradeIrPass, lowest_ir

__all__ = ["DowngradeError", "DowngradeIrPass", "lowest_ir"]
