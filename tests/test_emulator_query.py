"""The emulator's list: server-driven paging, query options, opaque next links."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from integration_sync import fields
from integration_sync.emulator import EmulatorServer

NAME = fields.name_property()
MANAGED = fields.managed_property()
SYSTEM = fields.odata_name("system_id")
NOTES = fields.odata_name("notes")
KEY = fields.ODATA_KEY


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


def fill(client: httpx.Client, url: str, n: int) -> None:
    for i in range(1, n + 1):
        doc = {
            "name": f"Integration {i:03d}",
            "direction": "Outbound" if i % 2 else "Inbound",
            "entity": "Invoice",
            "consent_type": "None",
            "system_id": i % 3,
            "managed": i % 4 == 0,
            "notes": None if i % 5 else f"note {i}",
        }
        r = client.post(url + "Integrations", json=fields.to_odata(doc), headers={"Prefer": "return=minimal"})
        assert r.status_code == 204, r.text


def pages(client: httpx.Client, url: str, **headers: str) -> list[dict[str, Any]]:
    out = []
    next_url: str | None = url
    while next_url:
        r = client.get(next_url, headers=headers)
        assert r.status_code == 200, r.text
        out.append(r.json())
        next_url = r.json().get("@odata.nextLink")
    return out


def names(got: list[dict[str, Any]]) -> list[str]:
    return [e[NAME] for page in got for e in page["value"]]


def test_paging_over_three_pages_with_maxpagesize(client: httpx.Client, emulator_url: str) -> None:
    fill(client, emulator_url, 25)
    r = client.get(emulator_url + "Integrations", headers={"Prefer": "odata.maxpagesize=10"})
    assert r.headers["Preference-Applied"] == "odata.maxpagesize=10"
    got = pages(client, emulator_url + "Integrations", Prefer="odata.maxpagesize=10")
    assert [len(p["value"]) for p in got] == [10, 10, 5]
    assert names(got) == [f"Integration {i:03d}" for i in range(1, 26)]
    link = got[0]["@odata.nextLink"]
    assert link.startswith(emulator_url + "Integrations?") and "$skiptoken=" in link  # absolute
    assert "@odata.nextLink" not in got[-1]


@pytest.mark.slow
def test_default_page_is_100_and_the_cap_applies(client: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.add_tenant("big", variations={"max_page_size": 120})
    url = emulator.tenant_url("big")
    fill(client, url, 130)
    got = pages(client, url + "Integrations")
    assert [len(p["value"]) for p in got] == [100, 30]
    r = client.get(url + "Integrations", headers={"Prefer": "odata.maxpagesize=500"})
    assert len(r.json()["value"]) == 120
    assert r.headers["Preference-Applied"] == "odata.maxpagesize=120"


def test_next_link_is_opaque_changing_it_is_400(client: httpx.Client, emulator_url: str) -> None:
    fill(client, emulator_url, 5)
    first = client.get(
        emulator_url + f"Integrations?$filter={MANAGED} eq false", headers={"Prefer": "odata.maxpagesize=2"}
    )
    link = first.json()["@odata.nextLink"]
    assert f"$filter={MANAGED}%20eq%20false" in link  # the query options travel with it, as sent
    assert client.get(link).status_code == 200
    r = client.get(link + f"&$select={NAME}")
    assert r.status_code == 400
    assert r.json()["error"]["target"] == "$skiptoken"
    assert client.get(emulator_url + "Integrations?$skiptoken=garbage").status_code == 400


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (f"{NAME} eq 'Integration 003'", [3]),
        (f"{NAME} ne 'Integration 003' and {SYSTEM} eq 0", [6, 9, 12]),
        (f"{SYSTEM} eq 1 or {MANAGED} eq true", [1, 4, 7, 8, 10, 12]),
        (f"{MANAGED} eq true and ({SYSTEM} eq 1 or {SYSTEM} eq 2)", [4, 8]),
        (f"not ({SYSTEM} ne 2)", [2, 5, 8, 11]),
        (f"{NOTES} ne null", [5, 10]),
        (f"{NOTES} eq null and {SYSTEM} eq 0", [3, 6, 9, 12]),
        (f"tolower({NAME}) eq 'integration 007'", [7]),
        (f"toupper({NAME}) eq 'INTEGRATION 007'", [7]),
        # strings compare case-insensitively, as on SQL Server's default collation
        (f"{NAME} eq 'integration 007'", [7]),
        (f"{NAME} ne 'INTEGRATION 007' and {SYSTEM} eq 1", [1, 4, 10]),
        (f"startswith({NAME}, 'INTEGRATION 01') and endswith({NAME}, '1')", [11]),
        (f"contains({NAME}, 'on 01')", [10, 11, 12]),
        (f"startswith({NAME}, 'Integration 01') and endswith({NAME}, '1')", [11]),
        (f"{KEY} ge 11", [11, 12]),
        (f"{KEY} in (2, 11,99)", [2, 11]),
        (f"{NAME} in ('integration 003','Integration 005') and {SYSTEM} eq 0", [3]),
        (f"{MANAGED}", [4, 8, 12]),
    ],
)
def test_filter(client: httpx.Client, emulator_url: str, flt: str, expected: list[int]) -> None:
    fill(client, emulator_url, 12)
    r = client.get(emulator_url + "Integrations", params={"$filter": flt, "$select": KEY})
    assert r.status_code == 200, r.text
    assert [e[KEY] for e in r.json()["value"]] == expected


def test_filter_string_literals_double_their_quotes(client: httpx.Client, emulator_url: str) -> None:
    doc = {"name": "It's O''Brien", "direction": "Inbound", "entity": "E", "consent_type": "None"}
    client.post(emulator_url + "Integrations", json=fields.to_odata(doc))
    r = client.get(emulator_url + "Integrations", params={"$filter": f"{NAME} eq 'It''s O''''Brien'"})
    assert [e[NAME] for e in r.json()["value"]] == ["It's O''Brien"]


@pytest.mark.parametrize(
    "flt",
    [
        f"{NAME} eq",
        f"{NAME} eq 'unterminated",
        "Bogus eq 1",
        f"{NAME} eq 1",
        f"{NAME} in (1)",
        f"{NAME} in ('a',{NAME})",
        f"{KEY} in ()",
        f"{SYSTEM} eq 'x'",
        f"{NAME}",
        f"frobnicate({NAME})",
        f"({NAME} eq 'a'",
        f"{NAME} eq 'a' extra",
        f"{SYSTEM} eq 99999999999999999999",
    ],
)
def test_bad_filters_are_400(client: httpx.Client, emulator_url: str, flt: str) -> None:
    r = client.get(emulator_url + "Integrations", params={"$filter": flt})
    assert r.status_code == 400
    assert r.json()["error"]["target"] == "$filter"


def test_top_skip_orderby_count_select(client: httpx.Client, emulator_url: str) -> None:
    fill(client, emulator_url, 12)
    r = client.get(
        emulator_url + "Integrations",
        params={
            "$orderby": f"{SYSTEM} desc,{NAME}",
            "$top": "4",
            "$skip": "1",
            "$count": "true",
            "$select": f"{NAME},{SYSTEM}",
        },
    )
    assert r.status_code == 200
    page = r.json()
    assert page["@odata.count"] == 12
    assert [e[NAME][-2:] for e in page["value"]] == ["05", "08", "11", "01"]
    assert set(page["value"][0]) == {"@odata.etag", NAME, SYSTEM}
    assert page["@odata.context"].endswith(f"$metadata#Integrations({NAME},{SYSTEM})")
    assert "@odata.nextLink" not in page


def test_top_larger_than_a_page_pages_up_to_top(client: httpx.Client, emulator_url: str) -> None:
    fill(client, emulator_url, 12)
    got = pages(client, emulator_url + "Integrations?$top=7&$skip=2", Prefer="odata.maxpagesize=3")
    assert [len(p["value"]) for p in got] == [3, 3, 1]
    assert [e[KEY] for p in got for e in p["value"]] == list(range(3, 10))


@pytest.mark.parametrize(
    "qs",
    [
        "$top=-1",
        "$top=x",
        "$skip=x",
        "$count=maybe",
        "$orderby=Bogus",
        f"$orderby={NAME} sideways",
        "$select=Bogus",
        "$expand=X",
        "$top=1&$top=2",
        "$top=99999999999999999999",
        "$skip=2147483648",
    ],
)
def test_bad_query_options_are_400(client: httpx.Client, emulator_url: str, qs: str) -> None:
    r = client.get(emulator_url + "Integrations?" + qs)
    assert r.status_code == 400, qs


def test_plus_in_a_query_string_is_a_space_by_default(client: httpx.Client, emulator_url: str) -> None:
    fill(client, emulator_url, 3)
    r = client.get(emulator_url + f"Integrations?$filter={NAME}+eq+'Integration+002'")
    assert [e[KEY] for e in r.json()["value"]] == [2]


@pytest.mark.parametrize(
    "qs",
    [f"$filter={NAME} eq 'x'", f"$orderby={NAME}", "$top=1", "$skip=1", "$count=true", "$expand=X"],
)
def test_collection_query_options_on_a_single_entity_are_400(
    client: httpx.Client, emulator_url: str, qs: str
) -> None:
    # EnableQuery on a SingleResult: "Query options $filter, $orderby, $count, $skip, and $top can be
    # applied only on collections"; a client must not read a 200 there as "the filter matched".
    fill(client, emulator_url, 1)
    r = client.get(emulator_url + "Integrations(1)?" + qs)
    assert r.status_code == 400, qs
    assert r.json()["error"]["target"] == qs.partition("=")[0]
    assert client.get(emulator_url + "Integrations(1)?$select=" + NAME).status_code == 200
    assert client.get(emulator_url + "Integrations(9)?$top=1").status_code == 404


def test_strings_compare_and_sort_by_case_only_with_case_sensitive_names(
    client: httpx.Client, emulator: EmulatorServer, emulator_url: str
) -> None:
    emulator.add_tenant("cs", variations={"case_sensitive_names": True})

    def names(url: str, option: str, value: str) -> list[str]:
        for name in ("b", "A", "a2", "C"):
            doc = {"name": name, "direction": "Inbound", "entity": "E", "consent_type": "None"}
            client.post(url + "Integrations", json=fields.to_odata(doc))
        r = client.get(url + "Integrations", params={"$select": NAME, option: value})
        assert r.status_code == 200, r.text
        return [e[NAME] for e in r.json()["value"]]

    cs = emulator.tenant_url("cs")
    assert names(emulator_url, "$filter", f"{NAME} eq 'a'") == ["A"]
    assert names(emulator_url, "$orderby", f"{NAME} desc") == ["C", "b", "a2", "A"]
    assert names(cs, "$filter", f"{NAME} eq 'a'") == []
    assert names(cs, "$orderby", f"{NAME} desc") == ["b", "a2", "C", "A"]
