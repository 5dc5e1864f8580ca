"""The piece passes: cut a model into pieces and put pieces back together.

- :mod:`.split`: ``split`` chooses the pieces (by scope) and records them on the model;
- :mod:`.extract`: ``extract`` chooses modules at any depth to write alone, nothing else;
- :mod:`.internalize_constants`: copies cheap helper nodes into the pieces that read them;
- :mod:`.combine`: the ``combine`` pass, split's inverse in memory;
- :mod:`.model`: the piece model they share (a piece's nodes, boundary, extraction);
- :mod:`.merge`: merging piece models by boundary names (also ``hcc combine``).

Writing pieces to files belongs to the compiler (:mod:`hcc.pieces`), which uses this API.
"""

from __future__ import annotations

from .combine import CombinePass
from .extract import ExtractPass
from .internalize_constants import InternalizeConstantsPass
from .merge import CombineError, combine_models
from .model import (
    KEEP_KEY,
    MODEL_INPUTS_KEY,
    MODEL_OUTPUTS_KEY,
    ONLY_KEY,
    PIECE_KEY,
    PIECES_KEY,
    Boundary,
    Piece,
    boundaries,
    boundary,
    boundary_types,
    extract_piece,
    pieces_of,
)
from .split import SplitError, SplitPass

__all__ = [
    "KEEP_KEY",
    "MODEL_INPUTS_KEY",
    "MODEL_OUTPUTS_KEY",
    "ONLY_KEY",
    "PIECES_KEY",
    "PIECE_KEY",
    "Boundary",
    "CombineError",
    "CombinePass",
    "ExtractPass",
    "InternalizeConstantsPass",
    "Piece",
    "SplitError",
    "SplitPass",
    "boundaries",
    "boundary",
    "boundary_types",
    "combine_models",
    "extract_piece",
    "pieces_of",
]
