"""The tenant emulator over real loopback HTTP: every operation of CONTRACT §2 and its errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from integration_sync import fields

NAME = fields.NAME()
MANAGED = fields.MANAGED()
NOTES = fields.odata_name("notes")
DIRECTION = fields.odata_name("direction")
BATCH = fields.odata_name("batch_size")
SYSTEM = fields.odata_name("system_id")
KEY = fields.ODATA_KEY
ETAG = fields.ODATA_ETAG
ODATA_JSON = "application/json; odata.metadata=minimal; odata.streaming=true"


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
    assert set(e) == {"@odata.context", ETAG, KEY, *(f.odata for f in fields.fields())}


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
