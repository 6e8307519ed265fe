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
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from xml.parsers import expat

from integration_sync import errors, fields, logs
from integration_sync.client import ENTITY_SET, RawReply, TenantClient, odata_string, query_string
from integration_sync.config import TenantConfig
from integration_sync.errors import past_deadline
from integration_sync.render import plural

OK: Final = "ok"
DIFFERS: Final = "differs"
UNSUPPORTED: Final = "unsupported"
NOT_CHECKED: Final = "not checked"
#: The most of ``$metadata`` that is read; a tenant's document for one entity set is a few kB.
MAX_METADATA_BYTES: Final = 4 * 1024 * 1024
#: The page size doctor asks for, to see paging on a tenant with a handful of integrations.
PROBE_PAGE: Final = 2
PROBE_PREFIX: Final = "integration-sync doctor probe"
_EDM: Final = {"string": "Edm.String", "integer": "Edm.Int32", "boolean": "Edm.Boolean"}
#: Wider types that still hold every value of the schema's type.
_HOLDS: Final = {"Edm.Int32": {"Edm.Int64", "Edm.Decimal"}}
_ACCEPT_METADATA: Final = "application/xml, application/json;q=0.9"


@dataclass(frozen=True)
class Check:
    check: str
    expected: str
    found: str
    verdict: str
    action: str
    blocking: bool = False


@dataclass
class TenantReport:
    tenant: str
    url: str
    checks: list[Check] = field(default_factory=list)
    #: One line when the tenant could not be examined (``$metadata`` unreadable, no reply).
    error: str | None = None
    #: Config entries that make the tool use the tenant as it is: ``odata_names``, ``max_lengths``.
    config: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def blocking(self) -> bool:
        return self.error is not None or any(c.blocking for c in self.checks)

    def add(self, *args: Any, **kwargs: Any) -> None:
        self.checks.append(Check(*args, **kwargs))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.tenant,
            "url": self.url,
            "ok": not self.blocking,
            "error": self.error,
            "checks": [c.__dict__ for c in self.checks],
            "config": self.config,
        }


# --- $metadata --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EdmProperty:
    name: str
    type: str
    nullable: bool
    max_length: int | None  # None: unbounded (absent or "max")


@dataclass
class EdmEntitySet:
    name: str
    type_name: str
    key: list[str] = field(default_factory=list)
    properties: dict[str, EdmProperty] = field(default_factory=dict)


class MetadataError(ValueError):
    pass


def parse_metadata(body: bytes) -> dict[str, EdmEntitySet]:
    """The entity sets of a CSDL document (XML, or JSON when it starts with ``{``), with their entity
    type's key and properties. ``MetadataError`` for anything else."""
    text = body.lstrip()
    if text.startswith(b"{"):
        return _parse_csdl_json(text)
    return _parse_csdl_xml(body)


def _local(tag: str) -> str:
    return tag.rsplit(" ", 1)[-1]


def _parse_csdl_xml(body: bytes) -> dict[str, EdmEntitySet]:
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    types: dict[str, tuple[list[str], dict[str, EdmProperty]]] = {}
    sets: dict[str, str] = {}
    state: dict[str, Any] = {"ns": [], "type": None}

    def doctype(*_args: Any) -> None:
        raise MetadataError("a DOCTYPE is not allowed in $metadata (it could declare entities)")

    def start(tag: str, attrs: dict[str, str]) -> None:
        name = _local(tag)
        if name == "Schema":
            state["ns"] = [n for n in (attrs.get("Namespace"), attrs.get("Alias")) if n]
        elif name == "EntityType":
            current: tuple[list[str], dict[str, EdmProperty]] = ([], {})
            for ns in state["ns"]:
                types[f"{ns}.{attrs.get('Name', '')}"] = current
            state["type"] = current
        elif name == "PropertyRef" and state["type"] is not None:
            state["type"][0].append(attrs.get("Name", ""))
        elif name == "Property" and state["type"] is not None:
            limit = attrs.get("MaxLength")
            state["type"][1][attrs.get("Name", "")] = EdmProperty(
                attrs.get("Name", ""),
                attrs.get("Type", ""),
                attrs.get("Nullable", "true").lower() != "false",
                _max_length(limit),
            )
        elif name == "EntitySet":
            sets[attrs.get("Name", "")] = attrs.get("EntityType", "")

    def end(tag: str) -> None:
        if _local(tag) == "EntityType":
            state["type"] = None

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise MetadataError(f"not well-formed CSDL XML ({exc})") from None
    return _sets(types, sets)


def _max_length(text: str | None) -> int | None:
    """A ``MaxLength`` attribute as a number; ``max``, absent, or anything that is not a plain decimal
    number an Int64 could hold (``²`` passes ``str.isdigit``; 5,000 digits fail ``int``) is no limit."""
    if text and text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text)
    return None


def _parse_csdl_json(body: bytes) -> dict[str, EdmEntitySet]:
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise MetadataError(f"not valid CSDL JSON ({exc})") from None
    except RecursionError:
        raise MetadataError("CSDL JSON nested too deeply to read") from None
    if not isinstance(doc, dict):
        raise MetadataError("CSDL JSON must be an object")
    try:
        return _csdl_json_sets(doc)
    except (TypeError, AttributeError, StopIteration) as exc:  # a member of another JSON type
        raise MetadataError(f"not CSDL JSON as OData describes it ({type(exc).__name__})") from None


def _csdl_json_sets(doc: Mapping[str, Any]) -> dict[str, EdmEntitySet]:
    types: dict[str, tuple[list[str], dict[str, EdmProperty]]] = {}
    sets: dict[str, str] = {}
    for ns, schema in doc.items():
        if ns.startswith("$") or not isinstance(schema, dict):
            continue
        names = [ns] + ([schema["$Alias"]] if isinstance(schema.get("$Alias"), str) else [])
        for name, element in schema.items():
            if not isinstance(element, dict):
                continue
            if element.get("$Kind") == "EntityType":
                key = [
                    k if isinstance(k, str) else str(next(iter(k.values()), ""))
                    for k in element.get("$Key", [])
                ]
                props = {
                    p: EdmProperty(
                        p,
                        str(v.get("$Type", "Edm.String")),
                        v.get("$Nullable", False) is True,
                        _max_length(str(v["$MaxLength"])) if type(v.get("$MaxLength")) is int else None,
                    )
                    for p, v in element.items()
                    if not p.startswith("$")
                    and isinstance(v, dict)
                    and v.get("$Kind", "Property") == "Property"
                }
                for n in names:
                    types[f"{n}.{name}"] = (list(key), props)
            elif element.get("$Kind") == "EntityContainer":
                for set_name, entity_set in element.items():
                    if isinstance(entity_set, dict) and entity_set.get("$Collection") is True:
                        sets[set_name] = str(entity_set.get("$Type", ""))
    return _sets(types, sets)


def _sets(
    types: Mapping[str, tuple[list[str], dict[str, EdmProperty]]], sets: Mapping[str, str]
) -> dict[str, EdmEntitySet]:
    out = {}
    for name, type_name in sets.items():
        key, props = types.get(type_name, ([], {}))
        out[name] = EdmEntitySet(name, type_name, key, props)
    return out


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


def _annotation(payload: Any, name: str) -> Any:
    """An annotation of a reply's JSON object, in either spelling; None when the reply is no object."""
    if not isinstance(payload, Mapping):
        return None
    return payload.get(f"@odata.{name}", payload.get(f"@{name}"))


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
    link = _annotation(body, "nextLink")
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
    small_link = _annotation(small, "nextLink") if isinstance(small, dict) else None
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
    total = _annotation(counted.json(), "count") if counted.status == 200 else None
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
    listed = _annotation(entity, "etag")
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


# --- the write probe --------------------------------------------------------------------------------


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
        annotated = _annotation(body, "etag")  # sent back in If-Match: a text, or none
        etag = etag or (annotated if isinstance(annotated, str) else None)
        key = body.get(fields.ODATA_KEY)
        if isinstance(key, int) and not isinstance(key, bool):
            return str(key), etag
    for header in ("odata-entityid", "location"):
        m = _KEY_IN_LINK.search(reply.headers.get(header, ""))
        if m:
            return m.group(1), etag
    return None, etag
