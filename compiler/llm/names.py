"""The names of the pieces' inputs and outputs: hcc's own, a preset, or the runtime's choice.

Every tensor at a piece's boundary plays a *role* (:data:`ROLES`): the hidden state a block
takes, the history keys, the token the head returns. A runtime names them as it likes, so the
names are data: a preset (:data:`PRESETS`; ``hcc`` by default, ``seed001`` for seed 001's
runtime) with the runtime's own names over it. A name may number itself after the piece's layer
(``{i}``, ``{i+1}``) and the number of layers (``{layers}``); layer numbers only mean something
in the blocks' names. Inside a piece every name must be distinct; pieces are separate graphs, so
the same name may appear in several of them (seed 001 calls every block's output
``hidden_states``).

Nothing here imports torch: the reference runtime reads the names from the manifest with it.
"""

from __future__ import annotations

import difflib
import re

from .errors import LLMError

ROLES = {
    "input_ids": "token ids the embedding takes",
    "attention_mask": "the attention mask (embedding when it takes one, and every block)",
    "position_ids": "the token positions (embedding when it takes them, and every block)",
    "embedded": "the hidden state the embedding returns",
    "hidden": "the hidden state a block takes",
    "hidden_out": "the hidden state a block returns",
    "past_k": "the history keys decode (block_cache) takes",
    "past_v": "the history values decode (block_cache) takes",
    "present_k": "the keys prefill returns, and decode with decode_cache = whole",
    "present_v": "the values prefill returns, and decode with decode_cache = whole",
    "new_k": "the new token's keys decode returns with decode_cache = new",
    "new_v": "the new token's values decode returns with decode_cache = new",
    "head_in": "the last hidden state lm_head takes",
    "token": "the token ids lm_head returns (head = topk or argmax)",
    "logits": "the logits lm_head returns (head = logits)",
}
# Roles whose names may carry the layer number: only blocks have a layer.
LAYERED = frozenset(
    {"hidden", "hidden_out", "past_k", "past_v", "present_k", "present_v", "new_k", "new_v"}
)
PRESETS = {
    "hcc": {
        "input_ids": "input_ids",
        "attention_mask": "attention_mask",
        "position_ids": "position_ids",
        "embedded": "hidden_states_0",
        "hidden": "hidden_states_{i}",
        "hidden_out": "hidden_states_{i+1}",
        "past_k": "history_k_{i}",
        "past_v": "history_v_{i}",
        "present_k": "present_k_{i}",
        "present_v": "present_v_{i}",
        "new_k": "new_k_{i}",
        "new_v": "new_v_{i}",
        "head_in": "hidden_states_{layers}",
        "token": "token",
        "logits": "logits",
    },
    # Seed 001's torch.onnx.export calls: every piece its own file, names without layer numbers.
    "seed001": {
        "input_ids": "input_ids",
        "attention_mask": "attention_mask",
        "position_ids": "position_ids",
        "embedded": "input_embed",
        "hidden": "input_states",
        "hidden_out": "hidden_states",
        "past_k": "history_k",
        "past_v": "history_v",
        "present_k": "past_k",
        "present_v": "past_v",
        "new_k": "new_k",
        "new_v": "new_v",
        "head_in": "hidden_states",
        "token": "token",
        "logits": "logits",
    },
}
_PLACEHOLDER = re.compile(r"\{(i|i\+1|layers)\}")
# What is left of a name once its placeholders are filled: an identifier-like name, as runtimes'
# C APIs and file formats take them ('.', ':', '/' and '-' as in exported graphs).
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:/-]*")
LONGEST = 128


class NamesError(LLMError):
    """A name mapping that cannot name the pieces; ``key`` is the role (or "preset") at fault
    and ``at`` says whether the key itself or its value is wrong, for the spec's location."""

    def __init__(self, message: str, key: str, at: str = "value") -> None:
        super().__init__(message)
        self.key = key
        self.at = at


def piece_roles(piece: str, head: str = "topk", decode_cache: str = "new") -> tuple[str, ...]:
    """The roles a piece's inputs and outputs may play (the embedding's mask and positions
    only when the model's embedding reads them)."""
    kind = piece_kind(piece)
    if kind == "embedding":
        return ("input_ids", "attention_mask", "position_ids", "embedded")
    if kind == "lm_head":
        return ("head_in", "logits" if head == "logits" else "token")
    common = ("hidden", "attention_mask", "position_ids", "hidden_out")
    if kind == "block":
        return (*common, "present_k", "present_v")
    cache = ("new_k", "new_v") if decode_cache == "new" else ("present_k", "present_v")
    return (*common, "past_k", "past_v", *cache)


def piece_kind(piece: str) -> str:
    if piece in ("embedding", "lm_head"):
        return piece
    kind, _, layer = piece.rpartition("_")
    if kind in ("block", "block_cache") and layer.isdigit():
        return kind
    raise LLMError(f"{piece!r} is not a piece of the KV-cache recipe")


def templates(
    preset: str = "hcc",
    names: dict[str, str] | None = None,
    head: str = "topk",
    decode_cache: str = "new",
) -> dict[str, str]:
    """Every role's name template: the preset's, with ``names`` over it, all checked (with the
    options that decide which roles share a piece)."""
    if preset not in PRESETS:
        raise NamesError(
            f"names preset must be one of {', '.join(PRESETS)}, got {preset!r}", "preset"
        )
    chosen = dict(PRESETS[preset])
    for role, name in (names or {}).items():
        if role not in ROLES:
            close = difflib.get_close_matches(role, list(ROLES), n=2)
            hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
            raise NamesError(
                f"names has no key {role!r}; {hint}keys: preset, {', '.join(ROLES)}", role, "key"
            )
        _check_template(role, name)
        chosen[role] = name
    _check_distinct(chosen, head, decode_cache)
    return chosen


def _check_template(role: str, name) -> None:
    if not isinstance(name, str) or not name:
        raise NamesError(f"names.{role} must be a non-empty string, got {name!r}", role)
    if len(name) > LONGEST:
        raise NamesError(f"names.{role} is longer than {LONGEST} characters", role)
    filled = _PLACEHOLDER.sub("0", name)
    if not _NAME.fullmatch(filled):
        raise NamesError(
            f"names.{role} = {name!r} is not a name a runtime can take: a letter or '_' first, "
            "then letters, digits, '_', '.', ':', '/' or '-' ({i}, {i+1} and {layers} stand for "
            "numbers)",
            role,
        )
    if role not in LAYERED and re.search(r"\{i(\+1)?\}", name):
        raise NamesError(
            f"names.{role} = {name!r} numbers itself after a layer, but {role} is not a "
            "block's tensor ({i} and {i+1} only in block names)",
            role,
        )


def _check_distinct(chosen: dict[str, str], head: str, decode_cache: str) -> None:
    """Two roles of one piece may not share a name template."""
    for piece in ("embedding", "block_0", "block_cache_0", "lm_head"):
        roles = piece_roles(piece, head, decode_cache)
        seen: dict[str, str] = {}
        for role in roles:
            name = chosen[role]
            if name in seen:
                raise NamesError(
                    f"names.{role} and names.{seen[name]} are both {name!r}, but one piece "
                    "has both tensors",
                    role,
                )
            seen[name] = role


def fill(template: str, piece: str, layers: int) -> str:
    """The name of a role in ``piece`` (``block_3``: ``{i}`` is 3, ``{i+1}`` is 4)."""
    layer = piece.rpartition("_")[2]
    index = int(layer) if layer.isdigit() else 0
    values = {"i": str(index), "i+1": str(index + 1), "layers": str(layers)}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def piece_names(
    piece: str,
    layers: int,
    *,
    preset: str = "hcc",
    names: dict[str, str] | None = None,
    head: str = "topk",
    decode_cache: str = "new",
) -> dict[str, str]:
    """Role -> tensor name of every role ``piece`` may have; refused when two coincide (a
    name numbered ``{i+1}`` meeting a plain one)."""
    chosen = templates(preset, names, head, decode_cache)
    result: dict[str, str] = {}
    for role in piece_roles(piece, head, decode_cache):
        name = fill(chosen[role], piece, layers)
        clash = next((r for r, n in result.items() if n == name), None)
        if clash is not None:
            raise NamesError(f"in {piece}, names.{role} and names.{clash} are both {name!r}", role)
        result[role] = name
    return result
