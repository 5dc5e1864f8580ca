"""Hugging Face hub ids, resolved in the local cache only.

hcc never downloads: ``org/name`` names a checkpoint that is already in the cache that
``huggingface_hub`` fills (``hf download org/name``), laid out as

    $HF_HUB_CACHE/models--org--name/refs/main              (a commit hash)
    $HF_HUB_CACHE/models--org--name/snapshots/HASH/...     (config.json, *.safetensors, ...)

The cache folder is read from the environment at each call, as ``huggingface_hub`` does:
``HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``. A snapshot folder is
an ordinary model folder; it is loaded like any local folder (safetensors only, no remote code).
"""

from __future__ import annotations

import os
import re

from .sources import SourceError

# Hub repository names: letters, digits, '-', '_', '.'; an optional owner before one '/'.
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")
_COMMIT = re.compile(r"[0-9a-f]{40}")


def is_hub_id(text: str) -> bool:
    """``org/name`` or ``name`` as the hub spells repositories (no '..', no trailing '.')."""
    return bool(_HUB_ID.fullmatch(text)) and ".." not in text and not text.endswith(".")


def cache_folder() -> tuple[str, str]:
    """The hub cache folder and a phrase saying where that choice came from."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.path.expanduser(os.environ["HF_HUB_CACHE"]), "HF_HUB_CACHE"
    if os.environ.get("HF_HOME"):
        return os.path.join(os.path.expanduser(os.environ["HF_HOME"]), "hub"), "HF_HOME/hub"
    home = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return os.path.join(os.path.expanduser(home), "huggingface", "hub"), "the default cache"


def snapshot_folder(hub_id: str, revision: str | None = None) -> str:
    """The cached snapshot folder of ``hub_id`` at ``revision`` (a branch, tag or commit hash;
    default ``main``). Anything missing is a :class:`SourceError` that says where hcc looked
    and how to put the checkpoint there."""
    if not is_hub_id(hub_id):
        raise SourceError(f"{hub_id!r} is not a hub id; write it as org/name")
    cache, origin = cache_folder()
    repo = os.path.join(cache, "models--" + hub_id.replace("/", "--"))
    how = (
        f"hcc never downloads; fetch it where there is network with "
        f"'hf download {hub_id}' (into the same cache), point HF_HUB_CACHE at a cache "
        "that has it, or give the model's folder instead"
    )
    if not os.path.isdir(repo):
        raise SourceError(
            f"model {hub_id!r} is not in the Hugging Face cache: no folder {repo} "
            f"(cache from {origin}); {how}"
        )
    revision = revision or "main"
    if revision.startswith("/") or {".", ".."} & set(revision.split("/")):
        raise SourceError(f"revision {revision!r} is not a branch, tag or commit")
    commit = _read_ref(repo, revision)
    if commit is None:
        if _COMMIT.fullmatch(revision):
            commit = revision
        else:
            raise SourceError(
                f"model {hub_id!r} has no revision {revision!r} in the cache {repo} (known: "
                f"{', '.join(_known_revisions(repo)) or 'none'}); {how}"
            )
    folder = os.path.join(repo, "snapshots", commit)
    if not os.path.isdir(folder):
        raise SourceError(
            f"model {hub_id!r} at revision {revision!r} is not in the cache: no "
            f"folder {folder}; {how}"
        )
    return folder


def _read_ref(repo: str, revision: str) -> str | None:
    path = os.path.join(repo, "refs", revision)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        commit = f.read().strip()
    if not _COMMIT.fullmatch(commit) and not os.path.isdir(os.path.join(repo, "snapshots", commit)):
        raise SourceError(f"the cache ref {path} holds {commit[:60]!r}, not a commit hash")
    return commit


def _known_revisions(repo: str) -> list[str]:
    refs = os.path.join(repo, "refs")
    names = []
    if os.path.isdir(refs):
        for root, _, files in os.walk(refs):
            names += [os.path.relpath(os.path.join(root, f), refs) for f in files]
    snapshots = os.path.join(repo, "snapshots")
    if os.path.isdir(snapshots):
        names += sorted(os.listdir(snapshots))
    return sorted(names)
