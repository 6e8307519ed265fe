"""Each variation switch: a way a real tenant may differ (docs/odata.md), switched on in the emulator."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, cast
from urllib.parse import urljoin

import httpx
import pytest

from integration_sync import fields
from integration_sync.emulator import EmulatorServer, Variations
from integration_sync.emulator.variations import PROFILES

NAME = fields.name_property()
NOTES = fields.odata_name("notes")
DIRECTION = fields.odata_name("direction")
KEY = fields.ODATA_KEY


def body(name: str = "A", **extra: Any) -> dict[str, Any]:
    doc = {"name": name, "direction": "Outbound", "entity": "Invoice", "consent_type": "None"}
    return {**fields.to_odata(doc), **extra}


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


def tenant(emulator: EmulatorServer, **variations: Any) -> str:
    emulator.add_tenant("v", variations=variations)
    return emulator.tenant_url("v")


def fill(client: httpx.Client, url: str, n: int) -> None:
    for i in range(n):
        assert client.post(url + "Integrations", json=body(f"I{i:02d}")).status_code in (201, 204)


def test_relative_next_link_resolves_against_the_request_url(
    client: httpx.Client, emulator: EmulatorServer
) -> None:
    url = tenant(emulator, relative_next_link=True)
    fill(client, url, 5)
    seen: list[str] = []
    link: str | None = url + "Integrations"
    while link:
        page = client.get(link, headers={"Prefer": "odata.maxpagesize=2"}).json()
        seen += [e[NAME] for e in page["value"]]
        nxt = page.get("@odata.nextLink")
        assert nxt is None or nxt.startswith("Integrations?")
        link = urljoin(link, nxt) if nxt else None
    assert seen == [f"I{i:02d}" for i in range(5)]


def test_relative_context(client: httpx.Client, emulator: EmulatorServer) -> None:
    url = tenant(emulator, relative_context=True)
    assert client.get(url + "Integrations").json()["@odata.context"] == "$metadata#Integrations"


def test_relative_location(client: httpx.Client, emulator: EmulatorServer) -> None:
    url = tenant(emulator, relative_location=True)
    r = client.post(url + "Integrations", json=body())
    assert r.headers["Location"] == "Integrations(1)"
    assert urljoin(url + "Integrations", r.headers["Location"]) == url + "Integrations(1)"


def test_odata_401_annotation_names(client: httpx.Client, emulator: EmulatorServer) -> None:
    url = tenant(emulator, odata_401=True)
    fill(client, url, 3)
    r = client.get(url + "Integrations?$count=true", headers={"Prefer": "odata.maxpagesize=2"})
    page = r.json()
    assert r.headers["OData-Version"] == "4.01"
    assert {"@context", "@count", "@nextLink"} <= set(page)
    assert not [k for k in page if k.startswith("@odata.")]
    assert "@etag" in page["value"][0]
    assert "@etag" in client.get(url + "Integrations(1)").json()


def test_ignore_maxpagesize(client: httpx.Client, emulator: EmulatorServer) -> None:
    url = tenant(emulator, ignore_maxpagesize=True, page_size=3)
    fill(client, url, 7)
    r = client.get(url + "Integrations", headers={"Prefer": "odata.maxpagesize=50"})
    assert len(r.json()["value"]) == 3
    assert "Preference-Applied" not in r.headers


def test_post_no_content(client: httpx.Client, emulator: EmulatorServer) -> None:
    url = tenant(emulator, post_no_content=True)
    r = client.post(url + "Integrations", json=body())
    assert r.status_code == 204 and r.content == b""
    assert r.headers["OData-EntityId"] == url + "Integrations(1)"
    assert r.headers["Location"] == url + "Integrations(1)"


def test_patch_returns_entity(client: httpx.Client, emulator: EmulatorServer) -> None:
    url = tenant(emulator, patch_returns_entity=True)
    client.post(url + "Integrations", json=body())
    r = client.patch(url + "Integrations(1)", json={NOTES: "n"})
    assert r.status_code == 200 and r.json()[NOTES] == "n"
    assert "Preference-Applied" not in r.headers


def test_etags_off(client: httpx.Client, emulator: EmulatorServer) -> None:
    url = tenant(emulator, etags_off=True)
    r = client.post(url + "Integrations", json=body())
    assert "ETag" not in r.headers and "@odata.etag" not in r.json()
    assert "@odata.etag" not in client.get(url + "Integrations").json()["value"][0]
    # a server without concurrency control ignores If-Match
    assert (
        client.patch(url + "Integrations(1)", json={}, headers={"If-Match": 'W/"stale"'}).status_code == 204
    )
    assert "OptimisticConcurrency" not in client.get(url + "$metadata").text


def test_etags_required(client: httpx.Client, emulator: EmulatorServer) -> None:
    url = tenant(emulator, etags_required=True)
    etag = client.post(url + "Integrations", json=body()).json()["@odata.etag"]
    r = client.patch(url + "Integrations(1)", json={NOTES: "x"})
    assert r.status_code == 428
    assert r.json()["error"]["code"] == "PreconditionRequired"
    assert client.delete(url + "Integrations(1)").status_code == 428
    assert (
        client.patch(url + "Integrations(1)", json={NOTES: "x"}, headers={"If-Match": etag}).status_code
        == 204
    )


@pytest.mark.parametrize("option", ["$filter", "$select", "$orderby", "$top", "$skip", "$count"])
def test_query_options_disabled(client: httpx.Client, emulator: EmulatorServer, option: str) -> None:
    url = tenant(emulator, query_options_disabled=True, page_size=2)
    fill(client, url, 5)
    value = {"$filter": f"{NAME} eq 'I01'", "$select": NAME, "$orderby": NAME}.get(option, "1")
    r = client.get(url + "Integrations", params={option: value})
    assert r.status_code == 400
    assert "is not allowed" in r.json()["error"]["message"]
    # the plain collection with server-driven paging still works
    count = 0
    link: str | None = url + "Integrations"
    while link:
        page = client.get(link).json()
        count += len(page["value"])
        link = page.get("@odata.nextLink")
    assert count == 5


def test_some_query_options_disabled(client: httpx.Client, emulator: EmulatorServer) -> None:
    url = tenant(emulator, query_options_disabled=["filter"])
    assert client.get(url + "Integrations?$filter=true").status_code == 400
    assert client.get(url + "Integrations?$top=1").status_code == 200


def test_plus_literal(client: httpx.Client, emulator: EmulatorServer) -> None:
    url = tenant(emulator, plus_literal=True)
    client.post(url + "Integrations", json=body("A B"))
    client.post(url + "Integrations", json=body("A+B"))
    r = client.get(url + f"Integrations?$filter={NAME}%20eq%20'A+B'")
    assert [e[NAME] for e in r.json()["value"]] == ["A+B"]
    r = client.get(url + f"Integrations?$filter={NAME}%20eq%20'A%20B'")
    assert [e[NAME] for e in r.json()["value"]] == ["A B"]
    assert client.get(url + f"Integrations?$filter={NAME}+eq+'A B'").status_code == 400


def test_duplicate_name_400(client: httpx.Client, emulator: EmulatorServer) -> None:
    url = tenant(emulator, duplicate_name_400=True)
    client.post(url + "Integrations", json=body("A"))
    r = client.post(url + "Integrations", json=body("a"))
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "DuplicateName"


def test_case_sensitive_names(client: httpx.Client, emulator: EmulatorServer) -> None:
    url = tenant(emulator, case_sensitive_names=True)
    assert client.post(url + "Integrations", json=body("A")).status_code == 201
    assert client.post(url + "Integrations", json=body("a")).status_code == 201
    assert client.post(url + "Integrations", json=body("A")).status_code == 409


@pytest.mark.parametrize(
    ("style", "ctype", "check"),
    [
        (
            "no_code",
            "application/json",
            lambda r: r.json() == {"error": {"message": "No integration with key 9."}},
        ),
        ("problem", "application/problem+json", lambda r: r.json()["status"] == 404 and "detail" in r.json()),
        ("html", "text/html", lambda r: "<h1>Not Found</h1>" in r.text),
        ("text", "text/plain", lambda r: r.text == "No integration with key 9."),
        ("empty", None, lambda r: r.content == b""),
    ],
)
def test_error_bodies(
    client: httpx.Client, emulator: EmulatorServer, style: str, ctype: str | None, check: Any
) -> None:
    url = tenant(emulator, error_body=style)
    r = client.get(url + "Integrations(9)")
    assert r.status_code == 404
    assert r.headers["OData-Version"] == "4.0"
    if ctype is None:
        assert "content-type" not in r.headers
    else:
        assert r.headers["content-type"].startswith(ctype)
    assert check(r)


def test_extra_properties(client: httpx.Client, emulator: EmulatorServer) -> None:
    url = tenant(emulator, extra_properties=True)
    made = client.post(url + "Integrations", json=body()).json()
    assert made["CreatedAt"] and made["ModifiedAt"]
    assert fields.from_odata(made) == fields.from_odata({**made, "CreatedAt": None})  # ignored by the mapping
    # a client that sends them back is not refused: the server computes them
    assert (
        client.patch(url + "Integrations(1)", json={"ModifiedAt": "2020-01-01T00:00:00Z"}).status_code == 204
    )
    assert 'Name="ModifiedAt"' in client.get(url + "$metadata").text


def test_enforce_rules(client: httpx.Client, emulator: EmulatorServer) -> None:
    url = tenant(emulator, enforce_rules=True)
    bad = body(**cast(dict[str, Any], {DIRECTION: "Inbound", fields.odata_name("include_updates"): True}))
    r = client.post(url + "Integrations", json=bad)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "RuleViolation"


def test_renamed_properties(client: httpx.Client, emulator: EmulatorServer) -> None:
    element = fields.odata_name("element_id")
    url = tenant(emulator, renamed_properties={element: "ElementCode"})
    assert 'Name="ElementCode"' in client.get(url + "$metadata").text
    assert f'Name="{element}"' not in client.get(url + "$metadata").text
    r = client.post(url + "Integrations", json=body("A", ElementCode="e-1"))
    assert r.status_code == 201 and r.json()["ElementCode"] == "e-1" and element not in r.json()
    # the schema's name is unknown there, in a body, $filter, $orderby and $select alike
    assert client.post(url + "Integrations", json=body("B", **{element: "e"})).status_code == 400
    for option in ("$filter=ElementId eq 'e-1'", "$orderby=ElementId", "$select=ElementId"):
        assert client.get(url + "Integrations?" + option.replace("ElementId", element)).status_code == 400
    page = client.get(
        url + "Integrations?$filter=ElementCode eq 'e-1'&$select=ElementCode&$orderby=ElementCode"
    )
    assert page.json()["value"] == [
        {"@odata.etag": page.json()["value"][0]["@odata.etag"], "ElementCode": "e-1"}
    ]
    with pytest.raises(ValueError, match="not a mapped property"):
        Variations.from_dict({"renamed_properties": {"Nope": "X"}})
    with pytest.raises(ValueError, match="same name"):
        Variations.from_dict({"renamed_properties": {element: NAME}})


def test_max_lengths(client: httpx.Client, emulator: EmulatorServer) -> None:
    element = fields.odata_name("element_id")
    url = tenant(emulator, max_lengths={element: 10})
    assert f'Name="{element}" Type="Edm.String" MaxLength="10"' in client.get(url + "$metadata").text
    too_long = client.post(url + "Integrations", json=body("A", **{element: "x" * 11}))
    assert too_long.status_code == 400 and too_long.json()["error"]["target"] == element
    assert client.post(url + "Integrations", json=body("A", **{element: "x" * 10})).status_code == 201
    with pytest.raises(ValueError, match="not a string property"):
        Variations.from_dict({"max_lengths": {fields.odata_name("batch_size"): 3}})


def test_every_switch_is_tested_and_unknown_ones_are_refused() -> None:
    names = {f.name for f in dataclasses.fields(Variations)}
    tests = [n for n in globals() if n.startswith("test_")]
    untested = {n for n in names if not any(n in t for t in tests)} - {
        "page_size",
        "max_page_size",
        "error_body",
    }
    assert untested == set()
    with pytest.raises(ValueError, match="unknown variation"):
        Variations.from_dict({"relative_links": True})
    with pytest.raises(ValueError):
        Variations.from_dict({"etags_off": True, "etags_required": True})
    with pytest.raises(ValueError):
        Variations.from_dict({"page_size": 0})
    for profile in PROFILES.values():
        Variations.from_dict(profile)


def test_variations_through_the_admin_surface(client: httpx.Client, emulator: EmulatorServer) -> None:
    r = client.post(
        emulator.url + "/_emulator/tenants",
        json={"name": "adm", "token": "tkn", "variations": {"post_no_content": True}},
    )
    assert r.status_code == 201
    assert r.json() == {
        "name": "adm",
        "auth": True,
        "variations": {"post_no_content": True},
        "url": emulator.tenant_url("adm"),
    }
    url = emulator.tenant_url("adm")
    assert (
        client.post(url + "Integrations", json=body(), headers={"Authorization": "Bearer tkn"}).status_code
        == 204
    )
    listed = client.get(emulator.url + "/_emulator/tenants").json()
    assert {t["name"] for t in listed} == {"test", "adm"}
    assert "tkn" not in repr(listed)
    bad = client.post(emulator.url + "/_emulator/tenants", json={"name": "x", "variations": {"nope": 1}})
    assert bad.status_code == 400
    assert client.post(emulator.url + "/_emulator/tenants", json={"name": "_bad"}).status_code == 400


def test_omit_nulls(client: httpx.Client, emulator: EmulatorServer) -> None:
    url = tenant(emulator, omit_nulls=True)
    client.post(url + "Integrations", json=body("A"))
    (entity,) = client.get(url + "Integrations").json()["value"]
    assert NOTES not in entity and entity[NAME] == "A"
    assert NOTES not in client.get(url + f"Integrations({entity[KEY]})").json()


@pytest.mark.parametrize(
    ("reply", "code", "target"),
    [
        ("unique_index", "UniqueConstraintViolation", None),
        ("name_target", "ValidationFailed", NAME),
        ("opaque", "BadRequest", None),
    ],
)
def test_conflict_reply(
    client: httpx.Client, emulator: EmulatorServer, reply: str, code: str, target: str | None
) -> None:
    url = tenant(emulator, conflict_reply=reply)
    client.post(url + "Integrations", json=body("A"))
    r = client.post(url + "Integrations", json=body("a"))
    assert r.status_code == 400
    assert (r.json()["error"]["code"], r.json()["error"].get("target")) == (code, target)


def _keys_paged(client: httpx.Client, url: str) -> list[int]:
    keys: list[int] = []
    next_url: str | None = url + "Integrations"
    while next_url:
        page = client.get(next_url, headers={"Prefer": "odata.maxpagesize=3"}).json()
        keys += [e[KEY] for e in page["value"]]
        next_url = page.get("@odata.nextLink")
    return keys


@pytest.mark.parametrize(
    ("hook", "first", "second"),
    [
        ("delete", [1, 2, 3, 5, 6, 7], [2, 3, 4, 5, 6, 7]),  # 4 skipped: 1 was deleted after page 1
        ("edit", [1, 2, 3, 3, 4, 5, 6, 7], [1, 2, 3, 4, 5, 6, 7]),  # 3 again, as edited
        ("repeat", [1, 2, 3, 3, 4, 5, 5, 6, 7], [1, 2, 3, 3, 4, 5, 5, 6, 7]),  # every time
    ],
)
def test_page_hook(
    client: httpx.Client, emulator: EmulatorServer, hook: str, first: list[int], second: list[int]
) -> None:
    url = tenant(emulator, page_hook=hook)
    fill(client, url, 7)
    assert _keys_paged(client, url) == first
    assert _keys_paged(client, url) == second
    filtered = client.get(url + "Integrations?$filter=Id gt 0", headers={"Prefer": "odata.maxpagesize=3"})
    assert [e[KEY] for e in filtered.json()["value"]] == second[:3]


def test_ieee754_compatible(client: httpx.Client, emulator: EmulatorServer) -> None:
    url = tenant(emulator, ieee754_compatible=True)
    fill(client, url, 3)
    assert client.get(url + "Integrations?$count=true").json()["@odata.count"] == "3"
    assert [type(e[KEY]) for e in client.get(url + "Integrations").json()["value"]] == [int] * 3


def test_gone_412(client: httpx.Client, emulator: EmulatorServer) -> None:
    url = tenant(emulator, gone_412=True)
    created = client.post(url + "Integrations", json=body("A"))
    key, etag = created.json()[KEY], created.headers["etag"]
    assert client.delete(url + f"Integrations({key})", headers={"If-Match": etag}).status_code == 204
    assert client.delete(url + f"Integrations({key})", headers={"If-Match": etag}).status_code == 412
    assert (
        client.patch(url + f"Integrations({key})", json={NOTES: "x"}, headers={"If-Match": etag}).status_code
        == 412
    )
    assert client.delete(url + f"Integrations({key})").status_code == 404  # unconditional: as before
