"""The one way hcc writes files: a reader sees the old file or the complete new one, never a part.

Every file is written to a temporary made by ``mkstemp`` in the destination's folder (so the
rename stays on one file system and the name cannot be guessed or pre-planted), flushed to disk
with ``fsync``, then renamed over the destination, and the folder is synced so the rename
itself survives a crash. The rename replaces a symbolic link at the destination instead of
writing through it. Temporaries are removed on every error, and on SIGINT/SIGTERM once
:func:`stop_on_signals` is in force (the command line installs it).

:class:`FileGroup` writes several files that belong together (a model and its data file): all
temporaries are complete and synced before the first rename, and the renames happen in the
order the files were added, so a caller orders them so that every prefix is a consistent state
(data before the model that reads it).
"""

from __future__ import annotations

import errno
import os
import secrets
import signal
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from .errors import SaveError


class Interrupted(BaseException):
    """Raised in the main thread when SIGINT or SIGTERM arrives under :func:`stop_on_signals`.

    A BaseException, like KeyboardInterrupt, so ``except Exception`` does not swallow it and
    every writer's cleanup runs while it unwinds."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # what a shell reports for a process ended by the signal


_deferred = 0  # > 0 while renames are in progress: a signal waits until they are done
_pending: int | None = None


def _on_signal(signum: int, frame) -> None:
    global _pending
    if _deferred:
        _pending = signum
        return
    raise Interrupted(signum)


@contextmanager
def stop_on_signals(signums: Iterable[int] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """While active, SIGINT and SIGTERM raise :class:`Interrupted` in the main thread, so
    writers remove their temporaries before the process ends. A signal that arrives while a
    group of files is being renamed into place takes effect once the renames are done."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _on_signal) for signum in signums}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def _uninterrupted() -> Iterator[None]:
    global _deferred, _pending
    _deferred += 1
    try:
        yield
    finally:
        _deferred -= 1
        if not _deferred and _pending is not None:
            signum, _pending = _pending, None
            raise Interrupted(signum)


def _fsync(fd: int) -> None:
    os.fsync(fd)


def _fsync_folder(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # e.g. a platform whose folders cannot be opened: nothing more we can do
    try:
        _fsync(fd)
    except OSError:
        pass  # some file systems do not sync folders; the rename is still atomic
    finally:
        os.close(fd)


def _mode_for(path: str) -> int:
    """The permissions of the file replaced (a private file stays private), or those of a new
    file (mkstemp's 0600 is not what a plain new file gets)."""
    try:
        info = os.stat(path)
        if stat.S_ISREG(info.st_mode):
            return stat.S_IMODE(info.st_mode)
    except OSError:
        pass
    return 0o666 & ~_current_umask()


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_destination(path: str) -> None:
    """Refuse a destination that is a folder or another non-regular file (a FIFO, a device),
    or a symbolic link to one (``/dev/stdout``: replacing that link would break the system).
    A link to a regular file (or to nothing) is allowed: the rename replaces the link, never
    what it points to."""
    try:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            info = os.stat(path)
    except FileNotFoundError:
        return  # nothing there, or a dangling link: replaced like a missing file
    except OSError as error:
        raise SaveError(f"cannot write here: {error.strerror or error}", location=path) from None
    if stat.S_ISREG(info.st_mode):
        return
    if stat.S_ISDIR(info.st_mode):
        raise SaveError("is a folder; give a file name", location=path)
    raise SaveError(
        "is not a regular file (a FIFO, socket, terminal or device); hcc writes only regular files",
        location=path,
    )


def write_all(fd: int, data, offset: int | None = None) -> int:
    """Write every byte of ``data`` to ``fd`` (at ``offset`` with pwrite, else at the current
    position); returns the number of bytes written."""
    view = memoryview(data).cast("B")
    done, total = 0, view.nbytes
    while done < total:
        if offset is None:
            written = os.write(fd, view[done:])
        else:
            written = os.pwrite(fd, view[done:], offset + done)
        if written <= 0:
            raise OSError("short write")
        done += written
    return total


# Errors that mean "no hard link possible here" rather than "something is wrong".
_CANNOT_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}


class FileGroup:
    """Files written together: each goes to a temporary beside its destination; :meth:`commit`
    syncs them all, then renames them in the order they were added. Leaving the ``with`` block
    without a commit (an error, an interrupt) removes every temporary."""

    def __init__(self) -> None:
        self._files: list[list] = []  # [destination, temporary, fd or None]
        self._obsolete: list[str] = []
        self.committed: list[str] = []  # destinations renamed into place, in order

    def __enter__(self) -> FileGroup:
        return self

    def __exit__(self, *exc) -> None:
        self.discard()

    def create(self, path) -> int:
        """A new temporary for ``path``; returns its file descriptor (open for reading and
        writing, owned by the group)."""
        path = os.path.abspath(os.fspath(path))
        if any(entry[0] == path for entry in self._files):
            raise SaveError("the same file would be written twice by one save", location=path)
        check_destination(path)
        folder, name = os.path.split(path)
        try:
            # The name is shortened so that a destination name near the file system's limit
            # still leaves room for the temporary's.
            fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name[:100]}.", suffix=".tmp")
        except OSError as error:
            raise SaveError(
                f"cannot write in this folder: {error.strerror or error}", location=path
            ) from None
        self._files.append([path, temporary, fd])
        os.fchmod(fd, _mode_for(path))
        return fd

    def add_link(self, path, source) -> bool:
        """Put a hard link to ``source`` at ``path`` when the group commits (the bytes are
        shared, not copied); False, with nothing added, when the file system cannot link it
        there (another file system, no hard links). Other failures raise :class:`SaveError`."""
        path = os.path.abspath(os.fspath(path))
        if any(entry[0] == path for entry in self._files):
            raise SaveError("the same file would be written twice by one save", location=path)
        check_destination(path)
        folder, name = os.path.split(path)
        for _ in range(100):
            temporary = os.path.join(folder, f".{name[:100]}.{secrets.token_hex(6)}.tmp")
            try:
                os.link(source, temporary)
            except FileExistsError:
                continue
            except OSError as error:
                if error.errno in _CANNOT_LINK:
                    return False
                raise SaveError(
                    f"cannot link {source}: {error.strerror or error}", location=path
                ) from None
            self._files.append([path, temporary, None])
            return True
        raise SaveError("cannot find a free temporary name", location=path)

    def remove_after(self, path) -> None:
        """Remove ``path`` once every file of the group is in place (an old data file the new
        files replace under another name)."""
        self._obsolete.append(os.path.abspath(os.fspath(path)))

    def add_bytes(self, path, data) -> None:
        write_all(self.create(path), data)

    def add_text(self, path, text: str) -> None:
        self.add_bytes(path, text.encode("utf-8"))

    def commit(self) -> list[str]:
        """Sync every temporary, rename each over its destination (in order), sync the
        folders, then remove the files given to :meth:`remove_after`; returns the
        destinations. On a failure the temporaries not yet renamed are
        removed and :attr:`committed` lists what was already in place."""
        try:
            for entry in self._files:
                if entry[2] is None:
                    continue  # a hard link: its bytes are already on disk
                _fsync(entry[2])
                os.close(entry[2])
                entry[2] = None
            with _uninterrupted():
                for entry in self._files:
                    os.replace(entry[1], entry[0])
                    entry[1] = None
                    self.committed.append(entry[0])
                for path in self._obsolete:
                    remove_quietly(path)
                for folder in dict.fromkeys(os.path.dirname(e[0]) for e in self._files):
                    _fsync_folder(folder)
        finally:
            self.discard()
        return list(self.committed)

    def discard(self) -> None:
        """Close and remove every temporary not renamed yet (a second Ctrl-C while doing so
        waits until it is done)."""
        with _uninterrupted():
            for entry in self._files:
                if entry[2] is not None:
                    try:
                        os.close(entry[2])
                    except OSError:
                        pass
                    entry[2] = None
                if entry[1] is not None:
                    remove_quietly(entry[1])
                    entry[1] = None


def write_bytes(path, data) -> None:
    """Replace ``path`` with ``data`` (see the module's description)."""
    with FileGroup() as group:
        group.add_bytes(path, data)
        group.commit()


def write_text(path, text: str) -> None:
    """Replace ``path`` with ``text`` encoded as UTF-8."""
    write_bytes(path, text.encode("utf-8"))


def remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def same_file(a, b) -> bool:
    """Whether two paths name one file: the same path after resolving links, or one file
    reached through a hard link. Paths that do not exist compare by their resolved form."""
    a, b = os.fspath(a), os.fspath(b)
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


__all__ = [
    "FileGroup",
    "Interrupted",
    "check_destination",
    "remove_quietly",
    "same_file",
    "stop_on_signals",
    "write_all",
    "write_bytes",
    "write_text",
]
