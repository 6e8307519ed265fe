"""Help for CI runners: what the tool writes on its own when it runs inside a pipeline.

GitHub Actions sets ``GITHUB_STEP_SUMMARY`` to a file whose Markdown is shown on the run's summary page;
``write_step_summary`` appends to it, so ``integration-sync plan`` in a workflow shows its plan there with
no extra step. Outside GitHub Actions it does nothing.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
#: GitHub refuses a step summary over 1 MiB; the Markdown plan stays far below (it summarises itself).
MAX_STEP_SUMMARY_BYTES = 1024 * 1024


def write_step_summary(markdown: str, environ: Mapping[str, str] | None = None) -> Path | None:
    """Append ``markdown`` to the GitHub step summary when ``GITHUB_STEP_SUMMARY`` names a file.

    Returns the file written, or None (not in GitHub Actions). A summary that cannot be written is
    logged as a warning, never an error: the plan itself has already been printed.
    """
    env = os.environ if environ is None else environ
    target = env.get(STEP_SUMMARY_ENV)
    if not target:
        return None
    path = Path(target)
    data = markdown if markdown.endswith("\n") else markdown + "\n"
    if len(data.encode("utf-8")) > MAX_STEP_SUMMARY_BYTES:
        data = "The plan is too large for the step summary; see the job log or the plan artifact.\n"
    try:
        _append_regular(path, data.encode("utf-8"))
    except OSError as exc:
        log.warning("cannot write the GitHub step summary %s: %s", path, exc.strerror or exc)
        return None
    return path


def _append_regular(path: Path, data: bytes) -> None:
    """Append ``data`` to the regular file at ``path`` (created if need be). A FIFO, device or socket
    is refused before anything is written, and never waited for: it is told by its mode first, and
    opened non-blocking (a FIFO with no reader then fails at once) and checked again once open."""
    with contextlib.suppress(FileNotFoundError):
        _regular(os.stat(path).st_mode)
    flags = (
        os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    )
    fd = os.open(path, flags, 0o644)
    try:
        _regular(os.fstat(fd).st_mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _regular(mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise OSError(errno.EINVAL, "only a regular file is written (a FIFO, device or socket is not)")
