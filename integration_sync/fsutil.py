"""Writing files so that nothing is ever half-written: a temporary file beside the target, then a rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


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
