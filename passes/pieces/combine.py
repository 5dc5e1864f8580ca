"""``combine``: merge the pieces of a split model back into one model.

The inverse of ``split`` (+ ``internalize-constants``): every piece is extracted as the writers
would write it, and the pieces are merged by boundary names (:mod:`.merge`), so
helpers copied into several pieces appear once again. The result must compute what the model
did with the same number of nodes; a pipeline ending in ``split, internalize-constants,
combine`` checks, in memory, that the pieces fit together. To merge piece files, use
``hcc combine manifest.json`` (or :func:`hcc.passes.pieces.combine_models`).
"""

from __future__ import annotations

from hcc.ir import Model

from .._infra import Pass, PassResult
from .._registry import register_pass
from .merge import combine_models
from .model import PIECES_KEY, boundaries, extract_piece, pieces_of


@register_pass("combine", summary="merge the pieces of a split model back into one model")
class CombinePass(Pass):
    def call(self, model: Model) -> PassResult:
        pieces = pieces_of(model)
        edges = boundaries(model, pieces)
        # A piece with nothing left to write (all its helpers copied elsewhere) has no part.
        parts = [
            extract_piece(model, piece, pieces, edge)
            for piece, edge in zip(pieces, edges)
            if edge.nodes
        ]
        combined = combine_models(
            parts,
            model_inputs=[v.name for v in model.graph.inputs],
            model_outputs=[v.name for v in model.graph.outputs],
            name=model.graph.name,
        )
        combined.metadata_props = dict(model.metadata_props)
        combined.meta = {k: v for k, v in model.meta.items() if k != PIECES_KEY}
        return PassResult(combined, True)


CombinePass.__doc__ = __doc__  # `hcc passes` shows the whole description
