"""Files as input and output: reading only regular files, within a size limit counted on the bytes
read; resolving a path that may hold a symlink loop; and writing so that nothing is ever half-written
(a temporary file beside the target, then a rename)."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path


class NotRegularFile(OSError):
    """The path names a FIFO, a device, a socket or a folder: never read as a file."""


class TooLarge(OSError):
    """More bytes than the limit could be read (``size`` is a lower bound: reading stopped there)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"more than {size - 1} bytes")
        self.size = size


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them.

    A FIFO, a device (``/dev/zero``) or a socket raises ``NotRegularFile`` without blocking (it is
    opened non-blocking and checked before a byte is read); a file that yields more than ``limit``
    bytes raises ``TooLarge``: the limit counts what is read, not what ``st_size`` claims.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a FIFO, device or socket)"
            raise NotRegularFile(f"{kind}: only regular files are read")
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise TooLarge(total)
        return b"".join(chunks)
    finally:
        os.close(fd)


def resolved(path: Path) -> Path:
    """``path`` made absolute with its symlinks resolved; a symlink loop (which ``Path.resolve`` turns
    into a RuntimeError on some Pythons) leaves it absolute but unresolved, for the read to report."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def write_text_atomic(path: Path, text: str | Iterable[str]) -> None:
    """Replace (or create) ``path`` with ``text`` (UTF-8, ``\\n`` line ends) in one rename. ``text`` may
    come in pieces (a plan of many tenants, one at a time), written as they come.

    The temporary file lives in the same folder, so the rename never crosses a file system; an existing
    file keeps its permission bits. On any failure the temporary file is removed and the target is left
    as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            if isinstance(text, str):
                fh.write(text)
            else:
                for piece in text:
                    fh.write(piece)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644  # mkstemp's 0600 would hide a new definition file from the rest of the team
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
