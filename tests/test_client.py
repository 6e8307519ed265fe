"""The OData client on rare wire cases, through ``httpx.MockTransport`` (no sockets, no waiting)."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pytest

from integration_sync import errors, fields, logs
from integration_sync.client import (
    MEDIA_TYPE,
    LiveIntegration,
    TenantClient,
    format_key,
    query_string,
)
from integration_sync.replies import retry_after as _retry_after

BASE = "https://acme.example.com/OData/"
TOKEN = "s3cr3t-t0ken-value"
Handler = Callable[[httpx.Request], httpx.Response]


T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class Sleeps:
    """An injected ``sleep`` that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_client(handler: Handler, sleeps: Sleeps | None = None, **kwargs: Any) -> TenantClient:
    kwargs.setdefault("token", TOKEN)
    return TenantClient(
        "acme",
        kwargs.pop("base_url", BASE),
        transport=httpx.MockTransport(handler),
        sleep=sleeps or Sleeps(),
        **kwargs,
    )


def entity(key: int, name: str, **extra: Any) -> dict[str, Any]:
    return {fields.ODATA_KEY: key, fields.name_property(): name, fields.ODATA_ETAG: f'W/"{key}-1"', **extra}


def odata_json(payload: Any, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(
        status, content=json.dumps(payload).encode(), headers={"content-type": MEDIA_TYPE, **headers}
    )


class Store:
    """A tiny in-memory ``Integrations`` set: enough of a tenant for the write paths."""

    def __init__(self) -> None:
        self.items: dict[int, dict[str, Any]] = {}
        self.next_key = 1
        self.seen: list[httpx.Request] = []

    def add(self, name: str, **extra: Any) -> dict[str, Any]:
        item = entity(self.next_key, name, **extra)
        self.items[self.next_key] = item
        self.next_key += 1
        return item

    def names(self) -> list[str]:
        return [i[fields.name_property()] for i in self.items.values()]

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        path = request.url.path
        if path == "/OData/Integrations" and request.method == "GET":
            items = list(self.items.values())
            query = request.url.query.decode()
            if "filter=" in query:
                wanted = query.split("'")[1].replace("%20", " ")
                items = [i for i in items if i[fields.name_property()].lower() == wanted]
            return odata_json({"value": items})
        if path == "/OData/Integrations" and request.method == "POST":
            body = json.loads(request.content)
            if body[fields.name_property()].lower() in (n.lower() for n in self.names()):
                return odata_json({"error": {"code": "Conflict", "message": "duplicate Name"}}, 409)
            return odata_json(self.add(body[fields.name_property()]), 201)
        key = int(path.rsplit("(", 1)[1].rstrip(")"))
        if key not in self.items:
            return odata_json({"error": {"code": "NotFound", "message": "no such key"}}, 404)
        item = self.items[key]
        if_match = request.headers.get("if-match")
        if if_match is not None and if_match != item[fields.ODATA_ETAG]:
            return odata_json({"error": {"code": "PreconditionFailed", "message": "stale etag"}}, 412)
        if request.method == "GET":
            return odata_json(item)
        if request.method == "PATCH":
            item.update(json.loads(request.content))
            version = int(item[fields.ODATA_ETAG].split("-")[1].rstrip('"')) + 1
            item[fields.ODATA_ETAG] = f'W/"{key}-{version}"'
            return httpx.Response(204)
        if request.method == "DELETE":
            del self.items[key]
            return httpx.Response(204)
        return httpx.Response(405)


# --- keys, URLs, headers ---------------------------------------------------------------------------


def test_format_key_int_string_guid() -> None:
    guid = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert format_key(42) == "(42)"
    assert format_key("it's") == "('it''s')"
    assert format_key(guid) == "(12345678-1234-5678-1234-567812345678)"
    with pytest.raises(TypeError):
        format_key(True)


def test_query_string_encodes_space_as_percent_20() -> None:
    qs = query_string({"$filter": "tolower(Name) eq 'a b+c'"})
    assert qs == "?$filter=tolower(Name)%20eq%20'a%20b%2Bc'"
    assert "+" not in qs


def test_entity_url_quotes_string_keys() -> None:
    async def go() -> None:
        async with make_client(lambda r: httpx.Response(500)) as c:
            assert c.entity_url("it's a").raw_path == b"/OData/Integrations('it''s%20a')"
            assert c.entity_url(7).raw_path == b"/OData/Integrations(7)"

    run(go())


def test_headers_per_contract() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return odata_json(entity(1, "A"), 201)

    async def go() -> None:
        async with make_client(handler) as c:
            await c.create({fields.name_property(): "A"})

    run(go())
    (req,) = seen
    assert req.headers["accept"] == MEDIA_TYPE
    assert req.headers["content-type"] == MEDIA_TYPE
    assert req.headers["odata-version"] == "4.0"
    assert req.headers["authorization"] == f"Bearer {TOKEN}"
    assert json.loads(req.content) == {fields.name_property(): "A"}


def test_no_authorization_header_without_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return odata_json({"value": []})

    async def go() -> None:
        async with make_client(handler, token=None) as c:
            await c.list_integrations()

    run(go())
    assert "authorization" not in seen[0].headers


def test_a_token_pasted_with_a_trailing_newline_is_sent_without_it() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return odata_json({"value": []})

    async def go() -> None:
        async with make_client(handler, token=f"  {TOKEN}\r\n") as c:
            await c.list_integrations()

    run(go())
    assert seen[0].headers["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    ("token", "why"),
    [
        (" \n", "empty"),
        (TOKEN + "\u00e9", "cannot carry"),
        ("s3cr3t\nsecond", "cannot carry"),
        ("a\x01b", "cannot"),
    ],
)
def test_a_token_a_header_cannot_carry_is_a_config_error_that_does_not_show_it(token: str, why: str) -> None:
    """Before: a non-ASCII token was a traceback from httpx, a line break inside one was retried as a
    network failure; a whitespace token was registered as a secret and blanked out every space."""
    with pytest.raises(errors.ConfigError) as info:
        make_client(lambda r: odata_json({"value": []}), token=token)
    assert why in str(info.value) and "acme" in str(info.value)
    assert not token.strip() or token.strip() not in str(info.value)
    assert logs.redact("a b c") == "a b c"


@pytest.mark.parametrize(
    ("url", "allow", "ok"),
    [
        ("http://acme.example.com/OData/", False, False),
        ("http://acme.example.com/OData/", True, True),
        ("http://127.0.0.1:8080/OData/", False, True),
        ("http://localhost/OData/", False, True),
        # The config refuses it (it is a name, resolved like any other), so the client does too.
        ("http://localhost.localdomain/OData/", False, False),
        ("http://[::1]:9/OData/", False, True),
        ("https://acme.example.com/OData/", False, True),
        ("ftp://acme.example.com/OData/", True, False),
    ],
)
def test_plain_http_refused_unless_loopback_or_allowed(url: str, allow: bool, ok: bool) -> None:
    async def go() -> None:
        client = make_client(lambda r: httpx.Response(200), base_url=url, allow_insecure_http=allow)
        await client.aclose()

    if ok:
        run(go())
    else:
        with pytest.raises(errors.ConfigError, match="acme"):
            run(go())


# --- entities --------------------------------------------------------------------------------------


def test_entity_values_drop_annotations_keep_unmapped_and_missing_etag_is_none() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        item = {
            "@odata.context": "$metadata#Integrations/$entity",
            fields.ODATA_KEY: 42,
            fields.name_property(): "Xero",
            "ModifiedAt": "2026-01-01T00:00:00Z",
            "Name@odata.type": "#String",
        }
        return odata_json(item)

    async def go() -> LiveIntegration:
        async with make_client(handler) as c:
            return await c.get(42)

    live = run(go())
    assert live == LiveIntegration(
        key=42,
        etag=None,
        values={fields.ODATA_KEY: 42, fields.name_property(): "Xero", "ModifiedAt": "2026-01-01T00:00:00Z"},
    )
    assert live.name == "Xero"


def test_etag_from_header_when_body_has_none() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return odata_json({fields.ODATA_KEY: 1, fields.name_property(): "A"}, etag='W/"abc"')

    async def go() -> LiveIntegration:
        async with make_client(handler) as c:
            return await c.get(1)

    assert run(go()).etag == 'W/"abc"'


# --- paging ----------------------------------------------------------------------------------------


def paged_handler(pages: dict[str, dict[str, Any]], seen: list[httpx.Request]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        key = request.url.raw_path.decode().removesuffix("?$count=true")  # the listing asks for a count
        if key not in pages:
            return httpx.Response(404)
        return odata_json(pages[key])

    return handler


@pytest.mark.parametrize(
    "link",
    [
        "https://acme.example.com/OData/Integrations?$skiptoken=a%20b",  # absolute
        "Integrations?$skiptoken=a%20b",  # relative to the request URL
        "/OData/Integrations?$skiptoken=a%20b",  # absolute path
        "https://acme.example.com:443/OData/Integrations?$skiptoken=a%20b",  # explicit default port
    ],
)
@pytest.mark.parametrize("annotation", ["@odata.nextLink", "@nextLink"])
def test_list_follows_next_links_unaltered(link: str, annotation: str) -> None:
    seen: list[httpx.Request] = []
    pages: dict[str, dict[str, Any]] = {
        "/OData/Integrations": {"value": [entity(1, "A")], annotation: link},
        "/OData/Integrations?$skiptoken=a%20b": {"value": [entity(2, "B")]},
    }

    async def go() -> list[LiveIntegration]:
        async with make_client(paged_handler(pages, seen), page_size=1) as c:
            out = await c.list_integrations()
            assert c.stats.pages == 2
            assert c.stats.by_method["GET"] == 2
            return out

    assert [i.name for i in run(go())] == ["A", "B"]
    assert [r.url.raw_path for r in seen] == [
        b"/OData/Integrations?$count=true",
        b"/OData/Integrations?$skiptoken=a%20b",
    ]
    assert all(r.headers["prefer"] == "odata.maxpagesize=1" for r in seen)
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in seen)


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.example.net/OData/Integrations?$skiptoken=2",
        "http://acme.example.com/OData/Integrations?$skiptoken=2",
        "https://acme.example.com:8443/OData/Integrations?$skiptoken=2",
        "//evil.example.net/OData/Integrations?$skiptoken=2",
    ],
)
def test_next_link_to_another_origin_is_refused(link: str) -> None:
    seen: list[httpx.Request] = []
    pages = {"/OData/Integrations": {"value": [entity(1, "A")], "@odata.nextLink": link}}

    async def go() -> None:
        async with make_client(paged_handler(pages, seen)) as c:
            await c.list_integrations()

    with pytest.raises(errors.ApiError, match="another origin") as info:
        run(go())
    assert type(info.value) is errors.ApiError
    assert info.value.tenant == "acme"
    assert len(seen) == 1  # the other origin never got a request (nor the token)


def test_next_link_loop_is_an_error() -> None:
    seen: list[httpx.Request] = []
    pages: dict[str, dict[str, Any]] = {
        "/OData/Integrations": {"value": [], "@odata.nextLink": "Integrations?p=2"}
    }
    pages["/OData/Integrations?p=2"] = {"value": [], "@odata.nextLink": "Integrations?p=2"}

    async def go() -> None:
        async with make_client(paged_handler(pages, seen)) as c:
            await c.list_integrations()

    with pytest.raises(errors.ApiError, match="loops"):
        run(go())


def test_list_reply_without_value_is_a_bad_reply() -> None:
    async def go() -> None:
        async with make_client(lambda r: odata_json({"items": []})) as c:
            await c.list_integrations()

    with pytest.raises(errors.ApiError, match="'value'"):
        run(go())


# --- find_by_name ----------------------------------------------------------------------------------


def test_find_by_name_uses_filter_with_percent_20_and_is_case_insensitive() -> None:
    store = Store()
    store.add("Xero Invoice Export")

    async def go() -> LiveIntegration | None:
        async with make_client(store.handle) as c:
            return await c.find_by_name("XERO it's EXPORT") or await c.find_by_name("xero invoice EXPORT")

    found = run(go())
    assert found is not None and found.key == 1
    queries = [r.url.raw_path.decode() for r in store.seen]
    assert queries[0] == "/OData/Integrations?$filter=tolower(Name)%20eq%20'xero%20it''s%20export'"
    assert all("+" not in q for q in queries)


def test_find_by_name_falls_back_to_full_list_when_filter_refused_and_remembers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.query:
            return odata_json(
                {"error": {"code": "", "message": "The query option $filter is not allowed"}}, 400
            )
        return odata_json({"value": [entity(1, "Alpha"), entity(2, "Beta")]})

    async def go() -> tuple[LiveIntegration | None, LiveIntegration | None]:
        async with make_client(handler) as c:
            return await c.find_by_name("BETA"), await c.find_by_name("gamma")

    beta, gamma = run(go())
    assert beta is not None and beta.key == 2
    assert gamma is None
    assert [bool(r.url.query) for r in seen] == [True, False, False]


def test_find_by_name_prefers_exact_case_on_a_case_sensitive_tenant() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return odata_json({"value": [entity(1, "alpha"), entity(2, "Alpha")]})

    async def go() -> LiveIntegration | None:
        async with make_client(handler) as c:
            return await c.find_by_name("Alpha")

    found = run(go())
    assert found is not None and found.key == 2


# --- error bodies ----------------------------------------------------------------------------------

ERROR_CASES: list[tuple[int, str, bytes, type[errors.ApiError], str]] = [
    (
        400,
        MEDIA_TYPE,
        json.dumps(
            {
                "error": {
                    "code": "ValidationFailed",
                    "message": "The request is invalid.",
                    "target": "BatchSize",
                    "details": [{"code": "Range", "message": "must be >= 1", "target": "BatchSize"}],
                }
            }
        ).encode(),
        errors.ApiError,
        "The request is invalid.; BatchSize: must be >= 1",
    ),
    (
        404,
        MEDIA_TYPE,
        b'{"error": {"message": "No Integration with key 42"}}',
        errors.NotFoundError,
        "No Integration",
    ),
    (
        400,
        "application/problem+json",
        json.dumps(
            {
                "type": "about:blank",
                "title": "One or more validation errors occurred.",
                "status": 400,
                "errors": {"Name": ["The Name field is required."]},
            }
        ).encode(),
        errors.ApiError,
        "One or more validation errors occurred.; Name: The Name field is required.",
    ),
    (
        409,
        "application/problem+json",
        b'{"title": "Conflict", "detail": "Name already taken"}',
        errors.ConflictError,
        "Conflict; Name already taken",
    ),
    (
        502,
        "text/html",
        b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad</h1></body></html>",
        errors.ApiError,
        "502 Bad Gateway",
    ),
    (
        500,
        "text/html",
        b"<html><body><p>Server &amp; error</p></body></html>",
        errors.ApiError,
        "Server & error",
    ),
    (500, "", b"", errors.ApiError, "Internal Server Error"),
    (403, "text/plain", b"forbidden for this token", errors.AuthError, "forbidden for this token"),
    (401, "", b"", errors.AuthError, "Unauthorized"),
    (
        409,
        MEDIA_TYPE,
        b'{"error": {"code": "Conflict", "message": "exists"}}',
        errors.ConflictError,
        "exists",
    ),
    (
        400,
        MEDIA_TYPE,
        b'{"error": {"message": "Duplicate Name \'A\'"}}',
        errors.ApiError,  # words are not a shape: a create or rename reads the name to tell
        "Duplicate Name",
    ),
    (
        400,
        "text/plain",
        b"An integration with this name already exists",
        errors.ApiError,
        "already exists",
    ),
    (
        412,
        MEDIA_TYPE,
        b'{"error": {"code": "PreconditionFailed", "message": "etag"}}',
        errors.PreconditionFailedError,
        "etag",
    ),
    (428, "", b"", errors.PreconditionFailedError, "requires If-Match"),
    (400, MEDIA_TYPE, b"{not json", errors.ApiError, "{not json"),
    (302, "", b"", errors.ApiError, "redirected to /login, not followed"),
]


@pytest.mark.parametrize(("status", "ctype", "body", "cls", "message"), ERROR_CASES)
def test_error_bodies_map_to_typed_errors(
    status: int, ctype: str, body: bytes, cls: type[errors.ApiError], message: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": ctype} if ctype else {}
        if status == 302:
            headers["location"] = "/login"
        return httpx.Response(status, content=body, headers=headers)

    async def go() -> None:
        async with make_client(handler, max_retries=0) as c:
            await c.get(42)

    with pytest.raises(cls) as info:
        run(go())
    err = info.value
    assert type(err) is cls
    assert err.status == status
    assert err.request == "GET /OData/Integrations(42)"
    assert message in err.message
    text = str(err)
    assert f"HTTP {status}" in text and "GET /OData/Integrations(42)" in text and "tenant acme" in text
    assert TOKEN not in text


def test_odata_error_code_and_target_are_kept() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return odata_json({"error": {"code": "TooLong", "message": "too long", "target": "Name"}}, 400)

    async def go() -> None:
        async with make_client(handler) as c:
            await c.update(1, {fields.name_property(): "x" * 200}, etag=None)

    with pytest.raises(errors.ApiError) as info:
        run(go())
    assert (info.value.code, info.value.target) == ("TooLong", "Name")
    assert info.value.request == "PATCH /OData/Integrations(1)"


# --- retries ---------------------------------------------------------------------------------------


def test_retry_after_forms() -> None:
    now = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
    assert _retry_after("7") == 7.0
    assert _retry_after(" 0 ") == 0.0
    assert _retry_after("1.5") == 1.5
    assert _retry_after(format_datetime(now + timedelta(seconds=20), usegmt=True), lambda: now) == 20.0
    assert _retry_after(format_datetime(now - timedelta(seconds=20), usegmt=True), lambda: now) == 0.0
    assert _retry_after("soon") is None
    assert _retry_after(None) is None


def sequence(*replies: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(replies)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(reply, Exception):
            raise reply
        return reply

    return handler, seen


def test_429_and_503_honour_retry_after_seconds_and_date_capped() -> None:
    far = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    handler, seen = sequence(
        httpx.Response(429, headers={"retry-after": "3"}),
        httpx.Response(503, headers={"retry-after": far}),
        httpx.Response(429, headers={"retry-after": "0"}),
        odata_json({"value": []}),
    )
    sleeps = Sleeps()

    async def go() -> None:
        async with make_client(handler, sleeps, max_backoff_s=10.0) as c:
            assert await c.list_integrations() == []
            assert c.stats.retries == 3
            assert c.stats.by_status == {429: 2, 503: 1, 200: 1}

    run(go())
    assert sleeps.delays == [3.0, 10.0, 0.0]
    assert len(seen) == 4


def test_backoff_without_retry_after_grows_with_jitter_and_is_capped() -> None:
    handler, _ = sequence(
        httpx.ReadTimeout("timed out"), *[httpx.Response(502)] * 7, odata_json({"value": []})
    )
    sleeps = Sleeps()

    async def go() -> None:
        async with make_client(handler, sleeps, max_retries=8, max_backoff_s=4.0) as c:
            await c.list_integrations()

    run(go())
    assert len(sleeps.delays) == 8
    for attempt, delay in enumerate(sleeps.delays):
        ceiling = min(4.0, 0.5 * 2**attempt)
        assert ceiling / 2 <= delay <= ceiling
    assert max(sleeps.delays) <= 4.0


def test_rate_limit_that_never_clears_raises_rate_limited() -> None:
    handler, seen = sequence(httpx.Response(429, headers={"retry-after": "1"}))

    async def go() -> None:
        async with make_client(handler, max_retries=2) as c:
            await c.get(1)

    with pytest.raises(errors.RateLimitedError, match="gave up after 3 attempts"):
        run(go())
    assert len(seen) == 3


def test_503_with_retry_after_is_rate_limited_504_is_plain() -> None:
    async def go(response: httpx.Response) -> None:
        handler, _ = sequence(response)
        async with make_client(handler, max_retries=1) as c:
            await c.get(1)

    with pytest.raises(errors.RateLimitedError):
        run(go(httpx.Response(503, headers={"retry-after": "1"})))
    with pytest.raises(errors.ApiError) as info:
        run(go(httpx.Response(504)))
    assert type(info.value) is errors.ApiError and info.value.status == 504


def test_500_is_not_retried() -> None:
    handler, seen = sequence(httpx.Response(500))

    async def go() -> None:
        async with make_client(handler) as c:
            await c.get(1)

    with pytest.raises(errors.ApiError):
        run(go())
    assert len(seen) == 1


def test_dropped_connections_retried_then_transport_error_with_cause() -> None:
    handler, seen = sequence(httpx.RemoteProtocolError("server disconnected"))

    async def go() -> None:
        async with make_client(handler, max_retries=3) as c:
            await c.list_integrations()

    with pytest.raises(errors.TransportError, match="no reply after 4 attempts") as info:
        run(go())
    assert isinstance(info.value.__cause__, httpx.RemoteProtocolError)
    assert info.value.request == "GET /OData/Integrations?$count=true"
    assert len(seen) == 4


def test_a_refused_connection_is_not_retried() -> None:
    handler, seen = sequence(httpx.ConnectError("connection refused"))

    async def go() -> None:
        async with make_client(handler, max_retries=3) as c:
            await c.list_integrations()

    with pytest.raises(errors.TransportError, match="not retried") as info:
        run(go())
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert len(seen) == 1


# --- creates never duplicate -----------------------------------------------------------------------


class LosingStore(Store):
    """Commits the first ``lose`` POSTs, then loses the reply in the way given."""

    def __init__(self, lose: int, how: Callable[[], httpx.Response]) -> None:
        super().__init__()
        self.lose = lose
        self.how = how

    def handle(self, request: httpx.Request) -> httpx.Response:
        response = super().handle(request)
        if request.method == "POST" and self.lose > 0:
            self.lose -= 1
            return self.how()
        return response


def _drop() -> httpx.Response:
    raise httpx.ReadError("connection dropped")


def _timeout() -> httpx.Response:
    raise httpx.ReadTimeout("timed out")


@pytest.mark.parametrize(
    "how",
    [
        _drop,
        _timeout,
        lambda: httpx.Response(503, headers={"retry-after": "0"}),
        lambda: httpx.Response(502),
        lambda: httpx.Response(500),
    ],
)
def test_create_whose_reply_is_lost_is_found_not_resent(how: Callable[[], httpx.Response]) -> None:
    store = LosingStore(1, how)

    async def go() -> LiveIntegration:
        async with make_client(store.handle) as c:
            live = await c.create({fields.name_property(): "Xero Export"})
            assert c.stats.by_method["POST"] == 1
            assert c.stats.recovered_creates == 1
            return live

    live = run(go())
    assert store.names() == ["Xero Export"]
    assert live.key == 1 and live.name == "Xero Export"


def test_create_lost_on_every_attempt_still_never_duplicates() -> None:
    store = LosingStore(100, _drop)

    async def go() -> LiveIntegration:
        async with make_client(store.handle, max_retries=3) as c:
            return await c.create({fields.name_property(): "Only Once"})

    assert run(go()).name == "Only Once"
    assert store.names() == ["Only Once"]
    assert sum(r.method == "POST" for r in store.seen) == 1


def test_create_not_committed_is_resent_after_checking() -> None:
    """A 503 before the commit: the name is read, not found, and the POST is sent again."""
    handler_store = Store()
    replies = [httpx.Response(503, headers={"retry-after": "0"})]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and replies:
            handler_store.seen.append(request)
            return replies.pop()
        return handler_store.handle(request)

    async def go() -> None:
        async with make_client(handler) as c:
            assert (await c.create({fields.name_property(): "New"})).name == "New"
            assert c.stats.by_method == {"POST": 2, "GET": 1}
            assert c.stats.recovered_creates == 0

    run(go())
    assert handler_store.names() == ["New"]


def test_create_that_never_connected_is_resent_without_reading() -> None:
    store = Store()
    failures = [httpx.ConnectTimeout("no connection in time")]

    def handler(request: httpx.Request) -> httpx.Response:
        if failures:
            raise failures.pop()
        return store.handle(request)

    async def go() -> None:
        async with make_client(handler) as c:
            await c.create({fields.name_property(): "New"})
            assert c.stats.by_method == {"POST": 2}

    run(go())
    assert store.names() == ["New"]


def test_create_conflict_and_case_variant_lost_reply() -> None:
    """A lost reply is recovered by the exact name only: a case variant is someone else's, so the POST
    is re-sent and the tenant's 409 comes back as ConflictError."""
    store = LosingStore(0, _drop)
    store.add("Xero EXPORT")
    failures = [httpx.ReadError("dropped before the server read it")]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and failures:
            raise failures.pop()
        return store.handle(request)

    async def go() -> None:
        async with make_client(handler) as c:
            await c.create({fields.name_property(): "Xero Export"})

    with pytest.raises(errors.ConflictError):
        run(go())
    assert store.names() == ["Xero EXPORT"]


@pytest.mark.parametrize(
    ("status", "header", "link"),
    [
        (204, "odata-entityid", "Integrations(9)"),
        (204, "location", "https://acme.example.com/OData/Integrations(9)"),
        (201, "location", "/OData/Integrations(9)"),
    ],
)
def test_create_without_entity_reads_the_relative_entity_id(status: int, header: str, link: str) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            return httpx.Response(status, headers={header: link})
        return odata_json(entity(9, "A"))

    async def go() -> LiveIntegration:
        async with make_client(handler) as c:
            return await c.create({fields.name_property(): "A"})

    assert run(go()).key == 9
    assert [(r.method, r.url.path) for r in seen] == [
        ("POST", "/OData/Integrations"),
        ("GET", "/OData/Integrations(9)"),
    ]


def test_create_204_pointing_to_another_origin_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(204, headers={"location": "https://evil.example.net/OData/Integrations(9)"})

    async def go() -> None:
        async with make_client(handler) as c:
            await c.create({fields.name_property(): "A"})

    with pytest.raises(errors.ApiError, match="another origin"):
        run(go())


# --- updates and deletes ---------------------------------------------------------------------------


def test_update_sends_if_match_and_only_changes() -> None:
    store = Store()
    item = store.add("A", Notes="old")

    async def go() -> None:
        async with make_client(store.handle) as c:
            assert await c.update(1, {"Notes": "new"}, etag=item[fields.ODATA_ETAG]) is None
            with pytest.raises(errors.PreconditionFailedError):
                await c.update(1, {"Notes": "newer"}, etag='W/"1-1"')
            with pytest.raises(errors.NotFoundError):
                await c.update(2, {"Notes": "x"}, etag=None)

    run(go())
    patch = store.seen[0]
    assert patch.headers["if-match"] == 'W/"1-1"'
    assert json.loads(patch.content) == {"Notes": "new"}
    assert "if-match" not in store.seen[-1].headers
    assert store.items[1]["Notes"] == "new"


def test_update_200_returns_the_entity() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["prefer"] == "return=representation"
        return odata_json(entity(1, "B"))

    async def go() -> LiveIntegration | None:
        async with make_client(handler) as c:
            return await c.update(1, {fields.name_property(): "B"}, etag='W/"1-0"')

    live = run(go())
    assert live is not None and live.name == "B" and live.etag == 'W/"1-1"'


def test_update_whose_reply_was_lost_is_not_reported_stale() -> None:
    """The PATCH committed, the reply was lost; the re-send's 412 is checked by reading the item."""
    store = Store()
    item = store.add("A", Notes="old")
    lost = [True]

    def handler(request: httpx.Request) -> httpx.Response:
        response = store.handle(request)
        if request.method == "PATCH" and lost:
            lost.pop()
            raise httpx.RemoteProtocolError("server disconnected")
        return response

    async def go() -> LiveIntegration | None:
        async with make_client(handler) as c:
            return await c.update(1, {"Notes": "new"}, etag=item[fields.ODATA_ETAG])

    live = run(go())
    assert live is not None and live.values["Notes"] == "new"


def test_update_stale_after_lost_reply_when_values_differ() -> None:
    store = Store()
    item = store.add("A", Notes="old")
    lost = [True]

    def handler(request: httpx.Request) -> httpx.Response:
        response = store.handle(request)
        if request.method == "PATCH" and lost:
            lost.pop()
            store.items[1]["Notes"] = "someone else"  # a person edits between our attempts
            raise httpx.ReadError("dropped")
        return response

    async def go() -> None:
        async with make_client(handler) as c:
            await c.update(1, {"Notes": "new"}, etag=item[fields.ODATA_ETAG])

    with pytest.raises(errors.PreconditionFailedError, match="changed since its etag was read"):
        run(go())


def test_delete_whose_reply_was_lost_then_404_is_done() -> None:
    store = Store()
    item = store.add("A")
    lost = [True]

    def handler(request: httpx.Request) -> httpx.Response:
        response = store.handle(request)
        if request.method == "DELETE" and lost:
            lost.pop()
            raise httpx.ReadError("dropped")
        return response

    async def go() -> None:
        async with make_client(handler) as c:
            await c.delete(1, etag=item[fields.ODATA_ETAG])
            with pytest.raises(errors.NotFoundError):
                await c.delete(1, etag=None)

    run(go())
    assert store.items == {}
    assert store.seen[0].headers["if-match"] == item[fields.ODATA_ETAG]


# --- secrets ---------------------------------------------------------------------------------------


def test_token_never_in_repr_errors_or_logs_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="integration_sync")  # setup_logging elsewhere may have raised it
    handler, _ = sequence(
        httpx.Response(503, headers={"retry-after": "0"}),
        httpx.Response(401, content=f"bad token {TOKEN}".encode(), headers={"content-type": "text/plain"}),
    )
    client = make_client(handler)
    texts = [repr(client), str(client)]

    async def go() -> None:
        async with client:
            await client.list_integrations()

    with pytest.raises(errors.AuthError) as info:
        run(go())
    texts += [str(info.value), repr(info.value), info.value.message]
    lines = [r.getMessage() for r in caplog.records]
    texts += lines
    assert any("GET /OData/Integrations?$count=true -> 401" in line for line in lines)
    assert all(TOKEN not in t for t in texts), texts
    assert any("***" in t for t in texts)  # the server echoed it; it came out redacted


def test_cookies_in_the_response_headers_logged_at_vv_are_redacted() -> None:
    # httpcore logs every response header at DEBUG (-vv); a tenant that is also a web app may set a
    # session cookie, which then reached stderr (and CI logs) as it was.
    line = (
        "receive_response_headers.complete return_value=(b'HTTP/1.1', 200, b'OK', [(b'content-type', "
        "b'application/json'), (b'Set-Cookie', b'.AspNetCore.Session=CfDJ8secret; path=/; httponly')])"
    )
    out = logs.redact(line)
    assert "CfDJ8secret" not in out and "(b'Set-Cookie', b'***')" in out
    assert "(b'content-type', b'application/json')" in out


def test_unusable_next_link_and_undecodable_reply_are_api_errors() -> None:
    pages: dict[str, dict[str, Any]] = {
        "/OData/Integrations": {
            "value": [],
            "@odata.nextLink": "https://acme.example.com:abc/OData/Integrations?p=2",
        }
    }

    async def go(handler: Handler) -> None:
        async with make_client(handler) as c:
            await c.list_integrations()

    with pytest.raises(errors.ApiError, match="not a usable URL") as info:
        run(go(paged_handler(pages, [])))
    assert isinstance(info.value.__cause__, httpx.InvalidURL)

    def gzip_lie(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"not gzip", headers={"content-encoding": "gzip"})

    with pytest.raises(errors.ApiError, match="unreadable reply") as info:
        run(go(gzip_lie))
    assert isinstance(info.value.__cause__, httpx.DecodingError)


def test_a_request_that_cannot_be_sent_fails_at_once_without_retries() -> None:
    calls: list[httpx.Request] = []
    sleeps = Sleeps()

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.LocalProtocolError("Illegal header value")

    async def go() -> None:
        async with make_client(handler, sleeps) as client:
            await client.list_integrations()

    with pytest.raises(errors.ApiError, match=r"the request cannot be sent \(LocalProtocolError") as info:
        run(go())
    assert not isinstance(info.value, errors.TransportError)
    assert len(calls) == 1
    assert sleeps.delays == []


@pytest.mark.parametrize(
    ("count", "checked"),
    [
        (2, True),
        ("2", True),
        ("3", False),
        ("-2", None),
        ("2.0", None),
        ("\u0662", None),
        (True, None),
        (-2, None),
    ],
)
def test_a_listing_count_is_an_integer_or_its_digits_as_a_string(count: Any, checked: bool | None) -> None:
    """A count as OData's IEEE754Compatible format writes it (``"2"``) is a count: it confirms the
    listing, or (``"3"`` for two rows, every time) leaves it unconfirmed after reading it again;
    anything else fails the tenant in one line."""
    rows = [{"Id": 1, "Name": "A"}, {"Id": 2, "Name": "B"}]
    gets: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        gets.append(str(request.url))
        return httpx.Response(200, json={"@odata.count": count, "value": rows})

    async def go() -> tuple[list[Any], bool]:
        async with make_client(handler) as c:
            live = await c.list_integrations()
            return live, c.listing_checked

    if checked is None:
        with pytest.raises(errors.ApiError, match="the listing's count is not a count"):
            run(go())
        return
    live, listing_checked = run(go())
    assert [i.key for i in live] == [1, 2] and listing_checked is checked
    assert len(gets) == (1 if checked else 3)  # read again while the count disagrees, then used


def test_a_count_that_disagrees_another_way_each_time_fails_the_listing() -> None:
    """A count that moves between readings (or keys that do) is a listing that moves: it fails."""
    counts = iter([3, 4, 5])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"@odata.count": next(counts), "value": [{"Id": 1, "Name": "A"}]})

    async def go() -> None:
        async with make_client(handler) as c:
            await c.list_integrations()

    with pytest.raises(errors.ApiError, match="the listing changed while it was read, 3 times in a row"):
        run(go())


@pytest.mark.parametrize(
    "base", ["https://fk.example/OData", "https://fk.example/a%20b/OData/", "http://127.0.0.1:8080/t/"]
)
@pytest.mark.parametrize(
    "key", [7, -1, "plain", "it's", "a/b", "../up", "q?x=1", "h#f", "sp ace", "é€𝄞", "%41", uuid.UUID(int=5)]
)
def test_entity_and_collection_urls_are_what_joining_them_to_the_base_gives(base: str, key: Any) -> None:
    """The client builds its URLs by putting the text together (quicker than ``URL.join``): the same
    URL for every kind of key, a query included, and never a path out of the base."""
    client = TenantClient("t", base)
    assert client.entity_url(key) == client.base_url.join("Integrations" + quote(format_key(key), safe="()'"))
    assert client.collection_url == client.base_url.join("Integrations")
    listing = client._collection_with({"$filter": "tolower(Name) eq 'a b'", "$count": "true"})
    assert listing == client.base_url.join(
        "Integrations" + query_string({"$filter": "tolower(Name) eq 'a b'", "$count": "true"})
    )
    assert str(client.entity_url(key)).startswith(str(client.base_url))
