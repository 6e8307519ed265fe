"""The emulator's Starlette application: each tenant's OData endpoint (``docs/odata.md``, with the tenant's
variation switches and faults), and ``build_app`` joining it with the admin surface.

The state (``Emulator``: storage, tenants, faults, request logs) lives in ``state.py``;
``build_app(emulator)`` is the ASGI app that uvicorn serves.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Iterable, Mapping
from email.utils import formatdate
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from integration_sync import fields
from integration_sync.emulator import admin, metadata, model, query
from integration_sync.emulator.faults import WRITE_METHODS
from integration_sync.emulator.state import Emulator, Tenant
from integration_sync.emulator.store import Entity
from integration_sync.emulator.variations import QUERY_OPTIONS, Variations

log = logging.getLogger(__name__)

#: As ASP.NET Core OData sends it, charset included (a client that compares media types must cope).
ODATA_JSON = "application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8"
#: The scope key under which the server puts the connection's transport (to drop it on a fault).
TRANSPORT_KEY = "integration_sync.emulator.transport"
ENTITY_SET = metadata.ENTITY_SET
_ENTITY_PATH = re.compile(rf"^{ENTITY_SET}\((?:{model.KEY}=)?([^)]*)\)$")
_NOTES = fields.odata_name("notes")
_LOGGED_HEADERS = ("if-match", "prefer", "content-type", "accept", "odata-version", "odata-maxversion")


class _Reply(Exception):
    """Raised inside a handler to answer at once (errors)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


# --- encoding helpers ----------------------------------------------------------------------------


def etag_of(entity: Entity) -> str:
    raw = int(entity["_version"]).to_bytes(8, "big")
    return 'W/"' + base64.b64encode(raw).decode("ascii") + '"'


def _ann(v: Variations, name: str) -> str:
    return f"@{name}" if v.odata_401 else f"@odata.{name}"


def _headers(v: Variations, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    out = {"OData-Version": "4.01" if v.odata_401 else "4.0"}
    if extra:
        out.update(extra)
    return out


def _json(v: Variations, status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(content, status_code=status, media_type=ODATA_JSON, headers=_headers(v, headers))


def error(
    v: Variations,
    status: int,
    code: str,
    message: str,
    target: str | None = None,
    details: Iterable[dict[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
) -> _Reply:
    """An error reply in the tenant's error-body style (``error_body`` switch)."""
    hdrs = _headers(v, headers)
    style = v.error_body
    reason = HTTPStatus(status).phrase
    if style == "odata" or style == "no_code":
        err: dict[str, Any] = {"code": code, "message": message, "target": target, "details": list(details)}
        if style == "no_code":
            err = {"message": message}
        return _Reply(_json(v, status, {"error": err}, headers))
    if style == "problem":
        body = {"type": "about:blank", "title": reason, "status": status, "detail": message}
        content = json.dumps(body).encode("utf-8")
        return _Reply(Response(content, status, media_type="application/problem+json", headers=hdrs))
    if style == "html":
        html = f"<!DOCTYPE html><html><head><title>{status} {reason}</title></head><body><h1>{reason}</h1></body></html>"
        return _Reply(Response(html, status, media_type="text/html; charset=utf-8", headers=hdrs))
    if style == "text":
        return _Reply(Response(message, status, media_type="text/plain; charset=utf-8", headers=hdrs))
    return _Reply(Response(b"", status, headers=hdrs))


def _parse_query(raw: str, plus_literal: bool) -> list[tuple[str, str]]:
    if plus_literal:
        raw = raw.replace("+", "%2B")
    return parse_qsl(raw, keep_blank_values=True)


def _digest(pairs: Iterable[tuple[str, str]]) -> str:
    text = json.dumps(sorted(pairs))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _encode_token(offset: int, size: int, digest: str) -> str:
    raw = json.dumps({"o": offset, "p": size, "h": digest}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_token(token: str) -> tuple[int, int, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return int(data["o"]), int(data["p"]), str(data["h"])
    except (ValueError, KeyError, TypeError) as exc:
        raise query.QueryError("The $skiptoken is not valid.", "$skiptoken") from exc


def _prefer(request: Request) -> dict[str, str]:
    out: dict[str, str] = {}
    for header in request.headers.getlist("prefer"):
        for part in header.split(","):
            key, _, value = part.strip().partition("=")
            if key:
                out[key.strip().lower()] = value.strip().strip('"')
    return out


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
            response = error(Variations(), 404, "TenantNotFound", f"No tenant named '{name}'.").response
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
            response = error(
                v, status, reason.replace(" ", ""), f"{reason} (emulated fault).", headers=hdrs
            ).response
            entry["fault"] = fault
        else:
            try:
                response = self.handle(tenant, request, body, raw_query)
            except _Reply as reply:
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
                raise error(
                    v,
                    401,
                    "Unauthorized",
                    "Authorization has been denied for this request.",
                    headers={"WWW-Authenticate": 'Bearer realm="FinanceKey"'},
                )
            if not full and method in WRITE_METHODS:
                raise error(v, 403, "Forbidden", "This token may read integrations but not change them.")
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
            return Response(xml, 200, media_type="application/xml; charset=utf-8", headers=_headers(v))
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
        raise error(v, 404, "NotFound", f"No resource at '{request.url.path}'.")

    @staticmethod
    def _allow(v: Variations, method: str, allowed: tuple[str, ...]) -> None:
        if method not in allowed:
            raise error(
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
            out[_ann(v, "etag")] = etag_of(entity)
        extra = model.AUDIT_PROPS if v.extra_properties else ()
        values = query.selected(entity, select, extra)
        out.update((v.served(k), x) for k, x in values.items() if not (v.omit_nulls and x is None))
        return out

    def _entity_reply(
        self, tenant: Tenant, request: Request, entity: Entity, status: int, headers: dict[str, str]
    ) -> Response:
        v = tenant.variations
        body = {_ann(v, "context"): self._context(tenant, request, f"{ENTITY_SET}/$entity")}
        body.update(self._render(v, entity))
        if not v.etags_off:
            headers = {**headers, "ETag": etag_of(entity)}
        return _json(v, status, body, headers)

    # --- operations ---

    def service_document(self, tenant: Tenant, request: Request) -> Response:
        v = tenant.variations
        body = {
            _ann(v, "context"): self._context(tenant, request, "").rstrip("#"),
            "value": [{"name": ENTITY_SET, "kind": "EntitySet", "url": ENTITY_SET}],
        }
        return _json(v, 200, body)

    def collection(self, tenant: Tenant, request: Request, raw_query: str) -> Response:
        v = tenant.variations
        pairs = _parse_query(raw_query, v.plus_literal)
        options: dict[str, str] = {}
        for key, value in pairs:
            if not key.startswith("$"):
                continue
            if key not in (*QUERY_OPTIONS, "$skiptoken"):
                raise error(v, 400, "InvalidQuery", f"The query parameter '{key}' is not supported.", key)
            if key in v.query_options_disabled:
                option = key[1:].capitalize()
                raise error(
                    v,
                    400,
                    "QueryOptionNotAllowed",
                    f"Query option '{option}' is not allowed. To allow it, set the 'AllowedQueryOptions' "
                    "property on EnableQueryAttribute or QueryValidationSettings.",
                    key,
                )
            if key in options:
                raise error(
                    v, 400, "InvalidQuery", f"The query option '{key}' was specified more than once.", key
                )
            options[key] = value
        try:
            return self._list(tenant, request, raw_query, pairs, options)
        except query.QueryError as exc:
            raise error(v, 400, "InvalidQuery", exc.message, exc.target) from None

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
        digest = _digest((k, val) for k, val in pairs if k != "$skiptoken")
        prefer = _prefer(request)
        headers: dict[str, str] = {}
        size = v.page_size
        asked = prefer.get("odata.maxpagesize")
        if asked is not None and not v.ignore_maxpagesize and asked.isdigit() and int(asked) > 0:
            size = min(int(asked), v.max_page_size)
            headers["Preference-Applied"] = f"odata.maxpagesize={size}"
        offset = 0
        if "$skiptoken" in options:
            offset, size, token_digest = _decode_token(options["$skiptoken"])
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
        body[_ann(v, "context")] = self._context(tenant, request, fragment)
        if count == "true":
            counted = self.emu.store.count(tenant.name, where, params)
            body[_ann(v, "count")] = str(counted) if v.ieee754_compatible else counted
        body["value"] = [self._render(v, e, select) for e in rows]
        step = limit
        if more and v.page_hook != "off" and not where and limit > 1:
            step = self._page_hook(tenant, rows, first="$skiptoken" not in options)
        if more and (top is None or start + limit < skip + top):
            token = _encode_token(offset + step, size, digest)
            kept = [p for p in raw_query.split("&") if p and unquote(p.partition("=")[0]) != "$skiptoken"]
            q = "&".join([*kept, f"$skiptoken={token}"])
            link = (
                f"{ENTITY_SET}?{q}"
                if v.relative_next_link
                else f"{self._base(tenant, request)}{ENTITY_SET}?{q}"
            )
            body[_ann(v, "nextLink")] = link
        return _json(v, 200, body, headers)

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
        options = dict(_parse_query(raw_query, v.plus_literal))
        for option in options:
            if not option.startswith("$"):
                continue
            if option not in QUERY_OPTIONS:
                raise error(
                    v, 400, "InvalidQuery", f"The query parameter '{option}' is not supported.", option
                )
            if option != "$select":  # as EnableQuery answers for a SingleResult
                raise error(
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
                raise error(
                    v, 400, "QueryOptionNotAllowed", "Query option 'Select' is not allowed.", "$select"
                )
            try:
                select = query.parse_select(options["$select"], v.names_in())
            except query.QueryError as exc:
                raise error(v, 400, "InvalidQuery", exc.message, exc.target) from None
            fragment = ENTITY_SET + (f"({','.join(map(v.served, select))})" if select else "") + "/$entity"
            body = {_ann(v, "context"): self._context(tenant, request, fragment)}
            body.update(self._render(v, entity, select))
            return _json(v, 200, body, {} if v.etags_off else {"ETag": etag_of(entity)})
        inm = request.headers.get("if-none-match")
        if inm and not v.etags_off and _etag_matches(inm, entity):
            return Response(b"", 304, headers=_headers(v, {"ETag": etag_of(entity)}))
        return self._entity_reply(tenant, request, entity, 200, {})

    def create(self, tenant: Tenant, request: Request, body: bytes) -> Response:
        v = tenant.variations
        values = self._body(v, request, body, creating=True)
        entity = {p.name: p.default() for p in model.props()}
        entity.update(values)
        with self.emu.store.transaction():
            self._check_rules(v, entity)
            self._check_name(tenant, entity[model.name_prop()], None)
            created = self.emu.store.insert(tenant.name, entity)
        key = created[model.KEY]
        location = f"{ENTITY_SET}({key})"
        absolute = f"{self._base(tenant, request)}{location}"
        headers = {"Location": location if v.relative_location else absolute}
        prefer = _prefer(request)
        if v.post_no_content or prefer.get("return") == "minimal":
            headers["OData-EntityId"] = absolute
            if prefer.get("return") == "minimal":
                headers["Preference-Applied"] = "return=minimal"
            if not v.etags_off:
                headers["ETag"] = etag_of(created)
            return Response(b"", 204, headers=_headers(v, headers))
        return self._entity_reply(tenant, request, created, 201, headers)

    def update(self, tenant: Tenant, request: Request, key: int, body: bytes) -> Response:
        v = tenant.variations
        values = self._body(v, request, body, creating=False, key=key)
        with self.emu.store.transaction():
            current = self._current(tenant, request, key)
            self._check_if_match(v, request, current)
            merged = {**current, **values}
            self._check_rules(v, merged)
            name = model.name_prop()
            if name in values:
                self._check_name(tenant, values[name], key)
            updated = self.emu.store.update(tenant.name, key, values)
        if updated is None:  # deleted in between: cannot happen under the lock, but stay honest
            raise error(v, 404, "NotFound", f"No integration with key {key}.")
        prefer = _prefer(request)
        if v.patch_returns_entity or prefer.get("return") == "representation":
            headers = {"Preference-Applied": "return=representation"} if prefer.get("return") else {}
            return self._entity_reply(tenant, request, updated, 200, headers)
        headers = {} if v.etags_off else {"ETag": etag_of(updated)}
        return Response(b"", 204, headers=_headers(v, headers))

    def delete(self, tenant: Tenant, request: Request, key: int) -> Response:
        v = tenant.variations
        with self.emu.store.transaction():
            current = self._current(tenant, request, key)
            self._check_if_match(v, request, current)
            self.emu.store.delete(tenant.name, key)
        return Response(b"", 204, headers=_headers(v))

    # --- checks ---

    def _get(self, tenant: Tenant, key: int) -> Entity:
        entity = self.emu.store.get(tenant.name, key)
        if entity is None:
            raise error(tenant.variations, 404, "NotFound", f"No integration with key {key}.", model.KEY)
        return entity

    def _current(self, tenant: Tenant, request: Request, key: int) -> Entity:
        """The entity a write targets. With ``gone_412``, a conditional write to a key that is gone
        answers 412, as HTTP says (If-Match fails when there is no current representation)."""
        v = tenant.variations
        gone = self.emu.store.get(tenant.name, key) is None
        if gone and v.gone_412 and not v.etags_off and request.headers.get("if-match"):
            raise error(v, 412, "PreconditionFailed", "If-Match does not match: there is no current entity.")
        return self._get(tenant, key)

    @staticmethod
    def _check_if_match(v: Variations, request: Request, current: Entity) -> None:
        if v.etags_off:
            return  # a server without concurrency control ignores If-Match
        given = request.headers.get("if-match")
        if given is None:
            if v.etags_required:
                raise error(
                    v,
                    428,
                    "PreconditionRequired",
                    "This request must be conditional: send If-Match with the entity's etag.",
                )
            return
        if not _etag_matches(given, current):
            raise error(
                v,
                412,
                "PreconditionFailed",
                "The entity was changed since its etag was read (If-Match does not match).",
                headers={"ETag": etag_of(current)},
            )

    def _check_name(self, tenant: Tenant, name: str, key: int | None) -> None:
        v = tenant.variations
        other = self.emu.store.find_name(
            tenant.name, name, case_sensitive=v.case_sensitive_names, exclude=key
        )
        if other is not None:
            raise self._duplicate(v, name, other)

    @staticmethod
    def _duplicate(v: Variations, name: str, other: int) -> _Reply:
        """A duplicate name refused in the shape the ``conflict_reply`` switch picks."""
        prop = model.name_prop()
        if v.conflict_reply == "unique_index":  # a database constraint surfacing as it is
            return error(
                v,
                400,
                "UniqueConstraintViolation",
                "Cannot insert duplicate key row in object 'dbo.Integrations' with unique index "
                f"'IX_Integrations_TenantId_{prop}'.",
            )
        if v.conflict_reply == "name_target":  # a validation error on the property, in another language
            return error(v, 400, "ValidationFailed", "Der Wert ist bereits vergeben.", prop)
        if v.conflict_reply == "opaque":  # nothing in the reply says what was wrong
            return error(v, 400, "BadRequest", "The request is invalid.")
        status = 400 if v.duplicate_name_400 else 409
        return error(
            v,
            status,
            "DuplicateName",
            f"An integration named '{name}' already exists (key {other}).",
            prop,
            [{"code": "DuplicateName", "message": f"{prop} must be unique.", "target": prop}],
        )

    @staticmethod
    def _check_rules(v: Variations, entity: Entity) -> None:
        if not v.enforce_rules:
            return
        broken = model.rule_errors(entity)
        if broken:
            details = [{"code": "RuleViolation", "message": m, "target": None} for m in broken]
            raise error(v, 400, "RuleViolation", broken[0], None, details)

    def _body(
        self, v: Variations, request: Request, raw: bytes, *, creating: bool, key: int | None = None
    ) -> dict[str, Any]:
        ctype = request.headers.get("content-type", "")
        if not ctype.split(";")[0].strip().lower() == "application/json":
            raise error(
                v, 415, "UnsupportedMediaType", f"Content-Type '{ctype}' is not supported; send JSON."
            )
        try:
            data = json.loads(raw or b"null")
        except ValueError as exc:
            raise error(v, 400, "InvalidBody", f"The request body is not valid JSON: {exc}.") from None
        if not isinstance(data, dict):
            raise error(v, 400, "InvalidBody", "The request body must be a JSON object.")
        table = model.by_name()
        names_in = v.names_in()
        values: dict[str, Any] = {}
        details: list[dict[str, Any]] = []
        for name, value in data.items():
            if name.startswith("@") or "@" in name:
                continue  # instance and property annotations
            if name == model.KEY:
                if creating and value != 0:
                    # The key is an identity column: a real tenant's database refuses an explicit value
                    # (SQL Server: "Cannot insert explicit value for identity column"); 0 is EF's "unset".
                    details.append(
                        _detail("KeyNotAllowed", f"The key '{model.KEY}' is generated by the server.", name)
                    )
                elif not creating and value != key:
                    details.append(_detail("KeyChange", f"The key '{model.KEY}' cannot be changed.", name))
                continue
            if v.extra_properties and name in model.AUDIT_PROPS:
                continue  # computed by the server
            prop = table.get(str(names_in.get(name, name)))
            if prop is None:
                details.append(
                    _detail(
                        "UnknownProperty",
                        f"The property '{name}' does not exist on type '{metadata.NAMESPACE}."
                        f"{metadata.ENTITY_TYPE}'. Make sure to only use property names that are defined "
                        "by the type or mark the type as open type.",
                        name,
                    )
                )
                continue
            problem = prop.validate(value)
            limit = v.max_length(prop.name, prop.max_length)
            too_long = isinstance(value, str) and limit is not None and fields.text_length(value) > limit
            if problem is None and too_long:  # counted as the schema's limits are: UTF-16 code units
                problem = (
                    f"The field {name} must be a string with a maximum length of {limit} (UTF-16 code units)."
                )
            if problem is not None:
                details.append(_detail("InvalidValue", problem, name))
                continue
            values[prop.name] = value
        if creating:
            for prop in model.props():
                served = v.served(prop.name)
                if prop.required and served not in data:
                    details.append(_detail("RequiredProperty", f"The {served} field is required.", served))
        if details:
            first = details[0]
            raise error(v, 400, first["code"], first["message"], first["target"], details)
        return values


def _detail(code: str, message: str, target: str | None) -> dict[str, Any]:
    return {"code": code, "message": message, "target": target}


def _parse_key(v: Variations, text: str) -> int:
    text = unquote(text).strip()
    if not re.fullmatch(r"-?\d+", text) or not model.INT32_MIN <= int(text) <= model.INT32_MAX:
        raise error(v, 400, "InvalidKey", f"The key value '{text}' is not a valid Edm.Int32.", model.KEY)
    return int(text)


def _same_secret(given: str, secret: str | None) -> bool:
    return secret is not None and hmac.compare_digest(given.encode("utf-8"), secret.encode("utf-8"))


def _etag_matches(header: str, entity: Entity) -> bool:
    current = etag_of(entity)
    wanted = [t.strip() for t in header.split(",")]
    if "*" in wanted:
        return True
    strip = current.removeprefix("W/")
    return any(t == current or t.removeprefix("W/") == strip for t in wanted)


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
