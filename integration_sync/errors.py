"""One exception tree with one root. Every failure the tool expects is a ``SyncError``; the CLI catches
that one class, prints one clear line and exits 1. Anything else is a bug and keeps its traceback.

    SyncError
    ├── DefinitionError          a definition file is wrong (carries path:line:col)
    ├── ConfigError              integration-sync.yaml is wrong (carries path:line:col when known)
    ├── ApiError                 a tenant answered with an error, or could not be reached
    │   ├── TransportError       no usable reply: connection refused/dropped, timeout
    │   ├── AuthError            401 / 403
    │   ├── NotFoundError        404
    │   ├── ConflictError        409 (and a duplicate name reported as 400)
    │   ├── PreconditionFailedError 412 (stale etag) / 428 (If-Match required)
    │   └── RateLimitedError     429 / 503 with Retry-After, after retries ran out
    └── PlanFileError            a saved plan cannot be read (format, version, corrupt)

A plan over a safety threshold and an item whose live state moved since the plan are not exceptions:
apply reports them in its result (the tenant refused, with its reason; the item ``stale``) and carries
on with the rest.

Messages never contain a token: ``ApiError`` is built from the method, the path and the server's
message only.
"""

from __future__ import annotations


class SyncError(Exception):
    """Root of every error the tool expects and reports without a traceback."""


class Located(SyncError):
    """An error at a place in a file: ``path:line:col: message``. Line and column are 1-based."""

    def __init__(
        self, message: str, path: str | None = None, line: int | None = None, col: int | None = None
    ):
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.col = col

    def __str__(self) -> str:
        where = [str(p) for p in (self.path, self.line, self.col) if p is not None]
        return f"{':'.join(where)}: {self.message}" if where else self.message


class DefinitionError(Located):
    """A definition file that cannot be used."""


class ConfigError(Located):
    """The project config (``integration-sync.yaml``) or the command line is wrong."""


class ApiError(SyncError):
    """A tenant's reply was an error. ``request`` is ``METHOD /path`` (never a header, never a token)."""

    def __init__(
        self,
        message: str,
        *,
        tenant: str | None = None,
        request: str | None = None,
        status: int | None = None,
        code: str | None = None,
        target: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.tenant = tenant
        self.request = request
        self.status = status
        self.code = code
        self.target = target

    def __str__(self) -> str:
        head = []
        if self.tenant:
            head.append(f"tenant {self.tenant}")
        if self.request:
            head.append(self.request)
        if self.status is not None:
            head.append(f"HTTP {self.status}")
        prefix = ": ".join(head)
        return f"{prefix}: {self.message}" if prefix else self.message


class TransportError(ApiError):
    """No usable reply: the connection failed, was dropped, or timed out."""


class AuthError(ApiError):
    """401 or 403: the token is missing, wrong, or not allowed."""


class NotFoundError(ApiError):
    """404: no such key."""


class ConflictError(ApiError):
    """409: the name already exists (or a server's 400 saying the same)."""


class PreconditionFailedError(ApiError):
    """412: the etag is stale; 428: the server requires If-Match."""


class RateLimitedError(ApiError):
    """429/503 that did not clear within the retry budget."""


class PlanFileError(SyncError):
    """A saved plan file that cannot be used."""


def under_tenant(exc: SyncError, tenant: str) -> str:
    """``exc``'s message for a place that already names the tenant (its heading in a plan or an apply
    report): without the leading ``tenant NAME: `` that the message would otherwise repeat."""
    message = str(exc)
    prefix = f"tenant {tenant}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def past_deadline(tenant: str, seconds: float, what: str) -> TransportError:
    """The error of a tenant whose ``what`` (its listing, its apply) ran past ``settings.tenant_deadline_s``."""
    return TransportError(
        f"{what} did not finish within settings.tenant_deadline_s ({seconds:g} s)", tenant=tenant
    )
