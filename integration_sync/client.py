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
import random
import re
import ssl
import time
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

logger = logging.getLogger(__name__)

ENTITY_SET: Final = "Integrations"
MEDIA_TYPE: Final = "application/json;odata.metadata=minimal;odata.streaming=true"
#: Statuses worth another attempt: the server asked us to wait, or a gateway/back end hiccupped.
RETRY_STATUSES: Final = frozenset({429, 502, 503, 504})
_NEXT_LINKS: Final = ("@odata.nextLink", "@nextLink")
#: The etag annotation as OData 4.0 spells it, and as 4.01 may (without the ``odata.`` prefix).
_ETAGS: Final = (fields.ODATA_ETAG, "@" + fields.ODATA_ETAG.removeprefix("@odata."))
_DUPLICATE = re.compile(r"duplicate|already exists", re.IGNORECASE)
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
#: Characters left as they are in query values: OData punctuation. A space becomes %20, never +.
_QUERY_SAFE: Final = "'(),:$/@!*"
_MAX_MESSAGE: Final = 500
_BACKOFF_BASE_S: Final = 0.5

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
        return str(self.values.get(fields.NAME(), ""))


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


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


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
    message, code, target = "", None, None
    payload: Any = None
    if text and ("json" in ctype or text[:1] in "{["):
        try:
            payload = json.loads(text)
        except ValueError:
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
    message = _clip(message)
    return message or response.reason_phrase or "no message in the reply", code, target


def _error_class(status: int, message: str) -> type[errors.ApiError]:
    if status in (401, 403):
        return errors.AuthError
    if status == 404:
        return errors.NotFoundError
    if status == 409 or (status == 400 and _DUPLICATE.search(message)):
        return errors.ConflictError
    if status in (412, 428):
        return errors.PreconditionFailed
    if status == 429:
        return errors.RateLimitedError
    return errors.ApiError


# --------------------------------------------------------------------------------------------------
# The client


class _Lost(Exception):
    """Internal: an attempt without a usable reply. ``maybe_sent``: the server may have acted on it."""

    def __init__(self, cause: httpx.TransportError, maybe_sent: bool):
        super().__init__(type(cause).__name__)
        self.cause = cause
        self.maybe_sent = maybe_sent


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
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_backoff_s: float = 30.0,
        rng: random.Random | None = None,
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
        self.stats = RequestStats()
        self._sleep = sleep
        self._rng = rng or random.Random()
        #: Set to False once the tenant refuses query options, so later reads skip them.
        self._query_options_ok = True
        headers = {"Accept": MEDIA_TYPE, "OData-Version": "4.0", "OData-MaxVersion": "4.01"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(timeout_s),
            verify=_ssl_context(),
            transport=_Borrowed(transport) if transport is not None else None,
            follow_redirects=False,  # a redirect could carry the token elsewhere: it is an error
        )

    def __repr__(self) -> str:
        return f"TenantClient(tenant={self.tenant!r}, base_url={str(self.base_url)!r})"

    async def __aenter__(self) -> TenantClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- URLs -------------------------------------------------------------------------------------

    @property
    def collection_url(self) -> httpx.URL:
        return self.base_url.join(ENTITY_SET)

    def entity_url(self, key: int | str | uuid.UUID) -> httpx.URL:
        return self.base_url.join(ENTITY_SET + quote(format_key(key), safe="()'"))

    def _same_origin(self, link: str, against: httpx.URL, what: str, method: str) -> httpx.URL:
        try:
            url = against.join(link)
        except httpx.InvalidURL as exc:
            raise errors.ApiError(
                f"{what} is not a usable URL: {link[:200]!r}",
                tenant=self.tenant,
                request=f"{method} {self._path(against)}",
            ) from exc
        if _origin(url) != _origin(self.base_url):
            raise errors.ApiError(
                f"refusing to follow {what} to another origin ({url.scheme}://{url.host}"
                f"{':' + str(url.port) if url.port else ''}): the token is only sent to "
                f"{self.base_url.scheme}://{self.base_url.host}",
                tenant=self.tenant,
                request=f"{method} {self._path(against)}",
            )
        return url

    @staticmethod
    def _path(url: httpx.URL) -> str:
        return unquote(url.raw_path.decode("ascii", "replace"))

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
            content = json.dumps(body, ensure_ascii=False).encode("utf-8")
            hdrs["Content-Type"] = MEDIA_TYPE
        self.stats.by_method[method] += 1
        started = time.perf_counter()
        try:
            response = await self._http.request(method, url, content=content, headers=hdrs)
            await response.aread()
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

    async def _wait(self, attempt: int, response: httpx.Response | None) -> None:
        self.stats.retries += 1
        await self._sleep(self._delay(attempt, response))

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
                if last:
                    raise self._transport_error(method, url, lost) from lost.cause
                maybe_applied = maybe_applied or lost.maybe_sent
                await self._wait(attempt, None)
                continue
            if response.status_code in RETRY_STATUSES and not last:
                maybe_applied = maybe_applied or response.status_code >= 500
                await self._wait(attempt, response)
                continue
            return response, maybe_applied
        raise AssertionError("unreachable")  # pragma: no cover

    def _transport_error(self, method: str, url: httpx.URL, lost: _Lost) -> errors.TransportError:
        detail = logs.redact(str(lost.cause)) or type(lost.cause).__name__
        return errors.TransportError(
            f"no reply after {self.max_retries + 1} attempts ({type(lost.cause).__name__}: {detail})",
            tenant=self.tenant,
            request=f"{method} {self._path(url)}",
        )

    def _error(self, response: httpx.Response, *, note: str = "") -> errors.ApiError:
        """The typed error for a reply that is not a success."""
        status = response.status_code
        message, code, target = _parse_error(response)
        cls = _error_class(status, message)
        if status == 428:
            message = f"the tenant requires If-Match (an etag) on this request; {message}"
        elif 300 <= status < 400:
            where = response.headers.get("location", "nowhere")
            message = f"redirected to {where}, not followed (the token is only sent to the tenant's URL)"
        elif status == 503 and response.headers.get("retry-after"):
            cls = errors.RateLimitedError
        if cls is errors.RateLimitedError or status in RETRY_STATUSES:
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
        except ValueError as exc:
            raise errors.ApiError(
                f"the reply is not JSON ({response.headers.get('content-type', 'no content type')})",
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

    def _live(self, response: httpx.Response) -> LiveIntegration:
        payload = self._json(response)
        try:
            return _entity(payload, response.headers.get("etag"))
        except ValueError as exc:
            raise self._bad_reply(response, str(exc)) from exc

    # -- Reads ------------------------------------------------------------------------------------

    async def _pages(self, first: httpx.URL) -> AsyncIterator[list[dict[str, Any]]]:
        """Each page of a collection read, following next links (same origin only, never altered).
        The first non-success reply raises (via ``_error``)."""
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
            yield value
            link = next((payload[k] for k in _NEXT_LINKS if payload.get(k)), None)
            if link is None:
                return
            if not isinstance(link, str):
                raise self._bad_reply(response, "the next link is not a string")
            url = self._same_origin(link, response.request.url, "a next link", "GET")
            if str(url) in seen:
                raise self._bad_reply(response, f"the next link loops back to {self._path(url)}")
            seen.add(str(url))

    async def _collect(self, first: httpx.URL) -> list[LiveIntegration]:
        out: list[LiveIntegration] = []
        async for page in self._pages(first):
            for item in page:
                try:
                    out.append(_entity(item))
                except ValueError as exc:
                    raise errors.ApiError(
                        f"a listed integration has no usable {fields.ODATA_KEY!r}",
                        tenant=self.tenant,
                        request=f"GET {self._path(first)}",
                    ) from exc
        return out

    async def list_integrations(self) -> list[LiveIntegration]:
        """Every integration of the tenant, page by page (the server's page size rules)."""
        return await self._collect(self.collection_url)

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
            expr = f"tolower({fields.NAME()}) eq {odata_string(name.lower())}"
            url = httpx.URL(str(self.collection_url) + query_string({"$filter": expr}))
            try:
                candidates = await self._collect(url)
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
            candidates = await self.list_integrations()
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
                if not last:
                    await self._wait(attempt, None)
                    continue
                if maybe_sent and (found := await self._recover(name)) is not None:
                    return found
                raise self._transport_error("POST", url, lost) from lost.cause
            status = response.status_code
            if status >= 500:
                maybe_sent = True
            if status in RETRY_STATUSES and not last:
                await self._wait(attempt, response)
                continue
            if status >= 500 and (found := await self._recover(name)) is not None:
                return found
            return await self._created(response)
        raise AssertionError("unreachable")  # pragma: no cover

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
        when the tenant sends it (200), else ``None`` (204). ``PreconditionFailed`` on a stale etag (412)
        or when the tenant requires one (428); ``NotFoundError`` when the key is gone."""
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
        if status == 412 and maybe_applied:
            # An earlier attempt may have gone through and moved the etag: is the change there?
            live = await self.get(key)
            if all(live.values.get(k) == v for k, v in changes.items()):
                return live
            raise self._error(response, note="an earlier attempt's reply was lost; the live values differ")
        raise self._error(response)

    async def delete(self, key: int | str | uuid.UUID, *, etag: str | None) -> None:
        """DELETE with ``If-Match: etag`` when given. A 404 after an attempt whose reply was lost
        means the delete went through."""
        headers = {"If-Match": etag} if etag is not None else {}
        response, maybe_applied = await self._request("DELETE", self.entity_url(key), headers=headers)
        if response.status_code in (200, 204) or (response.status_code == 404 and maybe_applied):
            return
        raise self._error(response)


def _retry_after(value: str | None, now: Callable[[], datetime] | None = None) -> float | None:
    """``Retry-After`` in seconds: delta-seconds or an HTTP date (past dates give 0)."""
    if value is None:
        return None
    value = value.strip()
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
