"""Logging set-up and the redaction every log line passes through: a token never reaches a handler."""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Iterable
from typing import TextIO

_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\"]+")
#: Credential headers as httpcore logs them at -vv: ``(b'set-cookie', b'session=…; Path=/')``.
_HEADER = re.compile(
    r"(?i)(b?['\"](?:set-cookie|cookie|authorization|proxy-authorization)['\"],\s*b?['\"])[^'\"]*"
)
_secrets: set[str] = set()
_tracebacks = False


def register_secret(value: str | None) -> None:
    """Remember a secret so that it is replaced by ``***`` wherever it would be logged."""
    if value:
        _secrets.add(value)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with bearer tokens, credential header values (cookies) and every registered (or given)
    secret, in whatever letter case, replaced by ``***``."""
    text = _HEADER.sub(r"\1***", _BEARER.sub(r"\1***", text))
    folded = text.casefold()
    for s in sorted({*_secrets, *secrets}, key=len, reverse=True):
        if s and s.casefold() in folded:  # in any case: a server may echo it upper-cased or swapped
            text = re.sub(re.escape(s), "***", text, flags=re.IGNORECASE)
    return text


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a record is emitted, not when the handler was made, so
    a swapped or closed stream (a test runner's capture, a CLI invoked in-process) never breaks it."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


def notice(logger: logging.Logger, text: str) -> None:
    """Something a person waiting should see (a long wait, not a hang), redacted: a log line at -v,
    else the bare text on stderr when it is a terminal, and nothing in a pipeline's log otherwise."""
    text = redact(text)
    if logger.isEnabledFor(logging.INFO):
        logger.info(text)
    elif sys.stderr is not None and sys.stderr.isatty():
        _to_stderr(text + "\n")


def print_traceback(exc: BaseException) -> None:
    """``exc``'s traceback on stderr, redacted (a chained cause may quote a server's reply, and with it
    an echoed token): what ``--debug`` shows."""
    _to_stderr(redact("".join(traceback.format_exception(exc))))


def _to_stderr(text: str) -> None:
    """Text on stderr as it is, flushed: the one place outside the logging handler where the tool
    writes there (the log formatter would prefix a notice or a traceback with a level)."""
    stream = sys.stderr
    if stream is None:  # no console at all (as print() would, say nothing)
        return
    stream.write(text)
    stream.flush()


def tracebacks_wanted() -> bool:
    """Whether ``--debug`` asked for the tracebacks of errors that are otherwise one line."""
    return _tracebacks


def setup_logging(verbose: int, debug: bool = False) -> None:
    """``-v`` logs the tool's requests, ``-vv`` also its libraries'. Always to stderr, always redacted.
    ``debug`` (``--debug``): an internal error in one tenant's work also prints its traceback."""
    global _tracebacks
    _tracebacks = debug
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = _StderrHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for h in list(root.handlers):
        if isinstance(h, _StderrHandler):  # set up before (a CLI invoked in-process again)
            root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("integration_sync").setLevel(level)
    for noisy in ("httpx", "httpcore", "uvicorn", "uvicorn.access", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)
