"""Hard-linking the files a model's external tensors are read from into the output folder.

ONNX external data must lie inside the model's folder. A tensor read from a file elsewhere (a
checkpoint's ``.safetensors``, say) either has its bytes copied into the new data file or the
whole file it lives in is hard-linked beside the model, and the tensor keeps its offset in it:
no byte is copied, and the link costs no space. The two names then share one file: writing
into either changes what both read (see docs/export.md).
"""

from __future__ import annotations

import os

from ..errors import SaveError
from ..files import FileGroup, same_file


def link_sources(
    group: FileGroup,
    folder: str,
    reading: dict[str, str],
    data_location: str | None,
    model_path: str | list[str],
    weights: str,
    taken: set[str] | None = None,
) -> dict[str, str]:
    """Link each file in ``reading`` (real paths) into ``folder`` within ``group``; returns the
    location, relative to ``folder``, that each linked or already-present file has there.
    A file that cannot be linked is left out (``auto``: its tensors are copied) or refused
    (``link``). ``model_path``: the model file (or files) being written there, and ``taken``
    more names the links must not take."""
    root = os.path.realpath(folder)
    in_place: dict[str, str] = {}
    paths = [model_path] if isinstance(model_path, str) else model_path
    taken = {os.path.basename(p) for p in paths} | set(taken or ())
    if data_location:
        taken |= {os.path.normpath(data_location), os.path.normpath(data_location) + ".alt"}
    for source in sorted(reading):
        if os.path.commonpath([root, source]) == root:
            in_place[source] = os.path.relpath(source, root)  # already beside the model
            continue
        name = os.path.basename(source)
        while name in taken or _holds_other(os.path.join(folder, name), source, reading):
            name = "_" + name
        taken.add(name)
        target = os.path.join(folder, name)
        if os.path.lexists(target) and same_file(target, source):
            in_place[source] = name  # linked by an earlier save
        elif group.add_link(target, source):
            in_place[source] = name
        elif weights == "link":
            raise SaveError(
                f"cannot hard-link {source} into {folder} (another file system, or links not "
                "allowed there); save with weights='copy', or 'auto' to copy what cannot be "
                "linked"
            )
    return in_place


def _holds_other(target: str, source: str, reading: dict[str, str]) -> bool:
    """Whether ``target`` is a file the model reads other tensors from (never replaced)."""
    if not os.path.lexists(target) or same_file(target, source):
        return False
    return any(same_file(target, other) for other in reading)
