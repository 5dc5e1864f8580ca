"""A Hugging Face hub cache built in a temporary folder, and a network that is not there.

The cache holds tiny checkpoints written by ``save_pretrained`` and laid out as
``huggingface_hub`` lays out a download: ``models--org--name/blobs/SHA`` holds the bytes,
``snapshots/COMMIT/FILE`` links to them and ``refs/main`` names the commit.
"""

from __future__ import annotations

import hashlib
import os
import socket
import string

import pytest

WORDS = "the quick brown fox jumps over a lazy dog and hello world".split()

# Tiny configs (2 layers, hidden 32): each checkpoint is built and saved in well under a second.
CHECKPOINTS = {
    "tiny-org/bert": (
        "bert",
        "base",
        dict(
            num_hidden_layers=2,
            hidden_size=32,
            num_attention_heads=2,
            intermediate_size=64,
            vocab_size=100,
            max_position_embeddings=64,
        ),
    ),
    "tiny-org/gpt2": (
        "gpt2",
        "causal-lm",
        dict(n_layer=2, n_embd=32, n_head=2, vocab_size=100, n_positions=64),
    ),
    "tiny-org/llama": (
        "llama",
        "causal-lm",
        dict(
            num_hidden_layers=2,
            hidden_size=32,
            intermediate_size=64,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=100,
            max_position_embeddings=64,
        ),
    ),
}


def _commit(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def _put_in_cache(cache, hub_id: str, folder, revision: str = "main") -> str:
    """Lay the files of ``folder`` out in ``cache`` as a download of ``hub_id`` at ``revision``
    (content-addressed blobs, a snapshot of links, a ref); returns the snapshot folder."""
    repo = os.path.join(str(cache), "models--" + hub_id.replace("/", "--"))
    commit = _commit(f"{hub_id}@{revision}")
    snapshot = os.path.join(repo, "snapshots", commit)
    os.makedirs(os.path.join(repo, "blobs"), exist_ok=True)
    os.makedirs(snapshot, exist_ok=True)
    os.makedirs(os.path.join(repo, "refs"), exist_ok=True)
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as f:
            data = f.read()
        blob = os.path.join(repo, "blobs", hashlib.sha256(data).hexdigest())
        with open(blob, "wb") as f:
            f.write(data)
        os.symlink(os.path.relpath(blob, snapshot), os.path.join(snapshot, name))
    with open(os.path.join(repo, "refs", revision), "w") as f:
        f.write(commit)
    return snapshot


def write_tokenizer(folder) -> None:
    """A WordPiece tokenizer built offline from a small vocabulary (ids 5.. are WORDS)."""
    from transformers import BertTokenizerFast

    vocab = os.path.join(str(folder), "vocab-source.txt")
    letters = list(string.ascii_lowercase)
    with open(vocab, "w") as f:
        f.write("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + letters))
    BertTokenizerFast(vocab=vocab).save_pretrained(str(folder))
    os.remove(vocab)


@pytest.fixture(scope="session")
def hub_cache(tmp_path_factory):
    """``(cache folder, {hub id: the torch module saved there})`` for CHECKPOINTS."""
    from hcc.frontend import sources

    cache = tmp_path_factory.mktemp("hf-cache")
    modules = {}
    for index, (hub_id, (model_type, task, overrides)) in enumerate(CHECKPOINTS.items()):
        module = sources.from_config(model_type, overrides, task=task, seed=10 + index)
        staging = tmp_path_factory.mktemp("staging")
        module.save_pretrained(str(staging))
        if model_type == "bert":
            write_tokenizer(staging)
        _put_in_cache(cache, hub_id, staging)
        modules[hub_id] = module
    return str(cache), modules


@pytest.fixture(scope="session")
def build_from_cache(hub_cache):
    """``build(spec_text)``: ``hcc.build`` with the cache as HF_HUB_CACHE for that call only
    (for module-scoped builds, which cannot use the per-test ``monkeypatch``)."""

    def build(spec_text: str):
        import hcc

        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HF_HUB_CACHE", hub_cache[0])
            return hcc.build(spec_text)

    return build


@pytest.fixture
def offline(hub_cache, monkeypatch):
    """The cache as HF_HUB_CACHE, and every network connection refused."""

    def refuse(*args, **kwargs):
        raise OSError("network is unreachable in this test")

    monkeypatch.setenv("HF_HUB_CACHE", hub_cache[0])
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return hub_cache


@pytest.fixture(scope="session")
def put_in_cache():
    """The function that lays a folder out in a cache as a download: ``(cache, hub_id,
    folder, revision="main") -> snapshot folder``."""
    return _put_in_cache
