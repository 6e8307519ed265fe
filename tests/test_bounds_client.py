"""The client against replies that never finish, never stop, explode when decoded, nest without end,
or carry the token back: each is one error naming the tenant, after a known number of attempts, and the
token appears nowhere. A purpose-built server (tests/hostile_server.py) plays the tenant over loopback."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import logging
import socket
import sys
import zlib
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
import pytest
from hostile_server import Conn, HostileServer, reply

from integration_sync import errors, fields, logs
from integration_sync.client import TenantClient
from integration_sync.fsutil import TooLarge
from integration_sync.http_policy import proxy_for
from integration_sync.replies import read_capped
from integration_sync.replies import retry_after as _retry_after

T = TypeVar("T")
TOKEN = "tok-0123456789abcdef-SECRET"
EMPTY = json.dumps({"value": []}).encode()


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def _no_wait(_seconds: float) -> None:
    return None


def client(server: HostileServer, **kwargs: Any) -> TenantClient:
    kwargs.setdefault("token", TOKEN)
    kwargs.setdefault("sleep", _no_wait)
    return TenantClient("acme", f"{server.url}/OData/", **kwargs)


async def _list(c: TenantClient) -> Any:
    async with c:
        return await c.list_integrations()


# --- time --------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(30)
@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_reply_that_trickles_hits_the_total_deadline_not_a_read_timeout(where: str) -> None:
    """A byte every 0.2 s never lets a per-read timeout of 1 s fire; the request's total deadline does."""

    async def trickle(conn: Conn) -> None:
        if where == "body":
            await conn.send(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n"
            )
        else:
            await conn.send(b"HTTP/1.1 200 OK\r\n")
        while True:
            await conn.send(b" " if where == "body" else b"x")
            await conn.pause(0.2)

    with HostileServer(trickle) as server:
        with pytest.raises(errors.TransportError) as info:
            run(_list(client(server, timeout_s=1.0, max_retries=1)))
        assert len(server.requests) == 2  # a timeout may recover: retried once, as configured
    assert "no complete reply within 1 s (settings.timeout_s)" in str(info.value)
    assert "after 2 attempts" in str(info.value)


@pytest.mark.timeout(30)
def test_a_refused_connection_fails_at_the_first_attempt() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now

    attempts: list[float] = []

    async def counting_sleep(seconds: float) -> None:
        attempts.append(seconds)

    c = TenantClient("acme", f"http://127.0.0.1:{port}/OData/", sleep=counting_sleep, max_retries=6)
    with pytest.raises(errors.TransportError, match="not retried") as info:
        run(_list(c))
    assert attempts == []  # no wait, no second attempt
    assert c.stats.by_method == {"GET": 1}
    assert str(info.value).startswith("tenant acme: GET /OData/Integrations?$count=true: no reply")


# --- memory ------------------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_an_endless_chunked_body_stops_at_the_cap() -> None:
    sent = [0]

    async def endless(conn: Conn) -> None:
        await conn.send(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        chunk = b" " * 65536
        while True:
            await conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent[0] += len(chunk)

    with HostileServer(endless) as server:
        with pytest.raises(errors.ApiError, match=r"larger than 1 MiB \(settings.max_response_mib\)"):
            run(_list(client(server, max_response_bytes=1024 * 1024)))
        assert len(server.requests) == 1  # a reply too large is not asked for again


@pytest.mark.slow
@pytest.mark.timeout(30)
@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_a_compression_bomb_stops_at_the_cap_counted_on_decoded_bytes(coding: str) -> None:
    plain = b'{"value": [' + b" " * (200 * 1024 * 1024) + b"]}"  # 200 MiB of JSON whitespace
    packed = gzip.compress(plain, 9) if coding == "gzip" else zlib.compress(plain, 9)
    assert len(packed) < 1024 * 1024  # what travels is under the cap: only the decoded bytes are over

    async def bomb(conn: Conn) -> None:
        await conn.send(reply(200, packed, content_encoding=coding))

    with HostileServer(bomb) as server:
        with pytest.raises(errors.ApiError, match="larger than 1 MiB"):
            run(_list(client(server, max_response_bytes=1024 * 1024)))
        assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"
        assert len(server.requests) == 1


@pytest.mark.timeout(30)
def test_a_content_coding_not_asked_for_is_refused() -> None:
    async def brotli(conn: Conn) -> None:
        await conn.send(reply(200, b"\x1b\x00", content_encoding="br"))

    with HostileServer(brotli) as server, pytest.raises(errors.ApiError, match="not asked for"):
        run(_list(client(server)))


@pytest.mark.slow
@pytest.mark.timeout(30)
def test_read_capped_is_reusable_on_any_streamed_reply() -> None:
    body = b"x" * 5000

    async def serve(conn: Conn) -> None:
        await conn.send(reply(200, body, ctype="application/xml"))

    async def go(url: str, limit: int) -> bytes:
        async with httpx.AsyncClient() as http:
            request = http.build_request("GET", url)
            response = await http.send(request, stream=True)
            try:
                return await read_capped(response, limit)
            finally:
                await response.aclose()

    with HostileServer(serve) as server:
        assert run(go(server.url + "/$metadata", 5000)) == body
        with pytest.raises(TooLarge):
            run(go(server.url + "/$metadata", 4999))


# --- tracebacks --------------------------------------------------------------------------------------


def _serving(*replies: bytes) -> Any:
    queue = list(replies)

    async def serve(conn: Conn) -> None:
        await conn.send(queue.pop(0) if len(queue) > 1 else queue[0])

    return serve


@pytest.mark.slow
@pytest.mark.timeout(30)
@pytest.mark.parametrize("status", [200, 400])
def test_json_nested_200000_deep_is_one_error(status: int) -> None:
    deep = b'{"value": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    if status == 400:
        deep = b'{"error": {"message": ' + b"[" * 200_000 + b"]" * 200_000 + b"}}"
    with HostileServer(_serving(reply(status, deep))) as server:
        with pytest.raises(errors.ApiError) as info:
            run(_list(client(server)))
        # a 400 to a listing with $count=true is read as "count not served": listed once more without it
        assert len(server.requests) == (1 if status == 200 else 2)
    assert info.value.status == status
    if status == 200:
        assert "nested too deeply" in str(info.value)


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("link", "what"),
    [
        ("http://xn--/x", "not a usable URL"),
        ("\\ud800/OData/Integrations?page=2", "not a usable URL"),
        ("/victim/OData/Integrations?$skiptoken=1", "outside the tenant's base path /OData/"),
        ("/OData/../victim/OData/Integrations", "outside the tenant's base path"),
        ("/OData/%2e%2e/victim/OData/Integrations", "outside the tenant's base path"),
    ],
)
def test_a_next_link_that_is_unusable_or_leaves_the_base_path_is_refused(link: str, what: str) -> None:
    page = ('{"value": [], "@odata.nextLink": "' + link + '"}').encode()
    with HostileServer(_serving(reply(200, page))) as server:
        with pytest.raises(errors.ApiError, match=what):
            run(_list(client(server)))
        assert len(server.requests) == 1  # the link was never followed


@pytest.mark.timeout(30)
def test_a_next_link_under_the_base_path_is_followed() -> None:
    first = b'{"value": [], "@odata.nextLink": "/odata/Integrations?$skiptoken=2"}'
    with HostileServer(_serving(reply(200, first), reply(200, EMPTY))) as server:
        assert run(_list(client(server))) == []
        assert [r.path for r in server.requests] == [
            "/OData/Integrations?$count=true",
            "/odata/Integrations?$skiptoken=2",
        ]


def test_retry_after_that_is_not_ascii_digits_is_ignored() -> None:
    assert _retry_after("²") is None
    assert _retry_after("٣") is None
    assert _retry_after("9" * 5000) == float("inf")  # capped by the caller, never a crash
    assert _retry_after("12") == 12.0


@pytest.mark.timeout(30)
def test_a_retry_after_of_superscript_two_is_backoff_not_a_crash() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    with HostileServer(_serving(reply(429, b"", retry_after="²"), reply(200, EMPTY))) as server:
        assert run(_list(client(server, sleep=sleep))) == []
        assert len(server.requests) == 2
    assert len(waits) == 1 and waits[0] <= 0.5  # the first backoff step, not a Retry-After


# --- throttling: one pause per tenant, within a budget ------------------------------------------------


class _Gate:
    """An injected sleep that records each wait and lets it end only when the test says so."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.release = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await self.release.wait()


@pytest.mark.slow
@pytest.mark.timeout(30)
def test_a_429_pauses_the_whole_tenant_once_not_each_request() -> None:
    calls = [0]

    async def serve(conn: Conn) -> None:
        calls[0] += 1
        if calls[0] == 1:
            await conn.send(reply(429, b"", retry_after="20"))
        else:
            await conn.send(reply(200, json.dumps(entity(1)).encode(), etag='W/"1"'))

    async def go(c: TenantClient, gate: _Gate) -> None:
        async with c:
            first = asyncio.ensure_future(c.get(1))
            while not gate.waits:  # the first request met the 429 and paused the tenant
                await asyncio.sleep(0.01)
            others = [asyncio.ensure_future(c.get(1)) for _ in range(3)]
            await asyncio.sleep(0.2)
            gate.release.set()
            await asyncio.gather(first, *others)

    gate = _Gate()
    with HostileServer(serve) as server:
        c = client(server, sleep=gate)
        run(go(c, gate))
        assert len(server.requests) == 5  # one 429, then each of the four once: nobody sent meanwhile
    assert gate.waits == [20.0]
    assert c.stats.by_status == {429: 1, 200: 4}


def entity(key: int) -> dict[str, Any]:
    return {fields.ODATA_KEY: key, fields.name_property(): f"I{key}"}


@pytest.mark.timeout(30)
def test_throttling_past_the_retry_budget_fails_saying_what_it_waited() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    with HostileServer(
        _serving(reply(429, b'{"error": {"message": "slow down"}}', retry_after="25"))
    ) as server:
        with pytest.raises(errors.RateLimitedError) as info:
            run(_list(client(server, sleep=sleep, retry_budget_s=60, max_retries=10)))
        assert len(server.requests) == 3  # paused 25 + 25; a third pause would pass 60
    assert waits == [25.0, 25.0]
    message = str(info.value)
    assert "slow down" in message
    assert "paused 50 s in all and asked for 25 s more, past settings.retry_budget_s (60 s)" in message


@pytest.mark.timeout(30)
def test_a_wait_of_five_seconds_or_more_is_said_at_v(caplog: pytest.LogCaptureFixture) -> None:
    replies = _serving(reply(503, b"", retry_after="7"), reply(200, EMPTY))
    with HostileServer(replies) as server, caplog.at_level(logging.INFO, logger="integration_sync"):
        run(_list(client(server)))
    said = [r.getMessage() for r in caplog.records if "waiting" in r.getMessage()]
    assert said == ["tenant acme: waiting 7 s before retrying (HTTP 503, Retry-After 7)"]


# --- secrets -----------------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_a_token_echoed_at_the_clipping_boundary_is_redacted_whole() -> None:
    logs.register_secret(TOKEN)
    for pad in range(480, 500, 3):  # the token straddles the 500-character clip in some of these
        body = json.dumps({"error": {"message": "x" * pad + " " + TOKEN}}).encode()
        with HostileServer(_serving(reply(400, body))) as server, pytest.raises(errors.ApiError) as info:
            run(_list(client(server)))
        text = str(info.value)
        assert TOKEN[:6] not in text, pad


@pytest.mark.timeout(30)
def test_content_type_and_bad_link_messages_are_redacted() -> None:
    logs.register_secret(TOKEN)
    html = reply(200, b"<html>", ctype=f"text/html; t={TOKEN}")
    with HostileServer(_serving(html)) as server, pytest.raises(errors.ApiError) as info:
        run(_list(client(server)))
    assert "not JSON" in str(info.value) and TOKEN not in str(info.value)
    page = ('{"value": [], "@odata.nextLink": "http://xn--/' + TOKEN + '"}').encode()
    with HostileServer(_serving(reply(200, page))) as server, pytest.raises(errors.ApiError) as info:
        run(_list(client(server)))
    assert "not a usable URL" in str(info.value) and TOKEN not in str(info.value)


# --- proxies -----------------------------------------------------------------------------------------


def test_proxy_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("ALL_PROXY", "http://proxy.example:3128")
    assert proxy_for(httpx.URL("http://tenant.example/OData/")) is None  # plain http: never proxied
    assert proxy_for(httpx.URL("https://127.0.0.1:8443/OData/")) is None  # loopback: never
    assert proxy_for(httpx.URL("https://localhost/OData/")) is None
    assert proxy_for(httpx.URL("https://tenant.example/OData/")) == "http://proxy.example:3128"
    monkeypatch.setenv("HTTPS_PROXY", "http://secure-proxy.example:8080")
    assert proxy_for(httpx.URL("https://tenant.example/OData/")) == "http://secure-proxy.example:8080"
    monkeypatch.setenv("NO_PROXY", ".example")
    assert proxy_for(httpx.URL("https://tenant.example/OData/")) is None


@pytest.mark.timeout(30)
def test_an_https_tenant_goes_through_the_proxy_and_loopback_never_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def refuse(conn: Conn) -> None:
        await conn.send(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")

    with HostileServer(refuse) as proxy, HostileServer(_serving(reply(200, EMPTY))) as tenant:
        monkeypatch.delenv("NO_PROXY", raising=False)
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
            monkeypatch.setenv(name, proxy.url)
        assert run(_list(client(tenant))) == []  # plain-http loopback: straight to the tenant
        assert proxy.requests == []
        remote = TenantClient(
            "far", "https://tenant.invalid/OData/", token=TOKEN, sleep=_no_wait, max_retries=0
        )
        with pytest.raises(errors.TransportError):
            run(_list(remote))
        assert [r.request_line for r in proxy.requests] == ["CONNECT tenant.invalid:443 HTTP/1.1"]
        assert "authorization" not in proxy.requests[0].headers  # the token only inside the tunnel


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("after", "said"), [("7", True), ("4", False)])
def test_a_long_wait_is_said_on_a_terminal_without_v(
    monkeypatch: pytest.MonkeyPatch, after: str, said: bool
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    package = logging.getLogger("integration_sync")
    monkeypatch.setattr(package, "level", logging.WARNING)  # no -v
    with HostileServer(_serving(reply(429, b"", retry_after=after), reply(200, EMPTY))) as server:
        run(_list(client(server)))
        assert len(server.requests) == 2
    expected = f"tenant acme: waiting {after} s before retrying (HTTP 429, Retry-After {after})\n"
    assert terminal.getvalue() == (expected if said else "")
