"""A reference runtime for the KV-cache pieces: prompt, then greedy decoding, in onnxruntime.

It reads everything from ``manifest.json`` (names, shapes, options) and nothing from the
model's code, so it doubles as the specification of how to drive the pieces. It works with the
tensors' roles (``names.py``) and feeds each piece by the names the manifest gives them:

* prefill: embedding on the prompt, then ``block_i`` for every layer, each returning its keys
  and values for the prompt positions; with static shapes the prompt is padded to ``max_len``
  and the padding masked;
* decode: for each new token, embedding on it, then ``block_cache_i`` with the history, the
  token's position and a mask of the history slots in use; the returned new keys and values go
  into the history at the token's position;
* the head turns the last hidden state into the next token (top-1 of top-k, argmax, or the
  argmax of the logits).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from hcc.ir import HccError
from hcc.ir.reading import read_bytes

from .names import piece_names
from .options import MASKED
from .recipe import FORMAT, MANIFEST


@dataclass
class Generation:
    tokens: list[int]  # the generated tokens (prompt excluded)
    logits: list[np.ndarray] = field(default_factory=list)  # per step, when the head gives them


def _inside(file: str) -> str:
    """A piece file named by the manifest: a plain relative path inside its folder."""
    if (
        not isinstance(file, str)
        or not file
        or os.path.isabs(file)
        or ".." in file.replace("\\", "/").split("/")
    ):
        raise ValueError(f"piece file {file!r} is not inside the manifest's folder")
    return file


class Runner:
    def __init__(self, folder: str) -> None:
        from hcc.ort import Session

        path = os.path.join(folder, MANIFEST)
        try:
            self.manifest = json.loads(read_bytes(path, what="manifest", error=HccError))
        except (ValueError, RecursionError) as error:
            raise HccError(f"cannot read the manifest: {error}", location=path) from None
        if not isinstance(self.manifest, dict) or self.manifest.get("format") != FORMAT:
            raise HccError(f"not a KV-cache manifest (format {FORMAT!r})", location=path)
        try:
            options = self.manifest["options"]
            self.max_len = int(options["max_len"])
            self.static = bool(options["static"])
            self.head = options["head"]
            self.layers = int(self.manifest["layers"])
            self.batch = int(options["batch"]) if self.static else None
            # Manifests from before the option have transformers' own layout.
            self.positions_axis = options.get("cache_layout", "bhsd").index("s")
            self.whole_cache = options.get("decode_cache", "new") == "whole"
            self.additive = options.get("attention_mask", "ones") == "additive"
            self.dtype = options.get("dtype", "float32")
            pieces = {
                name: os.path.join(folder, _inside(entry["file"]))
                for name, entry in self.manifest["pieces"].items()
            }
            # Manifests from before the names were the runtime's have hcc's own.
            self.names = {
                name: _names(entry, name, self.layers, options)
                for name, entry in self.manifest["pieces"].items()
            }
        except (KeyError, TypeError, ValueError, AttributeError, HccError) as error:
            raise HccError(
                f"damaged KV-cache manifest ({type(error).__name__}: {error})", location=path
            ) from None
        self.sessions = {}
        for name, file in pieces.items():
            # onnxruntime's default optimization level: the pieces as a deployment runs them.
            self.sessions[name] = Session(file, optimization="all", what=f"piece {name!r}")

    def _run(self, piece: str, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run ``piece`` on ``values`` by role; its outputs by role."""
        session = self.sessions[piece]
        names = self.names[piece]
        role_of = {name: role for role, name in names.items()}
        feeds = {}
        for name in session.input_names:
            role = role_of.get(name)
            if role not in values:
                raise HccError(f"{piece} needs {name!r}, which the runtime does not have")
            feeds[name] = values[role]
        return {role_of.get(name, name): array for name, array in session.run(feeds).items()}

    def _additive(self, seen: np.ndarray) -> np.ndarray:
        """The additive float mask of ``seen`` (True: attend): 0, or MASKED to not attend."""
        return np.where(seen, 0.0, MASKED).astype(_mask_dtype(self.dtype))

    def _next_token(self, hidden: np.ndarray) -> tuple[int, np.ndarray | None]:
        # A NaN still gives a token (argmax over NaN is 0): refuse to decode from one. Only the
        # state the token is read from is checked: padded positions may hold anything.
        names = self.names["lm_head"]
        _refuse_nan(hidden, names["head_in"], "the last block")
        out = self._run("lm_head", {"head_in": hidden})
        if self.head == "logits":
            logits = out["logits"][0, -1]
            _refuse_nan(logits, names["logits"], "lm_head")
            return int(np.argmax(logits)), logits
        token = out["token"][0, -1]
        return int(np.reshape(token, -1)[0]), None

    def generate(self, prompt: list[int], max_new_tokens: int) -> Generation:
        n = len(prompt)
        if n == 0:
            raise HccError("the prompt is empty")
        if n > self.max_len:
            raise HccError(f"the prompt has {n} tokens, more than max_len {self.max_len}")
        if max_new_tokens < 0:
            raise HccError("max_new_tokens must be >= 0")
        if n + max_new_tokens > self.max_len:
            raise HccError(
                f"prompt ({n}) plus new tokens ({max_new_tokens}) exceed max_len {self.max_len}"
            )
        length = self.max_len if self.static else n
        ids = np.zeros((1, length), np.int64)
        ids[0, :n] = prompt
        mask = np.zeros((1, length), np.int64)
        mask[0, :n] = 1
        if self.additive:
            # Query i sees keys j <= i among the prompt's n real tokens.
            keys = np.arange(length)
            seen = (keys[None, :] <= keys[:, None]) & (keys[None, :] < n)
            mask = self._additive(seen[None, None])
        positions = np.arange(length, dtype=np.int64)[None, :]
        values = {"input_ids": ids, "attention_mask": mask, "position_ids": positions}
        hidden = self._run("embedding", values)["embedded"]
        history = []
        for i in range(self.layers):
            values["hidden"] = hidden
            out = self._run(f"block_{i}", values)
            hidden = out["hidden_out"]
            history.append([out["present_k"], out["present_v"]])
        result = Generation([])
        token, logits = self._next_token(hidden[:, n - 1 : n])
        for step in range(max_new_tokens):
            result.tokens.append(token)
            if logits is not None:
                result.logits.append(logits)
            if step == max_new_tokens - 1:
                break
            position = n + step
            token, logits = self._decode(token, position, history)
        return result

    def _decode(self, token: int, position: int, history: list) -> tuple[int, np.ndarray | None]:
        axis = self.positions_axis
        slots = history[0][0].shape[axis]
        mask = np.zeros((1, slots + 1), np.int64)
        mask[0, :position] = 1
        mask[0, -1] = 1
        if self.additive:
            mask = self._additive(mask[:, None, None, :] == 1)
        values = {
            "input_ids": np.array([[token]], np.int64),
            "position_ids": np.array([[position]], np.int64),
        }
        # The embedding's mask covers its own input (one token), the blocks' the history too.
        values["attention_mask"] = (
            self._additive(np.ones((1, 1, 1, 1), bool))
            if self.additive
            else np.ones((1, 1), np.int64)
        )
        hidden = self._run("embedding", values)["embedded"]
        values["attention_mask"] = mask
        for i in range(self.layers):
            values["hidden"] = hidden
            values["past_k"], values["past_v"] = history[i]
            out = self._run(f"block_cache_{i}", values)
            hidden = out["hidden_out"]
            if self.whole_cache:
                # The updated cache ends with the new entry; a fixed buffer keeps its slots.
                last = [slice(None)] * 4
                last[axis] = slice(-1, None)
                new_k = out["present_k"][tuple(last)]
                new_v = out["present_v"][tuple(last)]
            else:
                new_k, new_v = out["new_k"], out["new_v"]
            for kv, new in enumerate((new_k, new_v)):
                if self.static:
                    slot = [slice(None)] * new.ndim
                    slot[axis] = slice(position, position + 1)
                    history[i][kv][tuple(slot)] = new
                else:
                    history[i][kv] = np.concatenate([history[i][kv], new], axis=axis)
        return self._next_token(hidden)


def _names(entry: dict, piece: str, layers: int, options: dict) -> dict[str, str]:
    """Role -> tensor name of a piece: as the manifest lists them, or hcc's own."""
    names = entry.get("names")
    if names is None:
        names = piece_names(
            piece,
            layers,
            head=options["head"],
            decode_cache=options.get("decode_cache", "new"),
        )
    if not isinstance(names, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in names.items()
    ):
        raise ValueError(f"the names of piece {piece!r} are not a mapping of role to name")
    return names


def _mask_dtype(name: str):
    if name == "bfloat16":
        import ml_dtypes

        return ml_dtypes.bfloat16
    return np.dtype(name)


def _refuse_nan(array: np.ndarray, name: str, piece: str) -> None:
    floating = array.dtype.kind == "f" or array.dtype.name == "bfloat16"
    if floating and np.isnan(array.astype(np.float32)).any():
        raise HccError(f"{piece} computed NaN in {name!r}; the pieces are broken")
