"""``integration-sync doctor``: is a tenant what the tool assumes?

The schema's OData names, types and limits are the project's reading of the published reference; a real
tenant may differ. For one tenant, ``diagnose`` reads ``$metadata`` (CSDL XML, or CSDL JSON where the
tenant serves it) and compares the entity set, its key and every mapped property (presence, type,
nullability, MaxLength) with the schema (``fields.py``), under the names the config's ``odata_names``
gives; it then probes, read-only, what the tool relies on: authentication, paging, etags, ``$filter``
with ``tolower``, ``$orderby``, ``$count``, whether names compare case-sensitively, the OData version.
``write_probe`` creates, updates and deletes one temporary integration and reports each reply.

Each finding is a ``Check`` with a verdict (``ok``, ``differs``, ``unsupported``, ``not checked``) and
what the tool does about it; a *blocking* one (the entity set or a mapped property missing, another key,
a type that cannot hold the values, a refused token) means the tool cannot work with the tenant as
configured. Where a config line fixes a difference (``odata_names``, ``max_lengths``), the report holds it.

``$metadata`` is input like any reply: read through a size cap (``TenantClient.raw``) and parsed by
expat with any DOCTYPE refused, so no entity is ever declared, let alone expanded.
"""

from __future__ import annotations

import asyncio
import difflib
import re
from collections.abc import Mapping
from typing import Any, Final

from integration_sync import errors, fields
from integration_sync.client import ENTITY_SET, RawReply, TenantClient, odata_string, query_string
from integration_sync.config import TenantConfig
from integration_sync.doctor.csdl import EdmEntitySet, EdmProperty, MetadataError, parse_metadata
from integration_sync.doctor.report import DIFFERS, NOT_CHECKED, OK, UNSUPPORTED, Check, TenantReport
from integration_sync.doctor.writes import PROBE_PREFIX, annotation, probe_writes
from integration_sync.errors import past_deadline
from integration_sync.render import plural

__all__ = [
    "DIFFERS",
    "NOT_CHECKED",
    "OK",
    "PROBE_PREFIX",
    "UNSUPPORTED",
    "Check",
    "EdmEntitySet",
    "EdmProperty",
    "MetadataError",
    "TenantReport",
    "compare_metadata",
    "diagnose",
    "parse_metadata",
    "probe_writes",
]

#: The most of ``$metadata`` that is read; a tenant's document for one entity set is a few kB.
MAX_METADATA_BYTES: Final = 4 * 1024 * 1024
#: The page size doctor asks for, to see paging on a tenant with a handful of integrations.
PROBE_PAGE: Final = 2
_EDM: Final = {"string": "Edm.String", "integer": "Edm.Int32", "boolean": "Edm.Boolean"}
#: Wider types that still hold every value of the schema's type.
_HOLDS: Final = {"Edm.Int32": {"Edm.Int64", "Edm.Decimal"}}
_ACCEPT_METADATA: Final = "application/xml, application/json;q=0.9"


def compare_metadata(report: TenantReport, tenant: TenantConfig, sets: Mapping[str, EdmEntitySet]) -> None:
    """The checks of the entity set, its key and each mapped property against the schema."""
    entity_set = sets.get(ENTITY_SET)
    if entity_set is None:
        found = ", ".join(sorted(sets)) or "none"
        report.add("entity set", ENTITY_SET, found, DIFFERS, "cannot work with this tenant", blocking=True)
        return
    report.add("entity set", ENTITY_SET, f"{ENTITY_SET} ({entity_set.type_name})", OK, "reads and writes it")
    key_prop = entity_set.properties.get(entity_set.key[0]) if len(entity_set.key) == 1 else None
    key_type = key_prop.type if key_prop is not None else "?"
    found_key = f"{'+'.join(entity_set.key) or 'none'} ({key_type})"
    expected_key = f"{fields.ODATA_KEY} (Edm.Int32)"
    if entity_set.key == [fields.ODATA_KEY] and key_type == "Edm.Int32":
        report.add("key", expected_key, found_key, OK, "addresses integrations by it")
    else:
        report.add("key", expected_key, found_key, DIFFERS, "cannot address integrations", blocking=True)
    names = fields.odata_names(tenant.odata_names)
    mapped = set(names.values()) | {fields.ODATA_KEY}
    unmapped = {n: p for n, p in entity_set.properties.items() if n not in mapped}
    proposed_names: dict[str, str] = {}
    proposed_lengths: dict[str, int] = {}
    for f in fields.catalogue():
        odata = names[f.yaml]
        expected_type = _EDM["boolean" if f.is_bool else "integer" if f.is_int else "string"]
        prop = entity_set.properties.get(odata)
        if prop is None:
            guess = _renamed_as(odata, expected_type, unmapped)
            if guess:
                proposed_names[f.yaml] = guess
                found, action = f"missing; {guess} looks like it", f"add odata_names: {{{f.yaml}: {guess}}}"
            else:
                found, action = "missing", f"cannot read or write {f.yaml}"
            report.add(f"{f.yaml}: property", odata, found, DIFFERS, action, blocking=True)
            continue
        report.add(f"{f.yaml}: property", odata, odata, OK, "maps it")
        if prop.type == expected_type:
            report.add(f"{f.yaml}: type", expected_type, prop.type, OK, "as the schema says")
        elif prop.type in _HOLDS.get(expected_type, ()):
            report.add(
                f"{f.yaml}: type", expected_type, prop.type, DIFFERS, "wider: holds every value it writes"
            )
        else:
            report.add(
                f"{f.yaml}: type", expected_type, prop.type, DIFFERS, "cannot hold the values", blocking=True
            )
        expected_null = "nullable" if f.nullable else "not null"
        found_null = "nullable" if prop.nullable else "not null"
        if f.nullable == prop.nullable:
            report.add(f"{f.yaml}: nullable", expected_null, found_null, OK, "as the schema says")
        elif f.nullable:
            report.add(
                f"{f.yaml}: nullable",
                expected_null,
                found_null,
                DIFFERS,
                "an explicit null is refused by the tenant",
            )
        else:
            report.add(
                f"{f.yaml}: nullable",
                expected_null,
                found_null,
                DIFFERS,
                "a live null is imported, and flagged by validate",
            )
        if "string" in f.types:
            _compare_length(report, tenant, f.yaml, prop, proposed_lengths)
    for name in sorted(set(unmapped) - set(proposed_names.values())):
        report.add(
            "unmapped property", "-", f"{name} ({unmapped[name].type})", OK, "ignored: never read or written"
        )
    if proposed_names:
        report.config["odata_names"] = {**dict(tenant.odata_names), **proposed_names}
    if proposed_lengths:
        report.config["max_lengths"] = {**dict(tenant.max_lengths), **proposed_lengths}


def _renamed_as(odata: str, edm_type: str, unmapped: Mapping[str, EdmProperty]) -> str | None:
    """The unmapped property that most likely is ``odata`` under another name: the same type, and the
    same name but for case, or the closest name."""
    same_type = [n for n, p in unmapped.items() if p.type == edm_type]
    for n in same_type:
        if n.casefold() == odata.casefold():
            return n
    close = difflib.get_close_matches(odata, same_type, n=1, cutoff=0.5)
    return close[0] if close else None


def _compare_length(
    report: TenantReport, tenant: TenantConfig, key: str, prop: EdmProperty, proposed: dict[str, int]
) -> None:
    schema_limit = fields.max_length(key)
    configured = tenant.max_lengths.get(key)
    expected = configured or schema_limit
    shown = str(expected) if expected is not None else "none"
    found = str(prop.max_length) if prop.max_length is not None else "none"
    check = f"{key}: MaxLength"
    if prop.max_length is None or (expected is not None and prop.max_length >= expected):
        action = "validate checks the schema's limit" if configured is None else "validate checks max_lengths"
        report.add(check, shown, found, OK, action)
    else:
        proposed[key] = prop.max_length
        report.add(check, shown, found, DIFFERS, f"add max_lengths: {{{key}: {prop.max_length}}}")


# --- probes -----------------------------------------------------------------------------------------


async def diagnose(
    client: TenantClient,
    tenant: TenantConfig,
    url: str,
    *,
    write_probe: bool = False,
    deadline_s: float | None = None,
) -> TenantReport:
    """Every check for one tenant, all of them within ``deadline_s`` (``settings.tenant_deadline_s``;
    each request has the client's own). A request that gets no usable reply, or the deadline, stops the
    examination: it is the report's one-line ``error``, after the checks made until then (a write
    probe cut short still deletes what it created, and reports it)."""
    report = TenantReport(tenant.name, url)
    try:
        async with asyncio.timeout(deadline_s):
            await _diagnose(report, client, tenant, write_probe)
    except errors.SyncError as exc:
        report.error = str(exc)
    except TimeoutError:
        report.error = str(past_deadline(tenant.name, deadline_s or 0, "doctor"))
    return report


async def _diagnose(
    report: TenantReport, client: TenantClient, tenant: TenantConfig, write_probe: bool
) -> None:
    # No query option: a tenant may refuse any of them, and that is a finding of its own below.
    first = await client.raw("GET", ENTITY_SET, headers={"Prefer": "odata.maxpagesize=1"})
    if not _auth(report, first):
        return
    metadata = await client.raw(
        "GET", "$metadata", headers={"Accept": _ACCEPT_METADATA}, limit=MAX_METADATA_BYTES
    )
    if metadata.status != 200:
        report.error = f"$metadata cannot be read: HTTP {metadata.status}"
        return
    try:
        compare_metadata(report, tenant, parse_metadata(metadata.body))
    except MetadataError as exc:
        report.error = f"$metadata cannot be read: {exc}"
        return
    _version(report, first)
    names = fields.odata_names(tenant.odata_names)
    await _paging(report, client)
    sample = await _etags(report, client, first)
    await _queries(report, client, names["name"])
    await _case(report, client, names["name"], sample)
    if write_probe:
        await probe_writes(report, client, names)
    else:
        writes = "create, update, If-Match required (428), duplicate name, delete"
        report.add("writes", writes, "-", NOT_CHECKED, "run doctor --write-probe to see (it writes)")


def _auth(report: TenantReport, reply: RawReply) -> bool:
    expected = "200 with a token that may read"
    if reply.status == 200:
        report.add("authentication", expected, "200", OK, "reads with the token")
        return True
    if reply.status == 401:
        found, action = "401: the token was refused", "check the token in token_env"
    elif reply.status == 403:
        found, action = (
            "403: the token is valid but may not read integrations",
            "grant the token's user access",
        )
    else:
        found, action = f"HTTP {reply.status}", "cannot read integrations"
    report.add("authentication", expected, found, DIFFERS, action, blocking=True)
    return False


def _version(report: TenantReport, reply: RawReply) -> None:
    found = reply.headers.get("odata-version")
    if found in ("4.0", "4.01"):
        report.add("OData-Version header", "4.0 or 4.01", found, OK, "reads both annotation spellings")
    else:
        report.add(
            "OData-Version header", "4.0 or 4.01", found or "missing", DIFFERS, "reads the reply as OData 4"
        )


async def _paging(report: TenantReport, client: TenantClient) -> None:
    plain = await client.raw("GET", ENTITY_SET)
    body = plain.json() if plain.status == 200 else None
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        report.add(
            "paging", "a value list", f"HTTP {plain.status}", DIFFERS, "cannot read the list", blocking=True
        )
        return
    link = annotation(body, "nextLink")
    size = len(body["value"])
    report.add(
        "page size",
        "any",
        f"{size} (more pages follow)" if link else f"all {size} in one page",
        OK,
        "follows next links to the end",
    )
    asked = await client.raw("GET", ENTITY_SET, headers={"Prefer": f"odata.maxpagesize={PROBE_PAGE}"})
    small = asked.json() if asked.status == 200 else None
    small_link = annotation(small, "nextLink") if isinstance(small, dict) else None
    applied = asked.headers.get("preference-applied", "")
    value = small.get("value") if isinstance(small, dict) else None
    count = len(value) if isinstance(value, list) else 0
    check, expected = "Prefer: odata.maxpagesize", f"honoured ({PROBE_PAGE} a page)"
    if "odata.maxpagesize" in applied or (small_link and count <= PROBE_PAGE):
        report.add(check, expected, applied or f"{count} a page", OK, "asks for settings.page_size a page")
    elif size <= PROBE_PAGE and not link:
        report.add(check, expected, plural(size, "integration"), NOT_CHECKED, "too few integrations to tell")
    else:
        report.add(check, expected, f"ignored ({count} a page)", DIFFERS, "takes the tenant's page size")
    any_link = small_link or link
    if not isinstance(any_link, str):
        report.add(
            "nextLink", "absolute or relative", "no second page", NOT_CHECKED, "too few integrations to tell"
        )
    else:
        kind = "absolute" if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", any_link) else "relative"
        report.add(
            "nextLink", "absolute or relative", kind, OK, "resolves it against the request (same origin only)"
        )
    counted = await client.raw("GET", f"{ENTITY_SET}?$count=true", headers={"Prefer": "odata.maxpagesize=1"})
    total = annotation(counted.json(), "count") if counted.status == 200 else None
    if type(total) is int:
        report.add("@odata.count", "a count", str(total), OK, "not needed: it reads every page")
    else:
        report.add(
            "@odata.count",
            "a count",
            f"HTTP {counted.status}, no count",
            UNSUPPORTED,
            "not needed: it reads every page",
        )


async def _etags(report: TenantReport, client: TenantClient, first: RawReply) -> dict[str, Any] | None:
    body = first.json()
    value = body.get("value") if isinstance(body, dict) else None
    entity = value[0] if isinstance(value, list) and value and isinstance(value[0], dict) else None
    if entity is None:
        report.add(
            "etags", "on every entity", "no integration to look at", NOT_CHECKED, "uses them when present"
        )
        return None
    listed = annotation(entity, "etag")
    header = None
    key = entity.get(fields.ODATA_KEY)
    if isinstance(key, int) and not isinstance(key, bool):
        one = await client.raw("GET", f"{ENTITY_SET}({key})")
        header = one.headers.get("etag") if one.status == 200 else None
    if listed or header:
        found = ", ".join(w for w, v in (("in the list", listed), ("ETag header on a read", header)) if v)
        report.add("etags", "on every entity", found, OK, "sends If-Match with every write")
    else:
        report.add(
            "etags",
            "on every entity",
            "none",
            DIFFERS,
            "reads each item right before a write and compares values",
        )
    return entity


async def _queries(report: TenantReport, client: TenantClient, name_prop: str) -> None:
    expr = f"tolower({name_prop}) eq {odata_string('integration-sync doctor')}"
    filtered = await client.raw("GET", ENTITY_SET + query_string({"$filter": expr}))
    if filtered.status == 200:
        report.add("$filter with tolower", "accepted", "200", OK, "looks names up with it")
    else:
        report.add(
            "$filter with tolower",
            "accepted",
            f"HTTP {filtered.status}",
            UNSUPPORTED,
            "reads the whole list instead",
        )
    ordered = await client.raw(
        "GET", ENTITY_SET + query_string({"$orderby": name_prop}), headers={"Prefer": "odata.maxpagesize=1"}
    )
    if ordered.status == 200:
        report.add("$orderby", "accepted", "200", OK, "not needed: it sorts by itself")
    else:
        report.add(
            "$orderby", "accepted", f"HTTP {ordered.status}", UNSUPPORTED, "not needed: it sorts by itself"
        )


async def _case(
    report: TenantReport, client: TenantClient, name_prop: str, sample: Mapping[str, Any] | None
) -> None:
    check, expected = "name comparison", "case-insensitive"
    name = sample.get(name_prop) if sample else None
    if not isinstance(name, str) or name.swapcase() == name or not name.isascii():
        report.add(
            check,
            expected,
            "no ASCII name with letters to try",
            NOT_CHECKED,
            "matches names case-insensitively",
        )
        return
    other = name.swapcase()
    reply = await client.raw(
        "GET", ENTITY_SET + query_string({"$filter": f"{name_prop} eq {odata_string(other)}"})
    )
    body = reply.json() if reply.status == 200 else None
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        report.add(
            check,
            expected,
            f"$filter refused (HTTP {reply.status})",
            NOT_CHECKED,
            "matches names case-insensitively",
        )
    elif body["value"]:
        report.add(check, expected, f"{other!r} finds {name!r}", OK, "matches names case-insensitively")
    else:
        report.add(
            check,
            expected,
            f"case-sensitive: {other!r} does not find {name!r}",
            DIFFERS,
            "still matches case-insensitively; validate refuses names differing only in case",
        )
