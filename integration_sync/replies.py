"""What a tenant's reply says: its body read within a cap, its ``Retry-After``, and for an error reply
its message (redacted, then clipped) and its class in the ``errors.ApiError`` tree.

Pure functions over ``httpx`` replies; ``transport`` sends and retries, ``client`` reads OData from the
replies. The wire rules they follow are in docs/odata.md.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from html import unescape
from typing import Any, Final
from urllib.parse import unquote

import httpx

from integration_sync import errors, logs
from integration_sync.fsutil import TooLarge

#: Statuses worth another attempt: the server asked us to wait, or a gateway/back end hiccupped.
RETRY_STATUSES: Final = frozenset({429, 502, 503, 504})
#: An error ``code`` or ``target`` that names a uniqueness rule (``UniqueConstraintViolation``,
#: ``DuplicateName``, ``UQ_Integrations_Name``): a name conflict, whatever the message says.
_UNIQUE = re.compile(r"unique|duplicate|conflict|^(?:UQ|IX|AK)_", re.IGNORECASE)
_MAX_MESSAGE: Final = 500
#: Content codings asked for, and the only ones a reply may use: those httpx decodes without an extra
#: package. A reply in another coding (``br``, ``zstd``) is refused, not decoded.
ACCEPT_ENCODING: Final = "gzip, deflate"
_DECODED: Final = frozenset({"", "identity", "gzip", "x-gzip", "deflate"})


async def read_capped(response: httpx.Response, limit: int) -> bytes:
    """The body of a streamed ``response`` (``client.send(..., stream=True)``), decoded, refused with
    ``fsutil.TooLarge`` as soon as more than ``limit`` decoded bytes have arrived: a compressed bomb
    stops within one network chunk, an endless chunked body at the cap. A content coding that was not
    asked for (see ``ACCEPT_ENCODING``) raises ``httpx.DecodingError``. The caller closes the response
    and bounds the time (a body that trickles forever is a deadline's business, not a size's)."""
    coding = response.headers.get("content-encoding", "").strip().lower()
    if any(c.strip() not in _DECODED for c in coding.split(",")):
        raise httpx.DecodingError(
            f"the reply uses the content coding {shown(coding, 40)!r}, which was not asked for"
        )
    declared = response.headers.get("content-length", "")
    plain = not coding or coding == "identity"
    if plain and declared.isascii() and declared.isdigit() and len(declared) < 20 and int(declared) > limit:
        raise TooLarge(int(declared))
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.aiter_bytes():
        total += len(chunk)
        if total > limit:
            raise TooLarge(total)
        chunks.append(chunk)
    return b"".join(chunks)


def buffered(response: httpx.Response, body: bytes) -> httpx.Response:
    """A read reply, ``body`` already decoded: the content coding headers go, so that nothing decodes
    it a second time."""
    headers = [
        (k, v)
        for k, v in response.headers.raw  # as received: a header need not be ASCII (Retry-After: ²)
        if k.lower() not in (b"content-encoding", b"content-length", b"transfer-encoding")
    ]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=body,
        request=response.request,
        extensions=response.extensions,
    )


def retry_after(value: str | None, now: Callable[[], datetime] | None = None) -> float | None:
    """``Retry-After`` in seconds: delta-seconds or an HTTP date (past dates give 0)."""
    if value is None:
        return None
    value = value.strip()
    if not value.isascii():  # str.isdigit and float() take '²' and '٣' for digits
        return None
    if value.isdigit():
        return float(value)
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now() if now is not None else datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def request_path(url: httpx.URL) -> str:
    """A request's path as an error or a log line shows it: decoded, redacted."""
    return logs.redact(unquote(url.raw_path.decode("ascii", "replace")))


def _clip(text: str, limit: int = _MAX_MESSAGE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shown(text: str, limit: int = _MAX_MESSAGE) -> str:
    """Text a server sent, as an error may quote it: redacted whole, then clipped to ``limit`` (clipped
    first, a token cut at the edge would no longer match, and its first characters would show)."""
    return _clip(logs.redact(text), limit)


def _html_text(body: str) -> str:
    title = re.search(r"(?is)<title[^>]*>(.*?)</title>", body)
    heading = re.search(r"(?is)<h1[^>]*>(.*?)</h1>", body)
    found = title or heading
    if found:
        text = re.sub(r"(?s)<[^>]+>", " ", found.group(1))
    else:
        text = re.sub(r"(?is)<(script|style)[^>]*>.*?</\1>", " ", body)
        text = re.sub(r"(?s)<[^>]+>", " ", text)
    return unescape(text)


def _parse_error(response: httpx.Response) -> tuple[str, str | None, str | None]:
    """(message, code, target) from whatever an error reply holds: an OData error, problem+json, HTML,
    text or nothing. The message is never empty: it falls back to the reason phrase."""
    text = response.text.strip() if response.content else ""
    ctype = response.headers.get("content-type", "").lower()
    try:
        message, code, target = _error_parts(text, ctype)
    except RecursionError:  # parsed, but nested too deeply to turn into text
        message, code, target = "an error reply nested too deeply to read", None, None
    message = shown(message)
    return message or response.reason_phrase or "no message in the reply", code, target


def _error_parts(text: str, ctype: str) -> tuple[str, str | None, str | None]:
    message, code, target = "", None, None
    payload: Any = None
    if text and ("json" in ctype or text[:1] in "{["):
        try:
            payload = json.loads(text)
        except (ValueError, RecursionError):  # not JSON, or nested past what the parser follows
            payload = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        err = payload["error"]
        code = str(err["code"]) if err.get("code") else None
        target = str(err["target"]) if err.get("target") else None
        parts = [str(err.get("message") or "")]
        for d in err.get("details") or []:
            if isinstance(d, dict) and d.get("message"):
                where = f"{d['target']}: " if d.get("target") else ""
                parts.append(f"{where}{d['message']}")
        inner = err.get("innererror")
        if isinstance(inner, dict) and inner.get("message"):
            parts.append(str(inner["message"]))
        message = "; ".join(p for p in parts if p)
    elif isinstance(payload, dict) and ("title" in payload or "detail" in payload):
        # RFC 7807 / 9457 problem details, and ASP.NET Core's ValidationProblemDetails.
        parts = [str(payload.get(k)) for k in ("title", "detail") if payload.get(k)]
        errs = payload.get("errors")
        if isinstance(errs, dict):
            for where, msgs in errs.items():
                for m in msgs if isinstance(msgs, list) else [msgs]:
                    parts.append(f"{where}: {m}" if where else str(m))
        message = "; ".join(parts)
    elif isinstance(payload, dict) and isinstance(payload.get("message"), str):
        message = payload["message"]
    elif text and ("html" in ctype or text.lower().startswith(("<!doctype", "<html"))):
        message = _html_text(text)
    elif text:
        message = text
    return message, code, target


def _error_class(
    status: int, message: str, code: str | None = None, target: str | None = None
) -> type[errors.ApiError]:
    """The error class of a reply, by its shape, never by the words of its message: a name conflict is
    a 409, or a 400 whose ``code`` or ``target`` names a uniqueness rule. Any other 400 on a create or
    a rename (one that points at the name property but could be a too-long name, one that says
    nothing) is told by reading the name: ``TenantClient._refused``."""
    if status in (401, 403):
        return errors.AuthError
    if status == 404:
        return errors.NotFoundError
    unique = any(_UNIQUE.search(x) for x in (code, target) if x)
    if status == 409 or (status == 400 and unique):
        return errors.ConflictError
    if status in (412, 428):
        return errors.PreconditionFailedError
    if status == 429:
        return errors.RateLimitedError
    return errors.ApiError


#


def reply_error(
    tenant: str, response: httpx.Response, attempts: int, *, note: str = "", gave_up: str = ""
) -> errors.ApiError:
    """The typed error for a reply that is not a success; ``attempts``: how many were made in all."""
    status = response.status_code
    message, code, target = _parse_error(response)
    cls = _error_class(status, message, code, target)
    if status == 428:
        message = f"the tenant requires If-Match (an etag) on this request; {message}"
    elif 300 <= status < 400:
        where = shown(response.headers.get("location", "nowhere"), 200)
        message = f"redirected to {where}, not followed (the token is only sent to the tenant's URL)"
    elif status == 503 and response.headers.get("retry-after"):
        cls = errors.RateLimitedError
    if gave_up:
        message = f"{message} ({gave_up})"
    elif cls is errors.RateLimitedError or status in RETRY_STATUSES:
        message = f"{message} (gave up after {attempts} attempts)"
    if note:
        message = f"{message}; {note}"
    return cls(
        logs.redact(message),
        tenant=tenant,
        request=f"{response.request.method} {request_path(response.request.url)}",
        status=status,
        code=code,
        target=target,
    )
