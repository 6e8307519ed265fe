"""How the emulator answers: JSON in OData's media type, annotations and the ``OData-Version`` header as
the tenant's OData version spells them, etags, and errors in the tenant's error-body style (``error``
returns a ``Reply`` that a handler raises to answer at once)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from integration_sync.emulator.store import Entity
from integration_sync.emulator.variations import Variations

#: As ASP.NET Core OData sends it, charset included (a client that compares media types must cope).
ODATA_JSON = "application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8"


class Reply(Exception):
    """Raised inside a handler to answer at once (errors)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def etag_of(entity: Entity) -> str:
    raw = int(entity["_version"]).to_bytes(8, "big")
    return 'W/"' + base64.b64encode(raw).decode("ascii") + '"'


def annotation(v: Variations, name: str) -> str:
    return f"@{name}" if v.odata_401 else f"@odata.{name}"


def odata_headers(v: Variations, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    out = {"OData-Version": "4.01" if v.odata_401 else "4.0"}
    if extra:
        out.update(extra)
    return out


def json_reply(v: Variations, status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(content, status_code=status, media_type=ODATA_JSON, headers=odata_headers(v, headers))


def error(
    v: Variations,
    status: int,
    code: str,
    message: str,
    target: str | None = None,
    details: Iterable[dict[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """An error reply in the tenant's error-body style (``error_body`` switch)."""
    hdrs = odata_headers(v, headers)
    style = v.error_body
    reason = HTTPStatus(status).phrase
    if style == "odata" or style == "no_code":
        err: dict[str, Any] = {"code": code, "message": message, "target": target, "details": list(details)}
        if style == "no_code":
            err = {"message": message}
        return Reply(json_reply(v, status, {"error": err}, headers))
    if style == "problem":
        body = {"type": "about:blank", "title": reason, "status": status, "detail": message}
        content = json.dumps(body).encode("utf-8")
        return Reply(Response(content, status, media_type="application/problem+json", headers=hdrs))
    if style == "html":
        html = f"<!DOCTYPE html><html><head><title>{status} {reason}</title></head><body><h1>{reason}</h1></body></html>"
        return Reply(Response(html, status, media_type="text/html; charset=utf-8", headers=hdrs))
    if style == "text":
        return Reply(Response(message, status, media_type="text/plain; charset=utf-8", headers=hdrs))
    return Reply(Response(b"", status, headers=hdrs))


def prefer(request: Request) -> dict[str, str]:
    out: dict[str, str] = {}
    for header in request.headers.getlist("prefer"):
        for part in header.split(","):
            key, _, value = part.strip().partition("=")
            if key:
                out[key.strip().lower()] = value.strip().strip('"')
    return out


def etag_matches(header: str, entity: Entity) -> bool:
    current = etag_of(entity)
    wanted = [t.strip() for t in header.split(",")]
    if "*" in wanted:
        return True
    strip = current.removeprefix("W/")
    return any(t == current or t.removeprefix("W/") == strip for t in wanted)


def detail(code: str, message: str, target: str | None) -> dict[str, Any]:
    return {"code": code, "message": message, "target": target}
