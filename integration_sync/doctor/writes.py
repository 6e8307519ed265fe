"""``doctor --write-probe``: create, update and delete one temporary integration and report each reply."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any, Final

from integration_sync import fields, logs
from integration_sync.client import ENTITY_SET, RawReply, TenantClient
from integration_sync.doctor.report import DIFFERS, OK, TenantReport

PROBE_PREFIX: Final = "integration-sync doctor probe"


def annotation(payload: Any, name: str) -> Any:
    """An annotation of a reply's JSON object, in either spelling; None when the reply is no object."""
    if not isinstance(payload, Mapping):
        return None
    return payload.get(f"@odata.{name}", payload.get(f"@{name}"))


def _shape(reply: RawReply) -> str:
    parts = [str(reply.status)]
    body = reply.json()
    if isinstance(body, dict) and "error" in body:
        message = body["error"].get("message") if isinstance(body["error"], dict) else None
        parts.append(f"error: {_clip(logs.redact(str(message)))}" if message else "an error body")
    elif isinstance(body, dict):
        parts.append("the entity in the body")
    elif reply.body.strip():
        parts.append("a body that is not JSON")
    else:
        parts.append("no body")
    for header in ("location", "odata-entityid", "etag"):
        if header in reply.headers:
            parts.append(f"{header} header")
    return ", ".join(parts)


async def probe_writes(report: TenantReport, client: TenantClient, names: Mapping[str, str]) -> None:
    """Create, update and delete one temporary integration (named ``PROBE_PREFIX`` + random hex), and
    try its name once more; whatever it created is deleted again, also when a step fails."""
    name = f"{PROBE_PREFIX} {secrets.token_hex(4)}"
    doc = {
        "name": name,
        "direction": "Inbound",
        "entity": "IntegrationSyncDoctorProbe",
        "consent_type": "None",
        "managed": False,
        "active": False,
    }
    body = fields.to_odata(doc, names=dict(names))
    created = await client.raw("POST", ENTITY_SET, body=body, headers={"Prefer": "return=representation"})
    made: list[tuple[str, str | None]] = []
    try:
        key, etag = _created(created)
        ok = created.status in (200, 201, 204) and key is not None
        report.add(
            "write: create",
            "201 with the entity, or 204 with its location",
            _shape(created),
            OK if ok else DIFFERS,
            "recovers the key from the body or the Location/OData-EntityId header",
            blocking=not ok,
        )
        if key is None:
            return
        made.append((key, etag))
        patch = {names["notes"]: "integration-sync doctor probe: updated"}
        bare = await client.raw("PATCH", f"{ENTITY_SET}({key})", body=patch)
        if bare.status == 428:
            report.add(
                "write: etags required (428)",
                "If-Match optional",
                _shape(bare),
                DIFFERS,
                "always sends If-Match",
            )
        else:
            report.add(
                "write: etags required (428)", "If-Match optional", _shape(bare), OK, "always sends If-Match"
            )
            etag = bare.headers.get("etag", etag)
        if etag is not None:
            updated = await client.raw(
                "PATCH", f"{ENTITY_SET}({key})", body=patch, headers={"If-Match": etag}
            )
            etag = updated.headers.get("etag", etag)
        else:
            updated = bare
        ok = updated.status in (200, 204)
        report.add(
            "write: update",
            "204, or 200 with the entity",
            _shape(updated),
            OK if ok else DIFFERS,
            "sends PATCH with the changed fields",
            blocking=not ok,
        )
        made[0] = (key, etag)
        twin = await client.raw("POST", ENTITY_SET, body=body)
        if twin.status in (400, 409):
            report.add(
                "write: duplicate name", "409 (or 400)", _shape(twin), OK, "reports the create as a clash"
            )
        else:
            twin_key, twin_etag = _created(twin)
            if twin_key is not None:
                made.append((twin_key, twin_etag))
            report.add(
                "write: duplicate name",
                "409 (or 400)",
                _shape(twin),
                DIFFERS,
                "checks names itself before it creates",
            )
    finally:
        for i, (key, etag) in enumerate(made):
            headers = {"If-Match": etag} if etag else {}
            deleted = await client.raw("DELETE", f"{ENTITY_SET}({key})", headers=headers)
            if deleted.status == 412:  # the etag moved: the probe is ours alone, delete what is there
                deleted = await client.raw("DELETE", f"{ENTITY_SET}({key})", headers={"If-Match": "*"})
            ok = deleted.status in (200, 204)
            what = "write: delete" if i == 0 else "write: delete the duplicate"
            report.add(
                what,
                "204",
                _shape(deleted),
                OK if ok else DIFFERS,
                "deletes with If-Match"
                if ok
                else f"left {name!r} (key {key}) on the tenant: delete it by hand",
                blocking=not ok,
            )


def _clip(text: str, limit: int = 120) -> str:
    """Server text for a table cell: one line, at most ``limit`` characters (redacted before it is
    clipped, so that a token cut at the edge cannot show its first characters)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_KEY_IN_LINK = re.compile(r"\(([^()]*)\)\s*$")


def _created(reply: RawReply) -> tuple[str | None, str | None]:
    """The created entity's key (as written in a URL) and etag, from the body or the headers."""
    body = reply.json()
    etag = reply.headers.get("etag")
    if isinstance(body, dict):
        annotated = annotation(body, "etag")  # sent back in If-Match: a text, or none
        etag = etag or (annotated if isinstance(annotated, str) else None)
        key = body.get(fields.ODATA_KEY)
        if isinstance(key, int) and not isinstance(key, bool):
            return str(key), etag
    for header in ("odata-entityid", "location"):
        m = _KEY_IN_LINK.search(reply.headers.get(header, ""))
        if m:
            return m.group(1), etag
    return None, etag
