"""Sending to one tenant: the HTTP session, each request within its deadline and its body within a
cap, retries with capped exponential backoff and jitter honouring ``Retry-After``, one tenant-wide pause
for a 429 within a retry budget, and every failure without a reply as a ``TransportError``.

Everything that touches the wire lives here and in ``client`` (the OData reads and writes on top),
``replies`` (what a reply says) and ``http_policy`` (where a request may go); nothing else in the
package imports httpx (the emulator aside). The wire contract is docs/odata.md. The token is
registered with ``logs.register_secret`` and appears in no log line, error or repr.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Self, TypedDict

import httpx

from integration_sync import errors, logs
from integration_sync.config import Settings
from integration_sync.fsutil import TooLarge
from integration_sync.http_policy import header_token, proxy_for, same_origin, ssl_context
from integration_sync.replies import (
    ACCEPT_ENCODING,
    RETRY_STATUSES,
    buffered,
    read_capped,
    reply_error,
    request_path,
    retry_after,
    shown,
)
from integration_sync.tenant_url import is_loopback

# The log lines keep the name they always had (``-v`` output and filters by logger name rely on it).
logger = logging.getLogger("integration_sync.client")

MEDIA_TYPE: Final = "application/json;odata.metadata=minimal;odata.streaming=true"
_BACKOFF_BASE_S: Final = 0.5
#: A wait of at least this many seconds is said on stderr (on a terminal) and at -v.
NOTICE_WAIT_S: Final = 5.0
#: A reply body's cap when the caller gives none (``settings.max_response_mib``).
DEFAULT_MAX_RESPONSE_BYTES: Final = Settings.max_response_mib * 1024 * 1024
#: The most ``TenantSession.raw`` reads of one reply (a ``$metadata`` document is far smaller).
MAX_RAW_BODY: Final = 8 * 1024 * 1024

#: What a caller may inject instead of the network (``httpx.MockTransport``, the emulator's ASGI app), so
#: that no other module needs to name httpx.
Transport = httpx.AsyncBaseTransport


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


class SessionOptions(TypedDict, total=False):
    """The keyword options of ``TenantSession`` (for a subclass that passes them on)."""

    token: str | None
    timeout_s: float
    max_retries: int
    allow_insecure_http: bool
    transport: httpx.AsyncBaseTransport | None
    sleep: Callable[[float], Awaitable[None]]
    max_backoff_s: float
    rng: random.Random | None
    retry_budget_s: float
    max_response_bytes: int


class TenantSession:
    """HTTP to one tenant: pooled connections, the token, timeouts, retries and pauses, typed errors.

    ``client.TenantClient`` builds the OData reads and writes on it. Use it as ``async with`` (or call
    ``aclose()``). A ``transport`` passed in stays the caller's: it may be shared by several clients and
    is not closed here.
    """

    def __init__(
        self,
        tenant: str,
        base_url: str,
        *,
        token: str | None = None,
        timeout_s: float = Settings.timeout_s,
        max_retries: int = Settings.max_retries,
        allow_insecure_http: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_backoff_s: float = 30.0,
        rng: random.Random | None = None,
        retry_budget_s: float = Settings.retry_budget_s,
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
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        token = header_token(tenant, token)
        self.tenant = tenant
        self.base_url = base
        self.max_retries = max_retries
        self.max_backoff_s = max_backoff_s
        #: Each request's whole time (connect, headers and body), not only the gap between two reads.
        self.timeout_s = timeout_s
        #: Seconds this tenant may spend paused at its own request (429, Retry-After), in all.
        self.retry_budget_s = retry_budget_s
        self.max_response_bytes = max_response_bytes
        self.stats = RequestStats()
        self._sleep = sleep
        self._rng = rng or random.Random()
        #: The tenant-wide pause a 429 (or a Retry-After) started: every request waits for it.
        self._pause: asyncio.Future[None] | None = None
        self._paused_s = 0.0
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
                verify=ssl_context(),
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
        return f"{type(self).__name__}(tenant={self.tenant!r}, base_url={str(self.base_url)!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._pause is not None:
            self._pause.cancel()
        await self._http.aclose()

    def _encode(self, body: Mapping[str, Any]) -> Mapping[str, Any]:
        """A request body as the tenant names its properties (``TenantClient`` translates)."""
        return body

    def _same_origin(self, link: str, against: httpx.URL, what: str, method: str) -> httpx.URL:
        """``link`` resolved against ``against``, when it stays on the tenant's origin and base path."""
        return same_origin(self.tenant, self.base_url, link, against, what, method)

    _path = staticmethod(request_path)

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
            body = self._encode(body)
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
                    response = buffered(streamed, await read_capped(streamed, self.max_response_bytes))
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
        self.stats.by_status[response.status_code] += 1
        if logger.isEnabledFor(logging.INFO):  # -v: every request; else not even its line is made
            ms = (time.perf_counter() - started) * 1000
            logger.info(logs.redact(f"{method} {self._path(url)} -> {response.status_code} in {ms:.0f} ms"))
        return response

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        """Seconds to wait before attempt ``attempt + 1``: ``Retry-After`` when given (capped), else
        capped exponential backoff with jitter (half fixed, half random)."""
        if response is not None:
            after = retry_after(response.headers.get("retry-after"))
            if after is not None:
                return min(after, self.max_backoff_s)
        ceiling = min(self.max_backoff_s, _BACKOFF_BASE_S * 2.0**attempt)
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
            delay, f"HTTP {response.status_code}" + (f", Retry-After {shown(after, 40)}" if after else "")
        )
        self._pause = asyncio.ensure_future(self._sleep(delay))
        await asyncio.shield(self._pause)

    def _say_wait(self, delay: float, why: str) -> None:
        """A wait of ``NOTICE_WAIT_S`` or more is said: at -v in the log, else on stderr when it is a
        terminal (so that an unreachable or throttling tenant is not mistaken for a hang)."""
        if delay < NOTICE_WAIT_S:
            return
        logs.notice(logger, f"tenant {self.tenant}: waiting {delay:.0f} s before retrying ({why})")

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
        return reply_error(self.tenant, response, self.max_retries + 1, note=note, gave_up=gave_up)

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            payload = response.json()
        except RecursionError as exc:
            raise self._bad_reply(response, "the reply is JSON nested too deeply to read") from exc
        except ValueError as exc:
            ctype = shown(response.headers.get("content-type", "no content type"), 200)
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
