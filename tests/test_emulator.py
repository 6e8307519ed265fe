"""The tenant emulator over real loopback HTTP: every operation of docs/odata.md and its errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import httpx
import pytest

from integration_sync import fields
from integration_sync.emulator import EmulatorServer

NAME = fields.name_property()
MANAGED = fields.managed_property()
NOTES = fields.odata_name("notes")
DIRECTION = fields.odata_name("direction")
BATCH = fields.odata_name("batch_size")
SYSTEM = fields.odata_name("system_id")
KEY = fields.ODATA_KEY
ETAG = fields.ODATA_ETAG
# ASP.NET Core OData's content type, charset included.
ODATA_JSON = "application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8"


def body(name: str = "Xero Invoice Export", **extra: Any) -> dict[str, Any]:
    doc = {"name": name, "direction": "Outbound", "entity": "Invoice", "consent_type": "OAuth"}
    return {**fields.to_odata(doc), **extra}


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


def create(client: httpx.Client, url: str, name: str = "A", **extra: Any) -> dict[str, Any]:
    r = client.post(url + "Integrations", json=body(name, **extra))
    assert r.status_code == 201, r.text
    return dict(r.json())


def assert_odata_headers(r: httpx.Response) -> None:
    assert r.headers["OData-Version"] == "4.0"


# --- operations -------------------------------------------------------------------------------------


def test_create_answers_201_with_id_etag_location_and_defaults(
    client: httpx.Client, emulator_url: str
) -> None:
    r = client.post(emulator_url + "Integrations", json=body())
    assert r.status_code == 201
    assert r.headers["content-type"] == ODATA_JSON
    assert_odata_headers(r)
    e = r.json()
    assert e[KEY] == 1
    assert e[ETAG] == r.headers["ETag"]
    assert r.headers["Location"] == f"{emulator_url}Integrations(1)"
    assert e["@odata.context"] == f"{emulator_url}$metadata#Integrations/$entity"
    assert e[NAME] == "Xero Invoice Export"
    assert e[NOTES] is None and e[MANAGED] is False and e[BATCH] == 1
    assert set(e) == {"@odata.context", ETAG, KEY, *(f.odata for f in fields.catalogue())}


def test_create_with_return_minimal_answers_204_with_entity_id(
    client: httpx.Client, emulator_url: str
) -> None:
    r = client.post(emulator_url + "Integrations", json=body(), headers={"Prefer": "return=minimal"})
    assert r.status_code == 204
    assert r.content == b""
    assert r.headers["OData-EntityId"] == f"{emulator_url}Integrations(1)"
    assert r.headers["Preference-Applied"] == "return=minimal"
    assert_odata_headers(r)


def test_read_by_key_and_select(client: httpx.Client, emulator_url: str) -> None:
    made = create(client, emulator_url)
    r = client.get(emulator_url + "Integrations(1)")
    assert r.status_code == 200
    assert r.json() == made
    r = client.get(emulator_url + f"Integrations(1)?$select={NAME}")
    assert r.json()[NAME] == "A" and DIRECTION not in r.json()
    assert r.json()["@odata.context"] == f"{emulator_url}$metadata#Integrations({NAME})/$entity"


def test_a_trailing_slash_is_ignored_as_aspnet_core_routing_does(
    client: httpx.Client, emulator_url: str
) -> None:
    r = client.post(emulator_url + "Integrations/", json=body())
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == f"{emulator_url}Integrations(1)"
    assert [e[KEY] for e in client.get(emulator_url + "Integrations/").json()["value"]] == [1]
    assert client.get(emulator_url + "Integrations(1)/").json()[KEY] == 1
    assert client.get(emulator_url + "Integrations(1)//").status_code == 404


def test_patch_is_partial_and_changes_the_etag(client: httpx.Client, emulator_url: str) -> None:
    made = create(client, emulator_url, **{NOTES: "old"})
    r = client.patch(emulator_url + "Integrations(1)", json={NOTES: "new"}, headers={"If-Match": made[ETAG]})
    assert r.status_code == 204
    assert r.content == b""
    assert_odata_headers(r)
    after = client.get(emulator_url + "Integrations(1)").json()
    assert after[NOTES] == "new" and after[NAME] == "A"
    assert after[ETAG] != made[ETAG] == made[ETAG]
    assert r.headers["ETag"] == after[ETAG]


def test_patch_with_return_representation_answers_200(client: httpx.Client, emulator_url: str) -> None:
    create(client, emulator_url)
    r = client.patch(
        emulator_url + "Integrations(1)", json={NOTES: None}, headers={"Prefer": "return=representation"}
    )
    assert r.status_code == 200
    assert r.json()[NOTES] is None
    assert r.headers["Preference-Applied"] == "return=representation"


def test_delete_then_read_is_404(client: httpx.Client, emulator_url: str) -> None:
    made = create(client, emulator_url)
    r = client.delete(emulator_url + "Integrations(1)", headers={"If-Match": made[ETAG]})
    assert r.status_code == 204
    assert_odata_headers(r)
    r = client.get(emulator_url + "Integrations(1)")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "NotFound"
    assert client.delete(emulator_url + "Integrations(1)").status_code == 404


def test_ids_are_not_reused_after_delete(client: httpx.Client, emulator_url: str) -> None:
    create(client, emulator_url, "A")
    client.delete(emulator_url + "Integrations(1)")
    assert create(client, emulator_url, "A")[KEY] == 2


# --- etags ------------------------------------------------------------------------------------------


def test_stale_etag_is_412_and_star_matches(client: httpx.Client, emulator_url: str) -> None:
    made = create(client, emulator_url)
    url = emulator_url + "Integrations(1)"
    assert client.patch(url, json={NOTES: "x"}, headers={"If-Match": made[ETAG]}).status_code == 204
    r = client.patch(url, json={NOTES: "y"}, headers={"If-Match": made[ETAG]})
    assert r.status_code == 412
    assert r.json()["error"]["code"] == "PreconditionFailed"
    assert client.get(url).json()[NOTES] == "x"  # the stale write changed nothing
    assert client.delete(url, headers={"If-Match": made[ETAG]}).status_code == 412
    assert client.patch(url, json={NOTES: "z"}, headers={"If-Match": "*"}).status_code == 204
    assert client.delete(url, headers={"If-Match": "*"}).status_code == 204


def test_every_write_changes_the_etag_even_an_empty_patch(client: httpx.Client, emulator_url: str) -> None:
    seen = {create(client, emulator_url)[ETAG]}
    for _ in range(3):
        r = client.patch(emulator_url + "Integrations(1)", json={})
        assert r.status_code == 204
        seen.add(r.headers["ETag"])
    assert len(seen) == 4


def test_if_none_match_on_read_answers_304(client: httpx.Client, emulator_url: str) -> None:
    made = create(client, emulator_url)
    r = client.get(emulator_url + "Integrations(1)", headers={"If-None-Match": made[ETAG]})
    assert r.status_code == 304


# --- validation and errors --------------------------------------------------------------------------


def error_of(r: httpx.Response) -> dict[str, Any]:
    assert r.headers["content-type"] == ODATA_JSON
    assert_odata_headers(r)
    err = r.json()["error"]
    assert set(err) == {"code", "message", "target", "details"}
    return dict(err)


@pytest.mark.parametrize(
    ("change", "code", "target"),
    [
        ({"Bogus": 1}, "UnknownProperty", "Bogus"),
        ({NAME: ""}, "InvalidValue", NAME),
        ({NAME: "x" * 129}, "InvalidValue", NAME),
        ({NAME: None}, "InvalidValue", NAME),
        ({NAME: 5}, "InvalidValue", NAME),
        ({SYSTEM: 2**31}, "InvalidValue", SYSTEM),
        ({SYSTEM: "7"}, "InvalidValue", SYSTEM),
        ({SYSTEM: True}, "InvalidValue", SYSTEM),
        ({BATCH: 0}, "InvalidValue", BATCH),
        ({MANAGED: "yes"}, "InvalidValue", MANAGED),
        ({MANAGED: None}, "InvalidValue", MANAGED),
        ({DIRECTION: "Sideways"}, "InvalidValue", DIRECTION),
        ({fields.odata_name("element_id"): "e" * 257}, "InvalidValue", fields.odata_name("element_id")),
    ],
)
def test_invalid_values_are_400_with_an_odata_error(
    client: httpx.Client, emulator_url: str, change: dict[str, Any], code: str, target: str
) -> None:
    r = client.post(emulator_url + "Integrations", json={**body(), **change})
    assert r.status_code == 400
    err = error_of(r)
    assert (err["code"], err["target"]) == (code, target)
    assert err["details"][0]["target"] == target
    create(client, emulator_url)
    r = client.patch(emulator_url + "Integrations(1)", json=change)
    assert r.status_code == 400
    assert error_of(r)["target"] == target


def test_missing_required_properties_are_all_reported(client: httpx.Client, emulator_url: str) -> None:
    r = client.post(emulator_url + "Integrations", json={NAME: "A"})
    assert r.status_code == 400
    err = error_of(r)
    required = {fields.odata_name(k) for k in fields.required_yaml()} - {NAME}
    assert {d["target"] for d in err["details"]} == required
    assert all(d["code"] == "RequiredProperty" for d in err["details"])


def test_bodies_that_are_not_json_objects_are_rejected(client: httpx.Client, emulator_url: str) -> None:
    url = emulator_url + "Integrations"
    assert client.post(url, content=b"{", headers={"Content-Type": "application/json"}).status_code == 400
    assert client.post(url, json=[body()]).status_code == 400
    assert client.post(url, content=b"x", headers={"Content-Type": "text/plain"}).status_code == 415


def test_annotations_are_ignored_and_the_key_may_not_be_set(client: httpx.Client, emulator_url: str) -> None:
    # An identity key: SQL Server refuses an explicit value, so a client sending one must fail here too.
    r = client.post(emulator_url + "Integrations", json={**body(), KEY: 99})
    assert r.status_code == 400 and error_of(r)["target"] == KEY
    r = client.post(
        emulator_url + "Integrations", json={**body(), KEY: 0, "@odata.type": "#FinanceKey.Integration"}
    )
    assert r.status_code == 201 and r.json()[KEY] == 1
    assert client.patch(emulator_url + "Integrations(1)", json={KEY: 1}).status_code == 204
    assert client.patch(emulator_url + "Integrations(1)", json={KEY: 2}).status_code == 400


def test_duplicate_name_is_409_case_insensitively(client: httpx.Client, emulator_url: str) -> None:
    create(client, emulator_url, "Xero Export")
    r = client.post(emulator_url + "Integrations", json=body("XERO export"))
    assert r.status_code == 409
    assert error_of(r)["code"] == "DuplicateName" and error_of(r)["target"] == NAME
    create(client, emulator_url, "Other")
    r = client.patch(emulator_url + "Integrations(2)", json={NAME: "xero EXPORT"})
    assert r.status_code == 409
    # renaming to itself in another case is fine
    assert client.patch(emulator_url + "Integrations(1)", json={NAME: "XERO EXPORT"}).status_code == 204


def test_unknown_keys_paths_and_methods(client: httpx.Client, emulator_url: str) -> None:
    assert error_of(client.get(emulator_url + "Integrations(7)"))["code"] == "NotFound"
    assert client.patch(emulator_url + "Integrations(7)", json={}).status_code == 404
    assert client.get(emulator_url + "Integrations(abc)").status_code == 400
    assert client.get(emulator_url + "Integrations(99999999999)").status_code == 400
    assert client.get(emulator_url + "Nope").status_code == 404
    r = client.put(emulator_url + "Integrations(1)", json=body())
    assert r.status_code == 405 and "PATCH" in r.headers["Allow"]
    base = emulator_url.rsplit("/", 3)[0]
    assert client.get(base + "/nobody/OData/Integrations").status_code == 404


def test_rule_breaking_data_is_accepted_by_default(client: httpx.Client, emulator_url: str) -> None:
    # an API need not enforce what the UI does (docs/odata.md): continuous on an inbound integration
    r = client.post(
        emulator_url + "Integrations",
        json=body(**cast(dict[str, Any], {DIRECTION: "Inbound", fields.odata_name("continuous"): True})),
    )
    assert r.status_code == 201


# --- auth -------------------------------------------------------------------------------------------


def test_a_tenant_with_a_token_requires_it(client: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.add_tenant("secure", token="s3cret-token")
    url = emulator.tenant_url("secure")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret-token"}):
        r = client.get(url + "Integrations", headers=headers)
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert "s3cret-token" not in r.text
        assert error_of(r)["code"] == "Unauthorized"
    assert client.get(url + "$metadata").status_code == 401
    ok = {"Authorization": "Bearer s3cret-token"}
    assert client.get(url + "Integrations", headers=ok).status_code == 200
    assert client.post(url + "Integrations", json=body(), headers=ok).status_code == 201
    log = emulator.requests("secure")
    assert [e["status"] for e in log] == [401, 401, 401, 401, 200, 201]
    assert "s3cret-token" not in repr(log)
    assert log[-1]["auth"] is True


def test_a_read_only_token_may_read_but_not_write(client: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.add_tenant("ro", token="full", readonly_token="reader")
    url = emulator.tenant_url("ro")
    reader = {"Authorization": "Bearer reader"}
    assert (
        client.post(url + "Integrations", json=body(), headers={"Authorization": "Bearer full"}).status_code
        == 201
    )
    assert client.get(url + "Integrations(1)", headers=reader).status_code == 200
    for r in (
        client.post(url + "Integrations", json=body("B"), headers=reader),
        client.patch(url + "Integrations(1)", json={NOTES: "x"}, headers=reader),
        client.delete(url + "Integrations(1)", headers=reader),
    ):
        assert r.status_code == 403
        assert error_of(r)["code"] == "Forbidden"
    r = client.get(
        url + "Integrations",
        headers={"Authorization": "Bearer caf\u00e9".encode("latin-1")},  # type: ignore[arg-type]
    )  # not ASCII: bytes, as a hostile caller would send
    assert r.status_code == 401


def test_tenants_are_isolated(client: httpx.Client, emulator: EmulatorServer, emulator_url: str) -> None:
    emulator.add_tenant("other")
    create(client, emulator_url, "A")
    other = emulator.tenant_url("other")
    assert client.get(other + "Integrations").json()["value"] == []
    assert client.post(other + "Integrations", json=body("A")).json()[KEY] == 1


# --- service document and $metadata -----------------------------------------------------------------


def test_service_document_and_metadata(client: httpx.Client, emulator_url: str) -> None:
    r = client.get(emulator_url)
    assert r.status_code == 200
    assert r.json()["value"] == [{"name": "Integrations", "kind": "EntitySet", "url": "Integrations"}]
    r = client.get(emulator_url + "$metadata")
    assert r.status_code == 200 and r.headers["content-type"] == "application/xml; charset=utf-8"
    assert_odata_headers(r)
    import xml.etree.ElementTree as ET

    root = ET.fromstring(r.text)
    ns = {"edm": "http://docs.oasis-open.org/odata/ns/edm"}
    props = {p.get("Name"): p for p in root.iterfind(".//edm:EntityType/edm:Property", ns)}
    assert list(props) == [KEY, *(f.odata for f in fields.catalogue())]
    assert props[NAME].get("MaxLength") == "128" and props[NAME].get("Nullable") == "false"
    assert props[NOTES].get("Nullable") is None  # nullable by default
    assert props[SYSTEM].get("Type") == "Edm.Int32"
    assert props[MANAGED].get("Type") == "Edm.Boolean"
    assert root.find(".//edm:EntitySet[@Name='Integrations']", ns) is not None


# --- concurrency --------------------------------------------------------------------------------------


def test_racing_writers_cannot_both_win(emulator_url: str) -> None:
    import asyncio

    async def race() -> tuple[list[int], list[int]]:
        async with httpx.AsyncClient(timeout=10) as c:
            creates = await asyncio.gather(
                *(c.post(emulator_url + "Integrations", json=body("Same")) for _ in range(8))
            )
            etag = creates[[r.status_code for r in creates].index(201)].json()[ETAG]
            patches = await asyncio.gather(
                *(
                    c.patch(
                        emulator_url + "Integrations(1)", json={NOTES: str(i)}, headers={"If-Match": etag}
                    )
                    for i in range(8)
                )
            )
            return [r.status_code for r in creates], [r.status_code for r in patches]

    creates, patches = asyncio.run(race())
    assert sorted(creates) == [201] + [409] * 7
    assert sorted(patches) == [204] + [412] * 7


def test_bulk_seeding_stores_what_inserting_one_by_one_stores() -> None:
    from integration_sync.emulator import model
    from integration_sync.emulator.store import Store

    defaults = {p.name: p.default() for p in model.props()}
    entities = [{**defaults, **fields.to_odata({"name": f"I{j}", "managed": j % 2 == 0})} for j in range(5)]
    one, bulk = Store(), Store()
    try:
        one.insert("t", entities[0])  # both tenants start after an earlier write
        bulk.insert("t", entities[0])
        for e in entities:
            one.insert("t", e)
        assert bulk.insert_many("t", entities) == 5
        drop = ("CreatedAt", "ModifiedAt")
        rows = [{k: v for k, v in r.items() if k not in drop} for r in one.select("t")]
        assert [{k: v for k, v in r.items() if k not in drop} for r in bulk.select("t")] == rows
        assert one.insert("t", entities[0])["Id"] == bulk.insert("t", entities[0])["Id"] == 7
        assert one.insert("t", entities[0])["_version"] == bulk.insert("t", entities[0])["_version"]
    finally:
        one.close()
        bulk.close()
