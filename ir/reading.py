"""Reading a user's input file whole: only regular files, and never more than they hold.

A device or a FIFO named as a model (``/dev/zero``, a pipe no one writes to) would otherwise
make ``read()`` hang or fill memory. The file is opened without blocking and checked on the
open descriptor (so it cannot be swapped between the check and the read), then read up to the
size it has: a file that grows meanwhile is read as it was.
"""

from __future__ import annotations

import os
import stat

from .errors import HccError, LoadError

__all__ = ["read_bytes"]

_CHUNK = 64 * 1024 * 1024


def read_bytes(path, *, what: str = "file", error: type[HccError] = LoadError) -> bytes:
    """The bytes of the regular file at ``path``; ``error`` (located at the path) otherwise.

    ``what`` names the file in messages (``model``, ``spec file``, ``manifest``).
    """
    path = os.fspath(path)
    if "\0" in path:
        raise error(f"the {what} path contains a NUL byte", location=repr(path))
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise error("no such file", location=path) from None
    except IsADirectoryError:
        raise error(f"is a directory, not {_article(what)} {what}", location=path) from None
    except OSError as failure:
        raise error(
            f"cannot read the {what}: {failure.strerror or failure}", location=path
        ) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise error(f"is a directory, not {_article(what)} {what}", location=path)
        if not stat.S_ISREG(info.st_mode):
            raise error(
                f"is not a regular file (a device, pipe or socket); hcc reads "
                f"{_article(what)} {what} only from a regular file",
                location=path,
            )
        return _read_exactly(fd, info.st_size, path, what, error)
    finally:
        os.close(fd)


def _read_exactly(fd: int, size: int, path: str, what: str, error: type[HccError]) -> bytes:
    chunks = []
    remaining = size
    try:
        while remaining:
            chunk = os.read(fd, min(remaining, _CHUNK))
            if not chunk:
                break  # the file shrank while it was read: take what is there
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as failure:
        raise error(
            f"cannot read the {what}: {failure.strerror or failure}", location=path
        ) from None
    return b"".join(chunks)


def _article(noun: str) -> str:
    return "an" if noun[:1].lower() in "aeiou" or noun.startswith("ONNX") else "a"
