"""The one door for HTTP: an async OData v4 client for one tenant's ``Integrations`` entity set.

Everything that touches the wire lives here (CONTRACT.md §2): headers and the bearer token, paging
(``@odata.nextLink`` / ``@nextLink``, followed only to the base URL's origin, never altered), key
formatting, ``If-Match``, retries with capped exponential backoff and jitter honouring ``Retry-After``,
and the translation of every reply that is not a success into the ``errors.ApiError`` tree, once, with
the cause chained. Nothing else in the package imports httpx (the emulator aside).

Two rules shape the retries:

* A create is not idempotent. When its request *may* have reached the server (a timeout or dropped
  connection after sending, a 5xx), it is never re-sent blindly: the name is read first, and an
  integration found under it is the create's result. So no integration is ever created twice.
* PATCH and DELETE are re-sent (with ``If-Match`` they cannot overwrite anything; without an etag a
  PATCH to the same values is idempotent). When an earlier attempt may have been applied, a 412 on the
  re-send is checked by re-reading (the change is there: success), and a 404 on a DELETE means done.

The token is registered with ``logs.register_secret`` and appears in no log line, error or repr.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import os
import random
import re
import ssl
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from html import unescape
from typing import Any, Final
from urllib.parse import quote, unquote

import httpx

from integration_sync import errors, fields, logs
from integration_sync.config import is_loopback
from integration_sync.fields import UNSET
from integration_sync.fsutil import TooLarge
from integration_sync.plan import equal

logger = logging.getLogger(__name__)

ENTITY_SET: Final = "Integrations"
MEDIA_TYPE: Final = "application/json;odata.metadata=minimal;odata.streaming=true"
#: Statuses worth another attempt: the server asked us to wait, or a gateway/back end hiccupped.
RETRY_STATUSES: Final = frozenset({429, 502, 503, 504})
_NEXT_LINKS: Final = ("@odata.nextLink", "@nextLink")
_COUNTS: Final = ("@odata.count", "@count")
#: Full readings of a listing after the first, when it moved while it was read (a key repeated with
#: different values, a count that changed or does not match the keys read), before the tenant fails.
RELISTS: Final = 2
#: Pages in a row that may bring no key not read before (a server may send an empty page with a next
#: link); one more and the paging is stuck.
IDLE_PAGES: Final = 2
#: Pages one reading may take at most when the tenant serves no count (with a count: count + 3).
MAX_PAGES: Final = 10_000
#: The etag annotation as OData 4.0 spells it, and as 4.01 may (without the ``odata.`` prefix).
_ETAGS: Final = (fields.ODATA_ETAG, "@" + fields.ODATA_ETAG.removeprefix("@odata."))
#: An error ``code`` or ``target`` that names a uniqueness rule (``UniqueConstraintViolation``,
#: ``DuplicateName``, ``UQ_Integrations_Name``): a name conflict, whatever the message says.
_UNIQUE = re.compile(r"unique|duplicate|conflict|^(?:UQ|IX|AK)_", re.IGNORECASE)
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
#: Characters left as they are in query values: OData punctuation. A space becomes %20, never +.
_QUERY_SAFE: Final = "'(),:$/@!*"
_MAX_MESSAGE: Final = 500
_BACKOFF_BASE_S: Final = 0.5
#: Content codings asked for, and the only ones a reply may use: those httpx decodes without an extra
#: package. A reply in another coding (``br``, ``zstd``) is refused, not decoded.
ACCEPT_ENCODING: Final = "gzip, deflate"
_DECODED: Final = frozenset({"", "identity", "gzip", "x-gzip", "deflate"})
#: A wait of at least this many seconds is said on stderr (on a terminal) and at -v.
NOTICE_WAIT_S: Final = 5.0
#: A reply body's cap when the caller gives none (``settings.max_response_mib``).
DEFAULT_MAX_RESPONSE_BYTES: Final = 64 * 1024 * 1024
#: The most ``TenantClient.raw`` reads of one reply (a ``$metadata`` document is far smaller).
MAX_RAW_BODY: Final = 8 * 1024 * 1024

#: What a caller may inject instead of the network (``httpx.MockTransport``, the emulator's ASGI app), so
#: that no other module needs to name httpx.
Transport = httpx.AsyncBaseTransport


# --------------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True)
class LiveIntegration:
    """One integration as the tenant returned it.

    ``values`` is the raw OData entity without annotations (``@odata.*``, ``Prop@odata.type``): the
    mapped and unmapped properties, ``Id`` included. ``etag`` is ``None`` when the tenant sends none.
    """

    key: int | str
    etag: str | None
    values: dict[str, Any]

    @property
    def name(self) -> str:
        """The name, or ``""`` when the entity has no usable one (missing, null, not a string): such an
        entity matches no name (never ``"None"`` or a number turned into text)."""
        name = self.values.get(fields.NAME())
        return name if isinstance(name, str) else ""


@dataclass
class RequestStats:
    """What one client sent: requests per method, per status, retries and lost replies."""

    by_method: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)
    #: Attempts after the first one, for any reason.
    retries: int = 0
    #: Requests that failed without a reply (connection refused, dropped, timeout).
    transport_errors: int = 0
    #: Creates whose reply was lost and whose integration was then found by name (not re-sent).
    recovered_creates: int = 0
    #: Pages read while listing (including filtered reads).
    pages: int = 0

    @property
    def requests(self) -> int:
        return sum(self.by_method.values())


def format_key(key: int | str | uuid.UUID) -> str:
    """An OData key segment: ``(42)``, ``('it''s')`` (quotes doubled), a GUID bare."""
    if isinstance(key, bool):
        raise TypeError(f"not an OData key: {key!r}")
    if isinstance(key, int):
        return f"({key})"
    if isinstance(key, uuid.UUID):
        return f"({key})"
    if isinstance(key, str):
        return "('" + key.replace("'", "''") + "')"
    raise TypeError(f"not an OData key: {key!r}")


def odata_string(value: str) -> str:
    """A string literal for ``$filter``: single quotes, inner quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def query_string(options: Mapping[str, str]) -> str:
    """``?a=b&c=d`` with values percent-encoded, a space as ``%20`` (httpx ``params=`` would use ``+``)."""
    if not options:
        return ""
    return "?" + "&".join(f"{k}={quote(v, safe=_QUERY_SAFE)}" for k, v in options.items())


@cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context for the process. Building one loads the CA bundle (20-40 ms of CPU); a fleet of
    tenants, each with its own client, would otherwise pay that once per tenant."""
    return ssl.create_default_context()


async def read_capped(response: httpx.Response, limit: int) -> bytes:
    """The body of a streamed ``response`` (``client.send(..., stream=True)``), decoded, refused with
    ``fsutil.TooLarge`` as soon as more than ``limit`` decoded bytes have arrived: a compressed bomb
    stops within one network chunk, an endless chunked body at the cap. A content coding that was not
    asked for (see ``ACCEPT_ENCODING``) raises ``httpx.DecodingError``. The caller closes the response
    and bounds the time (a body that trickles forever is a deadline's business, not a size's)."""
    coding = response.headers.get("content-encoding", "").strip().lower()
    if any(c.strip() not in _DECODED for c in coding.split(",")):
        raise httpx.DecodingError(
            f"the reply uses the content coding {_shown(coding, 40)!r}, which was not asked for"
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


def _buffered(response: httpx.Response, body: bytes) -> httpx.Response:
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


def proxy_for(url: httpx.URL) -> str | None:
    """The proxy a request to ``url`` goes through: none for plain ``http`` or a loopback host (the
    token would travel in clear, and the embedded tenant must stay reachable), else the standard
    variables: ``HTTPS_PROXY`` or ``ALL_PROXY`` (lower case first), except for hosts in ``NO_PROXY``."""
    if url.scheme != "https" or is_loopback(url.host):
        return None
    for name in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        value = os.environ.get(name, "").strip()
        if value:
            if urllib.request.proxy_bypass_environment(url.host, {"no": _no_proxy()}):  # type: ignore[attr-defined]
                return None
            return value
    return None


def _no_proxy() -> str:
    return os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or ""


def _count(value: Any) -> int | None:
    """A listing's ``@odata.count``: a non-negative integer, or its decimal digits as a string (OData's
    ``IEEE754Compatible=true`` format writes an ``Edm.Int64`` so); ``None`` when it is neither."""
    if type(value) is int:
        return value if value >= 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        return int(value)
    return None


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host.lower(), url.port or _DEFAULT_PORTS.get(url.scheme))


def _entity(payload: Mapping[str, Any], etag_header: str | None = None) -> LiveIntegration:
    values = dict(payload)
    etag = values.pop(_ETAGS[0], None) or values.pop(_ETAGS[1], None) or etag_header or None
    values.pop(_ETAGS[1], None)
    if "@" in "".join(values):  # other annotations (rare): one scan of the keys finds them
        values = {k: v for k, v in values.items() if "@" not in k}
    key = values.get(fields.ODATA_KEY)
    if not isinstance(key, int | str) or isinstance(key, bool):
        raise ValueError(f"entity without a usable {fields.ODATA_KEY!r}")
    return LiveIntegration(key=key, etag=str(etag) if etag is not None else None, values=values)


# --------------------------------------------------------------------------------------------------
# Error bodies


def _clip(text: str, limit: int = _MAX_MESSAGE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _shown(text: str, limit: int = _MAX_MESSAGE) -> str:
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
    message = _shown(message)
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


# --------------------------------------------------------------------------------------------------
# The client


class _Moved(Exception):
    """Internal: the listing moved while it was read (read it again). ``reading``: when only its count
    disagreed with the keys read, those integrations (the count may be wrong rather than the listing)."""

    def __init__(self, why: str, reading: list[LiveIntegration] | None = None, count: int | None = None):
        super().__init__(why)
        self.reading = reading
        self.count = count


class _Lost(Exception):
    """Internal: an attempt without a usable reply. ``maybe_sent``: the server may have acted on it."""

    def __init__(self, cause: httpx.TransportError, maybe_sent: bool):
        super().__init__(type(cause).__name__)
        self.cause = cause
        self.maybe_sent = maybe_sent

    @property
    def recoverable(self) -> bool:
        """Whether another attempt may succeed: a timeout or a dropped connection may, a refused
        connection (or a name that does not resolve, a TLS failure) will not within a retry's wait."""
        return not isinstance(self.cause, httpx.ConnectError)


class _OverBudget(Exception):
    """Internal: the pause a reply asks for would take the tenant past its retry budget."""

    def __init__(self, response: httpx.Response, delay: float, waited: float):
        super().__init__("over the retry budget")
        self.response = response
        self.delay = delay
        self.waited = waited


class _Borrowed(httpx.AsyncBaseTransport):
    """An injected transport belongs to its caller (it may serve several clients): a client's
    ``aclose()`` must not close it."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        return None


def _maybe_sent(exc: httpx.TransportError) -> bool:
    """False only when the request certainly never left: no connection, or no pool slot."""
    return not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def _header_token(tenant: str, token: str | None) -> str | None:
    """The token as it can travel in a header: without the whitespace around it (a secret pasted with
    a trailing newline), and refused, without showing it, when a header cannot carry it (httpx would
    raise deep inside a request, or retry a protocol error as if the network had failed)."""
    if token is None:
        return None
    token = token.strip()
    if not token:
        raise errors.ConfigError(f"tenant {tenant}: the API token is empty (only whitespace)")
    logs.register_secret(token)  # stripped: a whitespace "secret" would blank out every space logged
    if not all(" " <= c <= "~" for c in token):
        raise errors.ConfigError(
            f"tenant {tenant}: the API token holds a character an HTTP header cannot carry (a line "
            "break, a control or a non-ASCII character); check the secret's value"
        )
    return token


class TenantClient:
    """An async client for one tenant: pooled connections, timeouts, retries, typed errors.

    Use it as ``async with TenantClient(...) as client:`` (or call ``aclose()``). A ``transport`` passed
    in stays the caller's: it may be shared by several clients and is not closed here.
    """

    def __init__(
        self,
        tenant: str,
        base_url: str,
        *,
        token: str | None = None,
        page_size: int = 200,
        timeout_s: float = 30.0,
        max_retries: int = 6,
        allow_insecure_http: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        odata_names: Mapping[str, str] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_backoff_s: float = 30.0,
        rng: random.Random | None = None,
        retry_budget_s: float = 120.0,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        base = httpx.URL(base_url if base_url.endswith("/") else base_url + "/")
        if base.scheme not in ("http", "https") or not base.host:
            raise errors.ConfigError(f"tenant {tenant}: url {base_url!r} is not an http(s) URL")
        if base.scheme == "http" and not (allow_insecure_http or is_loopback(base.host)):
            raise errors.ConfigError(
                f"tenant {tenant}: plain http:// to {base.host} is refused (the token would travel in "
                "clear); use https://, or set allow_insecure_http: true for this tenant"
            )
        if page_size < 1 or max_retries < 0:
            raise ValueError("page_size must be >= 1 and max_retries >= 0")
        token = _header_token(tenant, token)
        self.tenant = tenant
        self.base_url = base
        self.page_size = page_size
        self.max_retries = max_retries
        self.max_backoff_s = max_backoff_s
        #: Each request's whole time (connect, headers and body), not only the gap between two reads.
        self.timeout_s = timeout_s
        #: Seconds this tenant may spend paused at its own request (429, Retry-After), in all.
        self.retry_budget_s = retry_budget_s
        self.max_response_bytes = max_response_bytes
        self.stats = RequestStats()
        # The tenant's own property names (the config's odata_names), translated here and only here:
        # everything above the client reads and writes the schema's names.
        self._out = fields.renamed(odata_names)
        self._in = {new: old for old, new in self._out.items()}
        self._sleep = sleep
        self._rng = rng or random.Random()
        #: The tenant-wide pause a 429 (or a Retry-After) started: every request waits for it.
        self._pause: asyncio.Future[None] | None = None
        self._paused_s = 0.0
        #: Set to False once the tenant refuses query options, so later reads skip them.
        self._query_options_ok = True
        #: Set to False once the tenant refuses ``$count`` on a listing.
        self._count_ok = True
        self._checked = False
        #: Whether the last ``list_integrations`` cannot have skipped a row unseen: it was one page, or
        #: the tenant's count matched the keys read. When False, a planned create is confirmed by name.
        self.listing_checked = False
        headers = {
            "Accept": MEDIA_TYPE,
            "Accept-Encoding": ACCEPT_ENCODING,
            "OData-Version": "4.0",
            "OData-MaxVersion": "4.01",
        }
        if token:
            headers["Authorization"] = f"Bearer {token}"
        proxy = proxy_for(base) if transport is None else None
        try:
            self._http = httpx.AsyncClient(
                headers=headers,
                timeout=httpx.Timeout(timeout_s),
                verify=_ssl_context(),
                transport=_Borrowed(transport) if transport is not None else None,
                follow_redirects=False,  # a redirect could carry the token elsewhere: it is an error
                trust_env=False,  # proxies are chosen by proxy_for; no .netrc, no other variables
                proxy=proxy,
            )
        except (ValueError, ImportError, httpx.InvalidURL) as exc:  # a proxy URL httpx cannot use
            raise errors.ConfigError(
                f"tenant {tenant}: the proxy from HTTPS_PROXY/ALL_PROXY cannot be used "
                f"({type(exc).__name__}); check the variable"
            ) from None

    def __repr__(self) -> str:
        return f"TenantClient(tenant={self.tenant!r}, base_url={str(self.base_url)!r})"

    async def __aenter__(self) -> TenantClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._pause is not None:
            self._pause.cancel()
        await self._http.aclose()

    # -- URLs -------------------------------------------------------------------------------------

    @property
    def collection_url(self) -> httpx.URL:
        return self.base_url.join(ENTITY_SET)

    def entity_url(self, key: int | str | uuid.UUID) -> httpx.URL:
        return self.base_url.join(ENTITY_SET + quote(format_key(key), safe="()'"))

    def _same_origin(self, link: str, against: httpx.URL, what: str, method: str) -> httpx.URL:
        """``link`` resolved against ``against``, when it stays on the tenant's origin and under its base
        path (``/victim/OData/`` on the same host is another tenant); else an ``ApiError``."""
        try:
            url = against.join(link)
            url.raw_path.decode("ascii")
            origin = _origin(url)  # decodes the host: an IDNA error surfaces here
        except (httpx.InvalidURL, ValueError) as exc:  # an IDNA label (xn--), a lone surrogate, ...
            raise errors.ApiError(
                f"{what} is not a usable URL: {_shown(repr(link), 200)}",
                tenant=self.tenant,
                request=f"{method} {self._path(against)}",
            ) from exc
        if origin != _origin(self.base_url):
            raise errors.ApiError(
                logs.redact(
                    f"refusing to follow {what} to another origin ({url.scheme}://{url.host}"
                    f"{':' + str(url.port) if url.port else ''}): the token is only sent to "
                    f"{self.base_url.scheme}://{self.base_url.host}"
                ),
                tenant=self.tenant,
                request=f"{method} {self._path(against)}",
            )
        path = unquote(url.raw_path.split(b"?", 1)[0].decode("ascii"))
        base = unquote(self.base_url.raw_path.split(b"?", 1)[0].decode("ascii"))
        if not path.casefold().startswith(base.casefold()) or {".", ".."} & set(path.split("/")):
            raise errors.ApiError(
                logs.redact(
                    f"refusing to follow {what} outside the tenant's base path {base} (to {_shown(path)})"
                ),
                tenant=self.tenant,
                request=f"{method} {self._path(against)}",
            )
        return url

    @staticmethod
    def _path(url: httpx.URL) -> str:
        return logs.redact(unquote(url.raw_path.decode("ascii", "replace")))

    # -- One attempt, and the retry loop ----------------------------------------------------------

    async def _send_once(
        self,
        method: str,
        url: httpx.URL,
        *,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        hdrs = dict(headers or {})
        content = None
        if body is not None:
            body = {self._out.get(k, k): v for k, v in body.items()}
            content = json.dumps(body, ensure_ascii=False).encode("utf-8")
            hdrs["Content-Type"] = MEDIA_TYPE
        if self._pause is not None and not self._pause.done():
            await asyncio.shield(self._pause)  # the tenant asked for a pause: nothing is sent meanwhile
        self.stats.by_method[method] += 1
        started = time.perf_counter()
        try:
            request = self._http.build_request(method, url, content=content, headers=hdrs)
            async with asyncio.timeout(self.timeout_s):
                streamed = await self._http.send(request, stream=True)
                try:
                    response = _buffered(streamed, await read_capped(streamed, self.max_response_bytes))
                finally:
                    await streamed.aclose()
        except TimeoutError as exc:  # the whole request's deadline, not one read's
            cause = httpx.ReadTimeout(f"no complete reply within {self.timeout_s:g} s (settings.timeout_s)")
            self.stats.transport_errors += 1
            logger.info(
                logs.redact(f"{method} {self._path(url)} -> no complete reply in {self.timeout_s:g} s")
            )
            raise _Lost(cause, maybe_sent=True) from exc
        except TooLarge as exc:
            raise errors.ApiError(
                f"the reply is larger than {self.max_response_bytes // (1024 * 1024)} MiB "
                "(settings.max_response_mib); it was not read further",
                tenant=self.tenant,
                request=f"{method} {self._path(url)}",
            ) from exc
        except (httpx.LocalProtocolError, httpx.UnsupportedProtocol) as exc:
            # Our own request cannot be sent as it is (nothing left this machine): no retry can help.
            raise errors.ApiError(
                logs.redact(f"the request cannot be sent ({type(exc).__name__}: {exc})"),
                tenant=self.tenant,
                request=f"{method} {self._path(url)}",
            ) from exc
        except httpx.TransportError as exc:
            self.stats.transport_errors += 1
            ms = (time.perf_counter() - started) * 1000
            logger.info(logs.redact(f"{method} {self._path(url)} -> {type(exc).__name__} in {ms:.0f} ms"))
            raise _Lost(exc, _maybe_sent(exc)) from exc
        except httpx.HTTPError as exc:  # a reply that cannot be decoded (bad Content-Encoding, ...)
            raise errors.ApiError(
                logs.redact(f"unreadable reply ({type(exc).__name__}: {exc})"),
                tenant=self.tenant,
                request=f"{method} {self._path(url)}",
            ) from exc
        ms = (time.perf_counter() - started) * 1000
        self.stats.by_status[response.status_code] += 1
        logger.info(logs.redact(f"{method} {self._path(url)} -> {response.status_code} in {ms:.0f} ms"))
        return response

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        """Seconds to wait before attempt ``attempt + 1``: ``Retry-After`` when given (capped), else
        capped exponential backoff with jitter (half fixed, half random)."""
        if response is not None:
            after = _retry_after(response.headers.get("retry-after"))
            if after is not None:
                return min(after, self.max_backoff_s)
        ceiling = min(self.max_backoff_s, _BACKOFF_BASE_S * 2**attempt)
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    async def _wait(self, attempt: int, response: httpx.Response | None, why: str = "") -> None:
        """Wait before attempt ``attempt + 1``. A 429, or any reply with ``Retry-After``, pauses the
        whole tenant: one shared pause that every request waits for (requests that meet it while it
        runs join it), counted once against ``retry_budget_s``. Past the budget, ``_OverBudget``."""
        self.stats.retries += 1
        delay = self._delay(attempt, response)
        shared = response is not None and (
            response.status_code == 429 or response.headers.get("retry-after") is not None
        )
        if not shared:
            self._say_wait(delay, why or (f"HTTP {response.status_code}" if response is not None else ""))
            await self._sleep(delay)
            return
        assert response is not None
        if self._pause is not None and not self._pause.done():
            await asyncio.shield(self._pause)
            return
        if self._paused_s + delay > self.retry_budget_s:
            raise _OverBudget(response, delay, self._paused_s)
        self._paused_s += delay
        after = response.headers.get("retry-after")
        self._say_wait(
            delay, f"HTTP {response.status_code}" + (f", Retry-After {_shown(after, 40)}" if after else "")
        )
        self._pause = asyncio.ensure_future(self._sleep(delay))
        await asyncio.shield(self._pause)

    def _say_wait(self, delay: float, why: str) -> None:
        """A wait of ``NOTICE_WAIT_S`` or more is said: at -v in the log, else on stderr when it is a
        terminal (so that an unreachable or throttling tenant is not mistaken for a hang)."""
        if delay < NOTICE_WAIT_S:
            return
        text = logs.redact(f"tenant {self.tenant}: waiting {delay:.0f} s before retrying ({why})")
        if logger.isEnabledFor(logging.INFO):
            logger.info(text)
        elif sys.stderr is not None and sys.stderr.isatty():
            print(text, file=sys.stderr, flush=True)

    async def _request(
        self,
        method: str,
        url: httpx.URL,
        *,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[httpx.Response, bool]:
        """Send with retries (for idempotent or safe-to-repeat requests). Returns the final reply and
        whether an earlier attempt may have been acted on by the server."""
        maybe_applied = False
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = await self._send_once(method, url, body=body, headers=headers)
            except _Lost as lost:
                if last or not lost.recoverable:
                    raise self._transport_error(method, url, lost, attempt + 1) from lost.cause
                maybe_applied = maybe_applied or lost.maybe_sent
                await self._wait(attempt, None, type(lost.cause).__name__)
                continue
            if response.status_code in RETRY_STATUSES and not last:
                maybe_applied = maybe_applied or response.status_code >= 500
                try:
                    await self._wait(attempt, response)
                except _OverBudget as over:
                    raise self._over_budget(over, attempt + 1) from None
                continue
            return response, maybe_applied
        raise AssertionError("unreachable")  # pragma: no cover

    def _transport_error(
        self, method: str, url: httpx.URL, lost: _Lost, attempts: int
    ) -> errors.TransportError:
        detail = logs.redact(str(lost.cause)) or type(lost.cause).__name__
        tries = f"after {attempts} attempts" if attempts > 1 else "(not retried: it cannot recover by itself)"
        return errors.TransportError(
            f"no reply {tries} ({type(lost.cause).__name__}: {detail})",
            tenant=self.tenant,
            request=f"{method} {self._path(url)}",
        )

    def _over_budget(self, over: _OverBudget, attempts: int) -> errors.ApiError:
        return self._error(
            over.response,
            gave_up=(
                f"gave up after {attempts} attempts: the tenant was paused {over.waited:g} s in all and "
                f"asked for {over.delay:g} s more, past settings.retry_budget_s ({self.retry_budget_s:g} s)"
            ),
        )

    def _error(self, response: httpx.Response, *, note: str = "", gave_up: str = "") -> errors.ApiError:
        """The typed error for a reply that is not a success."""
        status = response.status_code
        message, code, target = _parse_error(response)
        cls = _error_class(status, message, code, target)
        if status == 428:
            message = f"the tenant requires If-Match (an etag) on this request; {message}"
        elif 300 <= status < 400:
            where = _shown(response.headers.get("location", "nowhere"), 200)
            message = f"redirected to {where}, not followed (the token is only sent to the tenant's URL)"
        elif status == 503 and response.headers.get("retry-after"):
            cls = errors.RateLimitedError
        if gave_up:
            message = f"{message} ({gave_up})"
        elif cls is errors.RateLimitedError or status in RETRY_STATUSES:
            message = f"{message} (gave up after {self.max_retries + 1} attempts)"
        if note:
            message = f"{message}; {note}"
        return cls(
            logs.redact(message),
            tenant=self.tenant,
            request=f"{response.request.method} {self._path(response.request.url)}",
            status=status,
            code=code,
            target=target,
        )

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            payload = response.json()
        except RecursionError as exc:
            raise self._bad_reply(response, "the reply is JSON nested too deeply to read") from exc
        except ValueError as exc:
            ctype = _shown(response.headers.get("content-type", "no content type"), 200)
            raise errors.ApiError(
                f"the reply is not JSON ({ctype})",
                tenant=self.tenant,
                request=f"{response.request.method} {self._path(response.request.url)}",
                status=response.status_code,
            ) from exc
        if not isinstance(payload, dict):
            raise self._bad_reply(response, "the reply is not a JSON object")
        return payload

    def _bad_reply(self, response: httpx.Response, message: str) -> errors.ApiError:
        return errors.ApiError(
            message,
            tenant=self.tenant,
            request=f"{response.request.method} {self._path(response.request.url)}",
            status=response.status_code,
        )

    def _schema_names(self, entity: Mapping[str, Any]) -> dict[str, Any]:
        """A tenant's entity under the schema's property names (a schema name that this tenant uses
        for something else is dropped: it is not the mapped property)."""
        if not self._in:
            return dict(entity)
        return {self._in.get(k, k): v for k, v in entity.items() if k not in self._out or k in self._in}

    def _live(self, response: httpx.Response) -> LiveIntegration:
        payload = self._json(response)
        try:
            return _entity(self._schema_names(payload), response.headers.get("etag"))
        except ValueError as exc:
            raise self._bad_reply(response, str(exc)) from exc

    # -- Reads ------------------------------------------------------------------------------------

    async def _pages(self, first: httpx.URL) -> AsyncIterator[tuple[list[dict[str, Any]], Any, bool]]:
        """Each page of a collection read as ``(entities, count annotation or None, more follow)``,
        following next links (same origin only, never altered). The first non-success reply raises
        (via ``_error``)."""
        url: httpx.URL | None = first
        prefer = {"Prefer": f"odata.maxpagesize={self.page_size}"}
        seen: set[str] = set()
        while url is not None:
            response, _ = await self._request("GET", url, headers=prefer)
            if response.status_code != 200:
                raise self._error(response)
            payload = self._json(response)
            value = payload.get("value")
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise self._bad_reply(response, "the reply has no 'value' list of entities")
            self.stats.pages += 1
            link = next((payload[k] for k in _NEXT_LINKS if payload.get(k)), None)
            count = next((payload[k] for k in _COUNTS if k in payload), None)
            yield value, count, link is not None
            if link is None:
                return
            if not isinstance(link, str):
                raise self._bad_reply(response, "the next link is not a string")
            url = self._same_origin(link, response.request.url, "a next link", "GET")
            if str(url) in seen:
                raise self._bad_reply(response, f"the next link loops back to {self._path(url)}")
            seen.add(str(url))

    async def _collect(self, first: httpx.URL) -> list[LiveIntegration]:
        """One reading of a collection: each key once. A key read again with the same values is
        dropped (offset paging over a shifting order repeats rows); with other values, or a count that
        changes between pages or does not match the keys read, the listing moved (``_Moved``). Paging
        that brings nothing new, or more pages than the count can explain, fails the reading."""
        by_key: dict[int | str, LiveIntegration] = {}
        counted: int | None = None
        pages, idle, limit = 0, 0, MAX_PAGES
        where = f"GET {self._path(first)}"
        async for page, count, more in self._pages(first):
            pages += 1
            new = 0
            for item in page:
                try:
                    live = _entity(self._schema_names(item))
                except ValueError as exc:
                    raise errors.ApiError(
                        f"a listed integration has no usable {fields.ODATA_KEY!r}",
                        tenant=self.tenant,
                        request=where,
                    ) from exc
                before = by_key.get(live.key)
                if before is None:
                    by_key[live.key] = live
                    new += 1
                elif before.etag != live.etag or not equal(before.values, live.values):
                    raise _Moved(f"integration {live.key} was listed twice with different values")
            if count is not None:
                number = _count(count)
                if number is None:
                    raise errors.ApiError(
                        f"the listing's count is not a count: {_shown(str(count), 40)!r}",
                        tenant=self.tenant,
                        request=where,
                    )
                count = number
                if counted is not None and count != counted:
                    raise _Moved(f"its count went from {counted} to {count} between two pages")
                counted = count
                limit = min(MAX_PAGES, count + IDLE_PAGES + 1)
            idle = 0 if new else idle + 1
            if more and idle > IDLE_PAGES:
                raise errors.ApiError(
                    f"the paging makes no progress: {idle} pages in a row brought no integration not "
                    "already read, and the next link goes on",
                    tenant=self.tenant,
                    request=where,
                )
            if more and pages >= limit:
                explain = f" (its count, {counted}, explains fewer)" if counted is not None else ""
                raise errors.ApiError(
                    f"the listing goes on past {pages} pages{explain}", tenant=self.tenant, request=where
                )
        if counted is not None and counted != len(by_key):
            raise _Moved(
                f"it counts {counted} integrations, but {len(by_key)} were read",
                list(by_key.values()),
                counted,
            )
        self._checked = pages <= 1 or counted is not None
        return list(by_key.values())

    async def _read_all(self, url: httpx.URL) -> list[LiveIntegration]:
        """``_collect``, read again (at most ``RELISTS`` times) while the listing moves under it."""
        why = ""
        misfits: list[_Moved] = []  # readings whose count alone disagreed with their keys
        for _attempt in range(RELISTS + 1):
            try:
                return await self._collect(url)
            except _Moved as moved:
                why = str(moved)
                misfits.append(moved)
                logger.info(
                    "tenant %s: the listing moved while it was read (%s); reading it again", self.tenant, why
                )
        shapes = {
            (m.count, frozenset(i.key for i in m.reading)) if m.reading is not None else None for m in misfits
        }
        last = misfits[-1].reading
        if last is not None and len(shapes) == 1:
            # The same keys under the same count each time: the listing did not move, the tenant's count
            # is not the number of integrations it lists. Used unconfirmed, as if it served no count.
            logger.info(
                "tenant %s: its count disagrees with the integrations it lists, the same way %d times; "
                "the listing is used unconfirmed (a planned create is confirmed by name)",
                self.tenant,
                RELISTS + 1,
            )
            self._checked = False
            return last
        raise errors.ApiError(
            f"the listing changed while it was read, {RELISTS + 1} times in a row ({why}); plan again later",
            tenant=self.tenant,
            request=f"GET {self._path(url)}",
        )

    async def list_integrations(self) -> list[LiveIntegration]:
        """Every integration of the tenant, page by page (the server's page size rules), each key once.
        Asks for ``$count`` (to tell a listing that skipped a row) unless the tenant refuses it."""
        self.listing_checked = False
        if self._query_options_ok and self._count_ok:
            url = httpx.URL(str(self.collection_url) + query_string({"$count": "true"}))
            try:
                live = await self._read_all(url)
                self.listing_checked = self._checked
                return live
            except errors.ApiError as exc:
                if exc.status not in (400, 501) or isinstance(exc, errors.ConflictError):
                    raise
                logger.info("tenant %s refused $count (HTTP %s); listing without it", self.tenant, exc.status)
                self._count_ok = False
        live = await self._read_all(self.collection_url)
        self.listing_checked = self._checked
        return live

    async def get(self, key: int | str | uuid.UUID) -> LiveIntegration:
        """One integration by key; ``NotFoundError`` when there is none."""
        response, _ = await self._request("GET", self.entity_url(key))
        if response.status_code != 200:
            raise self._error(response)
        return self._live(response)

    async def _get_url(self, url: httpx.URL) -> LiveIntegration:
        response, _ = await self._request("GET", url)
        if response.status_code != 200:
            raise self._error(response)
        return self._live(response)

    async def find_by_name(self, name: str) -> LiveIntegration | None:
        """The integration named ``name``, compared case-insensitively (an exact match first), or
        ``None``."""
        matches = await self._named(name)
        exact = [c for c in matches if c.name == name]
        return next(iter(exact or matches), None)

    async def _named(self, name: str) -> list[LiveIntegration]:
        """Integrations whose name equals ``name`` case-insensitively.

        Asks the tenant with ``$filter`` when it allows query options (and the name is ASCII, where
        OData's ``tolower`` and Python agree); a tenant that refuses them (400/501) is read in full,
        and is not asked with query options again.
        """
        candidates: list[LiveIntegration] | None = None
        if self._query_options_ok and name.isascii():
            prop = self._out.get(fields.NAME(), fields.NAME())
            expr = f"tolower({prop}) eq {odata_string(name.lower())}"
            url = httpx.URL(str(self.collection_url) + query_string({"$filter": expr}))
            try:
                candidates = await self._read_all(url)
            except errors.ApiError as exc:
                if exc.status not in (400, 501) or isinstance(exc, errors.ConflictError):
                    raise
                logger.info(
                    "tenant %s refused $filter (HTTP %s); reading the whole list instead",
                    self.tenant,
                    exc.status,
                )
                self._query_options_ok = False
        if candidates is None:
            checked = self.listing_checked  # what the caller's own listing established stays so
            try:
                candidates = await self.list_integrations()
            finally:
                self.listing_checked = checked
        wanted = name.casefold()
        return [c for c in candidates if c.name.casefold() == wanted]

    # -- Writes -----------------------------------------------------------------------------------

    async def create(self, body: Mapping[str, Any]) -> LiveIntegration:
        """Create an integration from a full OData body; returns it as the tenant stored it.

        Accepts 201 with the entity, or 204 with ``OData-EntityId``/``Location`` (then reads it). When
        an attempt may have reached the server (no reply after sending, a 5xx), the name is read
        before anything else is sent: an integration found under exactly that name is the result.
        ``ConflictError`` when the name is taken.
        """
        name = body.get(fields.NAME())
        if not isinstance(name, str) or not name:
            raise ValueError(f"a create needs a {fields.NAME()!r}: it is how a lost reply is recovered")
        url = self.collection_url
        maybe_sent = False
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            if maybe_sent and (found := await self._recover(name)) is not None:
                return found
            try:
                response = await self._send_once("POST", url, body=body)
            except _Lost as lost:
                maybe_sent = maybe_sent or lost.maybe_sent
                if not last and lost.recoverable:
                    await self._wait(attempt, None, type(lost.cause).__name__)
                    continue
                if maybe_sent and (found := await self._recover(name)) is not None:
                    return found
                raise self._transport_error("POST", url, lost, attempt + 1) from lost.cause
            status = response.status_code
            if status >= 500:
                maybe_sent = True
            if status in RETRY_STATUSES and not last:
                try:
                    await self._wait(attempt, response)
                except _OverBudget as over:
                    if maybe_sent and (found := await self._recover(name)) is not None:
                        return found
                    raise self._over_budget(over, attempt + 1) from None
                continue
            if status >= 500 and (found := await self._recover(name)) is not None:
                return found
            if status == 400:
                raise await self._refused(response, name, None)
            return await self._created(response)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _refused(
        self, response: httpx.Response, name: str, key: int | str | uuid.UUID | None
    ) -> errors.ApiError:
        """The error for a 400 on a create or rename: a ``ConflictError`` when a read of the name finds
        another integration holding it (a server may refuse a duplicate name with any 400 at all)."""
        exc = self._error(response)
        if isinstance(exc, errors.ConflictError):
            return exc
        try:
            holders = [c for c in await self._named(name) if c.key != key]
        except errors.ApiError:
            return exc  # the refusal itself is what the user needs to see
        if not holders:
            return exc
        holder = next((c for c in holders if c.name == name), holders[0])
        return errors.ConflictError(
            f"{exc.message}; the name is held by integration {holder.key} ({holder.name!r})",
            tenant=exc.tenant,
            request=exc.request,
            status=exc.status,
            code=exc.code,
            target=exc.target,
        )

    async def _recover(self, name: str) -> LiveIntegration | None:
        """After a create whose reply was lost: the integration stored under exactly ``name``, if any.
        (Exact, not case-insensitive: a case variant is someone else's, and a re-send will say 409.)"""
        found = next((c for c in await self._named(name) if c.name == name), None)
        if found is not None:
            self.stats.recovered_creates += 1
            logger.info(
                logs.redact(
                    f"tenant {self.tenant}: the reply to creating {name!r} was lost; "
                    f"found it under key {found.key}, not re-sending"
                )
            )
        return found

    async def _created(self, response: httpx.Response) -> LiveIntegration:
        status = response.status_code
        if status in (200, 201) and response.content:
            return self._live(response)
        if status in (200, 201, 204):
            link = response.headers.get("odata-entityid") or response.headers.get("location")
            if not link:
                raise self._bad_reply(response, "created, but the reply names no OData-EntityId or Location")
            return await self._get_url(
                self._same_origin(link, response.request.url, "OData-EntityId", "POST")
            )
        raise self._error(response)

    async def update(
        self, key: int | str | uuid.UUID, changes: Mapping[str, Any], *, etag: str | None
    ) -> LiveIntegration | None:
        """PATCH only ``changes`` (OData names), with ``If-Match: etag`` when given. Returns the entity
        when the tenant sends it (200), else ``None`` (204). ``PreconditionFailedError`` on a stale etag (412,
        after a read that finds the integration still there) or when the tenant requires one (428);
        ``NotFoundError`` when the key is gone. A 400 on a change of name is a ``ConflictError`` when a
        read of the name finds another integration holding it."""
        headers = {"Prefer": "return=representation"}
        if etag is not None:
            headers["If-Match"] = etag
        url = self.entity_url(key)
        response, maybe_applied = await self._request("PATCH", url, body=changes, headers=headers)
        status = response.status_code
        if status == 200 and response.content:
            return self._live(response)
        if status in (200, 204):
            return None
        if status == 412:
            # Gone, or changed? One read tells (NotFoundError when gone). When an earlier attempt may
            # have gone through and moved the etag, the change may be there: success.
            live = await self.get(key)
            if maybe_applied and all(equal(live.values.get(k, UNSET), v) for k, v in changes.items()):
                return live
            lost = "an earlier attempt's reply was lost; " if maybe_applied else ""
            raise self._error(response, note=f"{lost}it still exists, and changed since its etag was read")
        name = changes.get(fields.NAME())
        if status == 400 and isinstance(name, str):
            raise await self._refused(response, name, key)
        raise self._error(response)

    async def delete(self, key: int | str | uuid.UUID, *, etag: str | None) -> None:
        """DELETE with ``If-Match: etag`` when given. A 404 after an attempt whose reply was lost, or a
        412 after which a read finds nothing, means the integration is deleted: done."""
        headers = {"If-Match": etag} if etag is not None else {}
        response, maybe_applied = await self._request("DELETE", self.entity_url(key), headers=headers)
        if response.status_code in (200, 204) or (response.status_code == 404 and maybe_applied):
            return
        if response.status_code == 412:
            # A server checks the etag of a row that is gone, too (a retry after a lost reply, or a
            # delete by someone else): a read that finds nothing means the integration is deleted.
            try:
                await self.get(key)
            except errors.NotFoundError:
                return
            raise self._error(response, note="it still exists, and changed since its etag was read")
        raise self._error(response)

    # -- Raw replies, for doctor's probes -----------------------------------------------------------

    async def raw(
        self,
        method: str,
        target: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        limit: int = MAX_RAW_BODY,
    ) -> RawReply:
        """One request, no retry, no name translation, the reply as it came (its body capped at
        ``limit`` bytes): for ``doctor``, which reports what a tenant does rather than coping with
        it. ``target`` is relative to the base URL (``$metadata``, ``Integrations?$top=1``) or a link
        the tenant gave (same origin only). A lost connection or a body over the cap is an
        ``ApiError``/``TransportError`` naming the request."""
        url = self._same_origin(target, self.base_url, "a link", method)
        hdrs = dict(headers or {})
        content = None
        if body is not None:
            content = json.dumps(body, ensure_ascii=False).encode("utf-8")
            hdrs["Content-Type"] = MEDIA_TYPE
        where = f"{method} {self._path(url)}"
        try:
            async with (
                asyncio.timeout(self.timeout_s),
                self._http.stream(method, url, headers=hdrs, content=content) as response,
            ):
                data = await read_capped(response, limit)
        except TimeoutError as exc:
            raise errors.TransportError(
                f"no whole reply within {self.timeout_s:g} s (settings.timeout_s)",
                tenant=self.tenant,
                request=where,
            ) from exc
        except TooLarge as exc:
            raise errors.ApiError(
                f"the reply is larger than {limit} bytes", tenant=self.tenant, request=where
            ) from exc
        except httpx.TransportError as exc:
            detail = logs.redact(str(exc)) or type(exc).__name__
            raise errors.TransportError(
                f"no reply ({type(exc).__name__}: {detail})", tenant=self.tenant, request=where
            ) from exc
        except httpx.HTTPError as exc:
            raise errors.ApiError(
                logs.redact(f"unreadable reply ({type(exc).__name__}: {exc})"),
                tenant=self.tenant,
                request=where,
            ) from exc
        logger.info(logs.redact(f"{where} -> {response.status_code}"))
        return RawReply(response.status_code, dict(response.headers), data, str(url))


@dataclass(frozen=True)
class RawReply:
    """A reply as the tenant sent it: status, headers (lower-case names), body bytes, request URL."""

    status: int
    headers: dict[str, str]
    body: bytes
    url: str

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):
            return None


def _retry_after(value: str | None, now: Callable[[], datetime] | None = None) -> float | None:
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
