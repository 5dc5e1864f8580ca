"""The function passes: ``outline-functions`` and its exact inverse ``inline-functions``.

- :mod:`.outline_functions`: the pass and how it chooses scopes;
- :mod:`.outliner`: the work of outlining (members, interfaces, sharing);
- :mod:`.calls`: function bodies and the calls that replace the instances, with their records;
- :mod:`.inline_functions`: the inverse, which restores names, scopes and metadata;
- :mod:`.shared`: relative tags, call records and graph walks both directions use;
- :mod:`.keys`: the structural key that decides which scopes share one function.
"""

from __future__ import annotations

from .inline_functions import InlineError, InlineFunctionsPass
from .outline_functions import OutlineError, OutlineFunctionsPass

__all__ = ["InlineError", "InlineFunctionsPass", "OutlineError", "OutlineFunctionsPass"]
