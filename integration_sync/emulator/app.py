"""The emulator's Starlette application: each tenant's OData endpoint (``docs/odata.md``, with the tenant's
variation switches and faults), and ``build_app`` joining it with the admin surface.

The state (``Emulator``: storage, tenants, faults, request logs) lives in ``state.py``;
``build_app(emulator)`` is the ASGI app that uvicorn serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
import time
from email.utils import formatdate
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from integration_sync import fields
from integration_sync.emulator import admin, checks, metadata, model, query, replies
from integration_sync.emulator.faults import WRITE_METHODS
from integration_sync.emulator.state import Emulator, Tenant
from integration_sync.emulator.store import Entity
from integration_sync.emulator.variations import QUERY_OPTIONS, Variations

log = logging.getLogger(__name__)

#: The scope key under which the server puts the connection's transport (to drop it on a fault).
TRANSPORT_KEY = "integration_sync.emulator.transport"
ENTITY_SET = metadata.ENTITY_SET
_ENTITY_PATH = re.compile(rf"^{ENTITY_SET}\((?:{model.KEY}=)?([^)]*)\)$")
_NOTES = fields.odata_name("notes")
_LOGGED_HEADERS = ("if-match", "prefer", "content-type", "accept", "odata-version", "odata-maxversion")


# --- the tenant endpoint -------------------------------------------------------------------------


class TenantEndpoint:
    """ASGI endpoint for ``/{tenant}/OData/{rest}``: faults, auth, then the OData operation."""

    def __init__(self, emulator: Emulator) -> None:
        self.emu = emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request = Request(scope, receive)
        name = scope["path_params"]["tenant"]
        method = request.method
        raw_query = scope.get("query_string", b"").decode("latin-1")
        entry: dict[str, Any] = {
            "method": method,
            "path": request.url.path,
            "query": raw_query,
            "status": None,
            "fault": None,
            "auth": "authorization" in request.headers,
            "headers": {h: request.headers[h] for h in _LOGGED_HEADERS if h in request.headers},
        }
        with self.emu.lock:
            tenant = self.emu.tenants.get(name)
        if tenant is None:
            response = replies.error(
                Variations(), 404, "TenantNotFound", f"No tenant named '{name}'."
            ).response
            await response(scope, receive, send)
            log.info("%s %s -> 404 (no such tenant)", method, request.url.path)
            return
        body = await request.body()
        if method in WRITE_METHODS and body:
            try:
                entry["body"] = json.loads(body)
            except ValueError:
                entry["body"] = body.decode("utf-8", "replace")
        faults = self.emu.faults_for(name)
        fault = None
        if faults is not None:
            if faults.latency_ms and (not faults.methods or method in faults.methods):
                await asyncio.sleep(faults.latency_ms / 1000)
            fault = faults.draw(method)
        v = tenant.variations
        if fault == "drop":
            entry["fault"] = "drop"
            self.emu.record(name, entry)
            log.info("%s %s %s -> connection dropped (fault)", name, method, request.url.path)
            await _drop(scope, receive)
            return
        if fault in ("429", "503", "500"):
            assert faults is not None
            status = int(fault)
            hdrs = {}
            if status != 500:
                hdrs["Retry-After"] = (
                    formatdate(time.time() + faults.retry_after, usegmt=True)
                    if faults.retry_after_http_date
                    else str(faults.retry_after)
                )
            reason = HTTPStatus(status).phrase
            response = replies.error(
                v, status, reason.replace(" ", ""), f"{reason} (emulated fault).", headers=hdrs
            ).response
            entry["fault"] = fault
        else:
            try:
                response = self.handle(tenant, request, body, raw_query)
            except replies.Reply as reply:
                response = reply.response
            if fault == "commit_drop" and 200 <= response.status_code < 300:
                entry["fault"] = "commit_drop"
                entry["status"] = response.status_code
                self.emu.record(name, entry)
                log.info("%s %s %s -> committed, reply dropped (fault)", name, method, request.url.path)
                await _drop(scope, receive)
                return
        entry["status"] = response.status_code
        self.emu.record(name, entry)
        elapsed = (time.perf_counter() - started) * 1000
        shown = request.url.path + (f"?{unquote(raw_query)}" if raw_query else "")
        log.info("%s %s %s -> %d (%.0f ms)", name, method, shown, response.status_code, elapsed)
        await response(scope, receive, send)

    # --- dispatch ---

    def handle(self, tenant: Tenant, request: Request, body: bytes, raw_query: str) -> Response:
        v = tenant.variations
        # ASP.NET Core's routing ignores one trailing slash: Integrations/ is Integrations.
        rest = request.path_params.get("rest", "").removesuffix("/")
        method = request.method
        if tenant.secured:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            bearer = scheme.lower() == "bearer"
            full = bearer and _same_secret(given.strip(), tenant.token)
            readonly = bearer and _same_secret(given.strip(), tenant.readonly_token)
            if not (full or readonly):
                raise replies.error(
                    v,
                    401,
                    "Unauthorized",
                    "Authorization has been denied for this request.",
                    headers={"WWW-Authenticate": 'Bearer realm="FinanceKey"'},
                )
            if not full and method in WRITE_METHODS:
                raise replies.error(
                    v, 403, "Forbidden", "This token may read integrations but not change them."
                )
        if rest == "":
            self._allow(v, method, ("GET",))
            return self.service_document(tenant, request)
        if rest == "$metadata":
            self._allow(v, method, ("GET",))
            xml = metadata.csdl(
                extra_properties=v.extra_properties,
                etags=not v.etags_off,
                renamed=dict(v.renamed_properties),
                max_lengths=dict(v.max_lengths),
            )
            return Response(
                xml, 200, media_type="application/xml; charset=utf-8", headers=replies.odata_headers(v)
            )
        if rest == ENTITY_SET:
            self._allow(v, method, ("GET", "POST"))
            if method == "GET":
                return self.collection(tenant, request, raw_query)
            return self.create(tenant, request, body)
        m = _ENTITY_PATH.match(rest)
        if m:
            self._allow(v, method, ("GET", "PATCH", "DELETE"))
            key = _parse_key(v, m.group(1))
            if method == "GET":
                return self.read(tenant, request, key, raw_query)
            if method == "PATCH":
                return self.update(tenant, request, key, body)
            return self.delete(tenant, request, key)
        raise replies.error(v, 404, "NotFound", f"No resource at '{request.url.path}'.")

    @staticmethod
    def _allow(v: Variations, method: str, allowed: tuple[str, ...]) -> None:
        if method not in allowed:
            raise replies.error(
                v,
                405,
                "MethodNotAllowed",
                f"The method '{method}' is not allowed here.",
                headers={"Allow": ", ".join(allowed)},
            )

    def _base(self, tenant: Tenant, request: Request) -> str:
        return f"{str(request.base_url).rstrip('/')}/{tenant.name}/OData/"

    def _context(self, tenant: Tenant, request: Request, fragment: str) -> str:
        if tenant.variations.relative_context:
            return f"$metadata#{fragment}"
        return f"{self._base(tenant, request)}$metadata#{fragment}"

    def _render(self, v: Variations, entity: Entity, select: list[str] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if not v.etags_off:
            out[replies.annotation(v, "etag")] = replies.etag_of(entity)
        extra = model.AUDIT_PROPS if v.extra_properties else ()
        values = query.selected(entity, select, extra)
        out.update((v.served(k), x) for k, x in values.items() if not (v.omit_nulls and x is None))
        return out

    def _entity_reply(
        self, tenant: Tenant, request: Request, entity: Entity, status: int, headers: dict[str, str]
    ) -> Response:
        v = tenant.variations
        body = {replies.annotation(v, "context"): self._context(tenant, request, f"{ENTITY_SET}/$entity")}
        body.update(self._render(v, entity))
        if not v.etags_off:
            headers = {**headers, "ETag": replies.etag_of(entity)}
        return replies.json_reply(v, status, body, headers)

    # --- operations ---

    def service_document(self, tenant: Tenant, request: Request) -> Response:
        v = tenant.variations
        body = {
            replies.annotation(v, "context"): self._context(tenant, request, "").rstrip("#"),
            "value": [{"name": ENTITY_SET, "kind": "EntitySet", "url": ENTITY_SET}],
        }
        return replies.json_reply(v, 200, body)

    def collection(self, tenant: Tenant, request: Request, raw_query: str) -> Response:
        v = tenant.variations
        pairs = query.parse_query(raw_query, v.plus_literal)
        options: dict[str, str] = {}
        for key, value in pairs:
            if not key.startswith("$"):
                continue
            if key not in (*QUERY_OPTIONS, "$skiptoken"):
                raise replies.error(
                    v, 400, "InvalidQuery", f"The query parameter '{key}' is not supported.", key
                )
            if key in v.query_options_disabled:
                option = key[1:].capitalize()
                raise replies.error(
                    v,
                    400,
                    "QueryOptionNotAllowed",
                    f"Query option '{option}' is not allowed. To allow it, set the 'AllowedQueryOptions' "
                    "property on EnableQueryAttribute or QueryValidationSettings.",
                    key,
                )
            if key in options:
                raise replies.error(
                    v, 400, "InvalidQuery", f"The query option '{key}' was specified more than once.", key
                )
            options[key] = value
        try:
            return self._list(tenant, request, raw_query, pairs, options)
        except query.QueryError as exc:
            raise replies.error(v, 400, "InvalidQuery", exc.message, exc.target) from None

    def _list(
        self,
        tenant: Tenant,
        request: Request,
        raw_query: str,
        pairs: list[tuple[str, str]],
        options: dict[str, str],
    ) -> Response:
        v = tenant.variations
        where, params = ("", ())
        if "$filter" in options:
            where, params = query.compile_filter(
                options["$filter"], fold=not v.case_sensitive_names, names=v.names_in()
            )
        order = ""
        if "$orderby" in options:
            order = query.compile_orderby(
                options["$orderby"], fold=not v.case_sensitive_names, names=v.names_in()
            )
        select = query.parse_select(options["$select"], v.names_in()) if "$select" in options else None
        top = query.parse_nonnegative("$top", options["$top"]) if "$top" in options else None
        skip = query.parse_nonnegative("$skip", options["$skip"]) if "$skip" in options else 0
        count = options.get("$count", "false")
        if count not in ("true", "false"):
            raise query.QueryError(f"Invalid value '{count}' for $count query option found.", "$count")
        digest = query.query_digest((k, val) for k, val in pairs if k != "$skiptoken")
        prefer = replies.prefer(request)
        headers: dict[str, str] = {}
        size = v.page_size
        asked = prefer.get("odata.maxpagesize")
        if asked is not None and not v.ignore_maxpagesize and asked.isdigit() and int(asked) > 0:
            size = min(int(asked), v.max_page_size)
            headers["Preference-Applied"] = f"odata.maxpagesize={size}"
        offset = 0
        if "$skiptoken" in options:
            offset, size, token_digest = query.decode_skiptoken(options["$skiptoken"])
            if "Preference-Applied" in headers:  # the page size travels in the token
                headers["Preference-Applied"] = f"odata.maxpagesize={size}"
            if not hmac.compare_digest(token_digest, digest):
                raise query.QueryError(
                    "The $skiptoken does not belong to this query: a nextLink is opaque, follow it as given.",
                    "$skiptoken",
                )
        start = skip + offset
        limit = size
        if top is not None:
            limit = max(0, min(size, skip + top - start))
        rows = self.emu.store.select(tenant.name, where, params, order, limit + 1, start) if limit else []
        more = len(rows) > limit
        rows = rows[:limit]
        body: dict[str, Any] = {}
        fragment = ENTITY_SET + (f"({','.join(map(v.served, select))})" if select else "")
        body[replies.annotation(v, "context")] = self._context(tenant, request, fragment)
        if count == "true":
            counted = self.emu.store.count(tenant.name, where, params)
            body[replies.annotation(v, "count")] = str(counted) if v.ieee754_compatible else counted
        body["value"] = [self._render(v, e, select) for e in rows]
        step = limit
        if more and v.page_hook != "off" and not where and limit > 1:
            step = self._page_hook(tenant, rows, first="$skiptoken" not in options)
        if more and (top is None or start + limit < skip + top):
            token = query.encode_skiptoken(offset + step, size, digest)
            kept = [p for p in raw_query.split("&") if p and unquote(p.partition("=")[0]) != "$skiptoken"]
            q = "&".join([*kept, f"$skiptoken={token}"])
            link = (
                f"{ENTITY_SET}?{q}"
                if v.relative_next_link
                else f"{self._base(tenant, request)}{ENTITY_SET}?{q}"
            )
            body[replies.annotation(v, "nextLink")] = link
        return replies.json_reply(v, 200, body, headers)

    def _page_hook(self, tenant: Tenant, rows: list[Entity], *, first: bool) -> int:
        """The ``page_hook`` switch, between a page just read (``rows``) and the next one: how far the
        next page starts from this one's start. ``delete`` (once) deletes this page's first row, so that
        the next page skips a row; ``edit`` (once) edits this page's last row and serves it again on the
        next page; ``repeat`` serves each page's last row again on the next (an unstable order)."""
        hook = tenant.variations.page_hook
        if hook == "repeat":
            return len(rows) - 1
        if not first or not self.emu.fire_once(tenant.name):
            return len(rows)
        if hook == "delete":
            self.emu.store.delete(tenant.name, rows[0][model.KEY])
            return len(rows)
        last = rows[-1]
        self.emu.store.update(
            tenant.name, last[model.KEY], {_NOTES: f"edited between pages ({last[_NOTES]})"}
        )
        return len(rows) - 1

    def read(self, tenant: Tenant, request: Request, key: int, raw_query: str) -> Response:
        v = tenant.variations
        entity = self._get(tenant, key)
        options = dict(query.parse_query(raw_query, v.plus_literal))
        for option in options:
            if not option.startswith("$"):
                continue
            if option not in QUERY_OPTIONS:
                raise replies.error(
                    v, 400, "InvalidQuery", f"The query parameter '{option}' is not supported.", option
                )
            if option != "$select":  # as EnableQuery answers for a SingleResult
                raise replies.error(
                    v,
                    400,
                    "InvalidQuery",
                    "The query specified in the URI is not valid. The requested resource is not a "
                    "collection. Query options $filter, $orderby, $count, $skip, and $top can be "
                    "applied only on collections.",
                    option,
                )
        if "$select" in options:
            if "$select" in v.query_options_disabled:
                raise replies.error(
                    v, 400, "QueryOptionNotAllowed", "Query option 'Select' is not allowed.", "$select"
                )
            try:
                select = query.parse_select(options["$select"], v.names_in())
            except query.QueryError as exc:
                raise replies.error(v, 400, "InvalidQuery", exc.message, exc.target) from None
            fragment = ENTITY_SET + (f"({','.join(map(v.served, select))})" if select else "") + "/$entity"
            body = {replies.annotation(v, "context"): self._context(tenant, request, fragment)}
            body.update(self._render(v, entity, select))
            return replies.json_reply(v, 200, body, {} if v.etags_off else {"ETag": replies.etag_of(entity)})
        inm = request.headers.get("if-none-match")
        if inm and not v.etags_off and replies.etag_matches(inm, entity):
            return Response(b"", 304, headers=replies.odata_headers(v, {"ETag": replies.etag_of(entity)}))
        return self._entity_reply(tenant, request, entity, 200, {})

    def create(self, tenant: Tenant, request: Request, body: bytes) -> Response:
        v = tenant.variations
        values = checks.parse_body(v, request, body, creating=True)
        entity = {p.name: p.default() for p in model.props()}
        entity.update(values)
        with self.emu.store.transaction():
            checks.check_rules(v, entity)
            self._check_name(tenant, entity[model.name_prop()], None)
            created = self.emu.store.insert(tenant.name, entity)
        key = created[model.KEY]
        location = f"{ENTITY_SET}({key})"
        absolute = f"{self._base(tenant, request)}{location}"
        headers = {"Location": location if v.relative_location else absolute}
        prefer = replies.prefer(request)
        if v.post_no_content or prefer.get("return") == "minimal":
            headers["OData-EntityId"] = absolute
            if prefer.get("return") == "minimal":
                headers["Preference-Applied"] = "return=minimal"
            if not v.etags_off:
                headers["ETag"] = replies.etag_of(created)
            return Response(b"", 204, headers=replies.odata_headers(v, headers))
        return self._entity_reply(tenant, request, created, 201, headers)

    def update(self, tenant: Tenant, request: Request, key: int, body: bytes) -> Response:
        v = tenant.variations
        values = checks.parse_body(v, request, body, creating=False, key=key)
        with self.emu.store.transaction():
            current = self._current(tenant, request, key)
            checks.check_if_match(v, request, current)
            merged = {**current, **values}
            checks.check_rules(v, merged)
            name = model.name_prop()
            if name in values:
                self._check_name(tenant, values[name], key)
            updated = self.emu.store.update(tenant.name, key, values)
        if updated is None:  # deleted in between: cannot happen under the lock, but stay honest
            raise replies.error(v, 404, "NotFound", f"No integration with key {key}.")
        prefer = replies.prefer(request)
        if v.patch_returns_entity or prefer.get("return") == "representation":
            headers = {"Preference-Applied": "return=representation"} if prefer.get("return") else {}
            return self._entity_reply(tenant, request, updated, 200, headers)
        headers = {} if v.etags_off else {"ETag": replies.etag_of(updated)}
        return Response(b"", 204, headers=replies.odata_headers(v, headers))

    def delete(self, tenant: Tenant, request: Request, key: int) -> Response:
        v = tenant.variations
        with self.emu.store.transaction():
            current = self._current(tenant, request, key)
            checks.check_if_match(v, request, current)
            self.emu.store.delete(tenant.name, key)
        return Response(b"", 204, headers=replies.odata_headers(v))

    # --- checks ---

    def _get(self, tenant: Tenant, key: int) -> Entity:
        entity = self.emu.store.get(tenant.name, key)
        if entity is None:
            raise replies.error(
                tenant.variations, 404, "NotFound", f"No integration with key {key}.", model.KEY
            )
        return entity

    def _current(self, tenant: Tenant, request: Request, key: int) -> Entity:
        """The entity a write targets. With ``gone_412``, a conditional write to a key that is gone
        answers 412, as HTTP says (If-Match fails when there is no current representation)."""
        v = tenant.variations
        gone = self.emu.store.get(tenant.name, key) is None
        if gone and v.gone_412 and not v.etags_off and request.headers.get("if-match"):
            raise replies.error(
                v, 412, "PreconditionFailed", "If-Match does not match: there is no current entity."
            )
        return self._get(tenant, key)

    def _check_name(self, tenant: Tenant, name: str, key: int | None) -> None:
        v = tenant.variations
        other = self.emu.store.find_name(
            tenant.name, name, case_sensitive=v.case_sensitive_names, exclude=key
        )
        if other is not None:
            raise checks.duplicate(v, name, other)


def _parse_key(v: Variations, text: str) -> int:
    text = unquote(text).strip()
    if not re.fullmatch(r"-?\d+", text) or not model.INT32_MIN <= int(text) <= model.INT32_MAX:
        raise replies.error(
            v, 400, "InvalidKey", f"The key value '{text}' is not a valid Edm.Int32.", model.KEY
        )
    return int(text)


def _same_secret(given: str, secret: str | None) -> bool:
    return secret is not None and hmac.compare_digest(given.encode("utf-8"), secret.encode("utf-8"))


async def _drop(scope: Scope, receive: Receive) -> None:
    """Close the connection without a reply (RST), as a crashed or partitioned server would."""
    transport = scope.get(TRANSPORT_KEY)
    if transport is None:
        raise ConnectionResetError("emulated fault: connection dropped")
    transport.abort()
    # Let the server see the disconnection, so that it does not try to answer 500 on a closed socket.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(receive(), timeout=1.0)


def build_app(emulator: Emulator) -> Starlette:
    """The ASGI app: the admin surface under ``/_emulator/`` and every tenant under ``/{tenant}/OData/``."""
    endpoint = TenantEndpoint(emulator)
    routes = [
        *admin.routes(emulator),
        Route("/{tenant}/OData/{rest:path}", endpoint),
        Route("/{tenant}/OData", endpoint),
    ]
    return Starlette(routes=routes)
