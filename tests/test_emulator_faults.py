"""Fault injection (reproducible from a seed) and the admin surface."""

from __future__ import annotations

import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from integration_sync import fields
from integration_sync.emulator import EmulatorServer

NAME = fields.name_property()


def body(name: str = "A") -> dict[str, Any]:
    return fields.to_odata({"name": name, "direction": "Inbound", "entity": "E", "consent_type": "None"})


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


def statuses(client: httpx.Client, url: str, n: int) -> list[int]:
    return [client.get(url + "Integrations").status_code for _ in range(n)]


@pytest.mark.parametrize("status", [429, 503])
def test_rate_limit_and_unavailable_carry_retry_after(
    client: httpx.Client, emulator: EmulatorServer, emulator_url: str, status: int
) -> None:
    emulator.set_faults("test", **{f"p{status}": 1.0, "retry_after": 0, "count": 1})
    r = client.get(emulator_url + "Integrations")
    assert r.status_code == status
    assert r.headers["Retry-After"] == "0"
    assert r.headers["OData-Version"] == "4.0"
    assert r.json()["error"]["code"] in ("TooManyRequests", "ServiceUnavailable")
    assert client.get(emulator_url + "Integrations").status_code == 200  # count spent


def test_retry_after_as_an_http_date(
    client: httpx.Client, emulator: EmulatorServer, emulator_url: str
) -> None:
    emulator.set_faults("test", p503=1.0, retry_after=30, retry_after_http_date=True)
    r = client.get(emulator_url + "Integrations")
    assert r.status_code == 503
    assert parsedate_to_datetime(r.headers["Retry-After"]).tzinfo is not None


def test_500_fault(client: httpx.Client, emulator: EmulatorServer, emulator_url: str) -> None:
    emulator.set_faults("test", p500=1.0, count=1)
    r = client.get(emulator_url + "Integrations")
    assert r.status_code == 500 and "Retry-After" not in r.headers


def test_dropped_connection_before_processing(
    client: httpx.Client, emulator: EmulatorServer, emulator_url: str
) -> None:
    emulator.set_faults("test", p_drop=1.0, count=1)
    with pytest.raises(httpx.TransportError):
        client.post(emulator_url + "Integrations", json=body())
    assert client.get(emulator_url + "Integrations").json()["value"] == []  # nothing was written
    log = emulator.requests("test")
    assert [(e["method"], e["status"], e["fault"]) for e in log] == [
        ("POST", None, "drop"),
        ("GET", 200, None),
    ]


def test_write_that_commits_but_whose_reply_is_lost(
    client: httpx.Client, emulator: EmulatorServer, emulator_url: str
) -> None:
    emulator.set_faults("test", p_commit_drop=1.0, count=1)
    with pytest.raises(httpx.TransportError):
        client.post(emulator_url + "Integrations", json=body("Committed"))
    assert [e[NAME] for e in client.get(emulator_url + "Integrations").json()["value"]] == ["Committed"]
    assert emulator.requests("test")[0]["fault"] == "commit_drop"
    assert emulator.requests("test")[0]["status"] == 201


@pytest.mark.slow
def test_commit_drop_spares_reads(client: httpx.Client, emulator: EmulatorServer, emulator_url: str) -> None:
    emulator.set_faults("test", p_commit_drop=1.0)
    assert statuses(client, emulator_url, 3) == [200, 200, 200]


@pytest.mark.slow
def test_latency_delays_replies(emulator: EmulatorServer, emulator_url: str) -> None:
    emulator.set_faults("test", latency_ms=400)
    with httpx.Client(timeout=0.05) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.get(emulator_url + "Integrations")
    emulator.set_faults("test")
    # the server finishes the abandoned request later: wait for it, so it lands in this test's log
    for _ in range(200):
        if emulator.requests("test"):
            break
        time.sleep(0.02)
    assert [e["status"] for e in emulator.requests("test")] == [200]
    with httpx.Client(timeout=5) as patient:
        assert patient.get(emulator_url + "Integrations").status_code == 200


@pytest.mark.slow
def test_faults_are_reproducible_from_a_seed(
    client: httpx.Client, emulator: EmulatorServer, emulator_url: str
) -> None:
    emulator.set_faults("test", p429=0.3, p503=0.3, retry_after=0, seed=42)
    first = statuses(client, emulator_url, 30)
    emulator.set_faults("test", p429=0.3, p503=0.3, retry_after=0, seed=42)
    assert statuses(client, emulator_url, 30) == first
    assert {200, 429, 503} == set(first)
    emulator.set_faults("test", p429=0.3, p503=0.3, retry_after=0, seed=43)
    assert statuses(client, emulator_url, 30) != first


def test_faults_per_method_star_and_tenant_precedence(
    client: httpx.Client, emulator: EmulatorServer, emulator_url: str
) -> None:
    emulator.add_tenant("other")
    other = emulator.tenant_url("other")
    emulator.set_faults("*", p503=1.0)
    assert client.get(other + "Integrations").status_code == 503
    emulator.set_faults("test", p429=1.0, methods=["POST"])  # the tenant's own settings win over "*"
    assert client.get(emulator_url + "Integrations").status_code == 200
    assert client.post(emulator_url + "Integrations", json=body()).status_code == 429
    emulator.set_faults("test")  # cleared: "*" applies again
    assert client.get(emulator_url + "Integrations").status_code == 503
    emulator.set_faults("*")
    assert client.get(other + "Integrations").status_code == 200


def test_admin_faults_over_http(client: httpx.Client, emulator: EmulatorServer, emulator_url: str) -> None:
    admin = emulator.url + "/_emulator/"
    r = client.post(admin + "faults", json={"tenant": "test", "p429": 1, "retry_after": 3, "seed": 1})
    assert r.status_code == 200 and r.json()["faults"]["p429"] == 1.0
    r = client.get(emulator_url + "Integrations")
    assert (r.status_code, r.headers["Retry-After"]) == (429, "3")
    r = client.post(admin + "faults", json={"tenant": "test"})
    assert r.json()["faults"] is None
    assert client.get(emulator_url + "Integrations").status_code == 200
    for bad in ({"p429": 2}, {"p_drop": "x"}, {"latency_ms": -1}, {"bogus": 1}, {"methods": "GET"}):
        assert client.post(admin + "faults", json={"tenant": "test", **bad}).status_code == 400, bad
    assert client.post(admin + "faults", content=b"[").status_code == 400


def test_admin_requests_and_reset_over_http(
    client: httpx.Client, emulator: EmulatorServer, emulator_url: str
) -> None:
    admin = emulator.url + "/_emulator/"
    client.post(emulator_url + "Integrations", json=body())
    client.get(emulator_url + f"Integrations?$filter={NAME}%20eq%20'A'")
    log = client.get(admin + "requests", params={"tenant": "test"}).json()
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("POST", "/test/OData/Integrations", 201),
        ("GET", "/test/OData/Integrations", 200),
    ]
    assert log[1]["query"] == f"$filter={NAME}%20eq%20'A'"
    assert log[0]["body"] == body()
    assert client.get(admin + "requests").status_code == 400
    assert client.delete(admin + "requests", params={"tenant": "test"}).status_code == 204
    assert client.get(admin + "requests", params={"tenant": "test"}).json() == []
    emulator.add_tenant("later")
    emulator.set_faults("test", p503=1.0)
    assert client.post(admin + "reset").status_code == 204
    assert client.get(emulator_url + "Integrations").json()["value"] == []
    assert client.get(emulator.tenant_url("later") + "Integrations").status_code == 404
    assert client.get(admin + "health").json() == {"ok": True}


def test_reset_of_one_tenant(client: httpx.Client, emulator: EmulatorServer, emulator_url: str) -> None:
    emulator.add_tenant("other")
    client.post(emulator_url + "Integrations", json=body())
    client.post(emulator.tenant_url("other") + "Integrations", json=body())
    assert client.post(emulator.url + "/_emulator/reset", json={"tenant": "test"}).status_code == 204
    assert client.get(emulator_url + "Integrations").json()["value"] == []
    assert len(client.get(emulator.tenant_url("other") + "Integrations").json()["value"]) == 1
