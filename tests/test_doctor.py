"""``doctor`` against emulator tenants over HTTP: each read-visible variation switch is recognised, a
renamed property and a narrower length are reported, and the config lines doctor prints make the
renamed tenant plan and apply."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_run import Run, run_cli

from integration_sync import doctor, fields
from integration_sync.client import TenantClient
from integration_sync.config import TenantConfig

ELEMENT = fields.odata_name("element_id")
ENTITY = fields.odata_name("entity")


def _body(name: str, **extra: Any) -> dict[str, Any]:
    doc = {
        "name": name,
        "direction": "Outbound",
        "entity": "Invoice",
        "consent_type": "OAuth",
        "managed": True,
    }
    return {**fields.to_odata(doc), **extra}


def _seed(url: str, names: list[str], **extra: Any) -> None:
    async def go() -> None:
        async with TenantClient("seed", url) as client:
            for name in names:
                await client.create(_body(name, **extra))

    asyncio.run(go())


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tenants: list[dict[str, Any]]) -> Path:
    path = tmp_path / "integration-sync.yaml"
    lines = ["definitions: definitions", "tenants:"]
    for tenant in tenants:  # as the README writes a config: list items indented under tenants
        items = [f"{k}: {json.dumps(v)}" for k, v in tenant.items()]
        lines += [f"  - {items[0]}", *(f"    {item}" for item in items[1:])]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "definitions").mkdir(exist_ok=True)
    monkeypatch.chdir(tmp_path)
    return path


def _tenant(emulator: Any, name: str, seed: int = 3, **variations: Any) -> dict[str, Any]:
    emulator.add_tenant(name, variations=variations)
    url = str(emulator.tenant_url(name))
    if seed:
        _seed(url, [f"Seed {i}" for i in range(seed)])
    return {"name": name, "url": url}


def _checks(run: Run, tenant: str) -> dict[str, dict[str, Any]]:
    doc = json.loads(run.out)
    report = next(t for t in doc["tenants"] if t["name"] == tenant)
    return {c["check"]: c for c in report["checks"]}


def test_a_tenant_as_the_schema_says_has_nothing_to_report(
    emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _config(tmp_path, monkeypatch, [_tenant(emulator, "plain")])
    run = run_cli(capsys, "doctor", "--format", "json")
    assert run.code == 0, run.out + run.err
    checks = _checks(run, "plain")
    assert {c["verdict"] for c in checks.values()} <= {"ok", "not checked"}
    assert checks["key"]["found"] == "Id (Edm.Int32)"
    assert checks["entity: MaxLength"]["found"] == "450"
    assert checks["nextLink"]["found"] == "absolute"
    assert checks["name comparison"]["verdict"] == "ok"
    assert checks["writes"]["verdict"] == "not checked"
    for f in fields.catalogue():  # every mapped property is compared
        assert checks[f"{f.yaml}: property"]["verdict"] == "ok"
        assert checks[f"{f.yaml}: nullable"]["verdict"] == "ok"
    text = run_cli(capsys, "doctor")
    assert text.code == 0 and "Doctor: nothing blocking in 1 tenant." in text.out


@pytest.mark.slow
@pytest.mark.parametrize(
    ("variations", "check", "verdict", "found"),
    [
        ({"relative_next_link": True}, "nextLink", "ok", "relative"),
        ({"ignore_maxpagesize": True}, "Prefer: odata.maxpagesize", "differs", "ignored (3 a page)"),
        ({"page_size": 2}, "page size", "ok", "2 (more pages follow)"),
        ({"odata_401": True}, "OData-Version header", "ok", "4.01"),
        ({"odata_401": True, "page_size": 2}, "nextLink", "ok", "absolute"),
        ({"etags_off": True}, "etags", "differs", "none"),
        ({"query_options_disabled": ["$filter"]}, "$filter with tolower", "unsupported", "HTTP 400"),
        ({"query_options_disabled": ["$orderby"]}, "$orderby", "unsupported", "HTTP 400"),
        ({"query_options_disabled": ["$count"]}, "@odata.count", "unsupported", "HTTP 400, no count"),
        ({"query_options_disabled": ["$top", "$skip"]}, "authentication", "ok", "200"),
        ({"case_sensitive_names": True}, "name comparison", "differs", "case-sensitive"),
        ({"extra_properties": True}, "unmapped property", "ok", "ModifiedAt (Edm.DateTimeOffset)"),
        ({"max_lengths": {ENTITY: 40}}, "entity: MaxLength", "differs", "40"),
        ({"renamed_properties": {ELEMENT: "ElementCode"}}, "element_id: property", "differs", "ElementCode"),
    ],
)
def test_each_read_visible_switch_is_recognised(
    variations: dict[str, Any],
    check: str,
    verdict: str,
    found: str,
    emulator: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _config(tmp_path, monkeypatch, [_tenant(emulator, "varied", **variations)])
    run = run_cli(capsys, "doctor", "--format", "json")
    row = _checks(run, "varied")[check]
    assert row["verdict"] == verdict and found in row["found"], row
    blocking = "renamed_properties" in variations
    assert run.code == (1 if blocking else 0), run.out


@pytest.mark.slow
def test_a_renamed_property_and_a_narrower_length_become_config_lines_that_make_the_tenant_usable(
    emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _tenant(emulator, "ren", renamed_properties={ELEMENT: "ElementCode"}, max_lengths={ENTITY: 40})
    config = _config(tmp_path, monkeypatch, [spec])
    (tmp_path / "definitions" / "x.yaml").write_text(
        "name: Xero Export\ndirection: Outbound\nentity: Invoice\nconsent_type: OAuth\n"
        "element_id: xero-1\nmanaged: true\n",
        encoding="utf-8",
    )
    before = run_cli(capsys, "apply", "--auto-approve")
    assert before.code == 1 and ELEMENT in before.out + before.err  # the tenant has no such property
    run = run_cli(capsys, "doctor")
    assert run.code == 1
    assert "element_id: property" in run.out and "ElementCode looks like it" in run.out
    marker = "add under its entry in the config:\n"
    lines = run.out.split(marker, 1)[1].split("\n\n", 1)[0]
    assert lines == "    odata_names:\n      element_id: ElementCode\n    max_lengths:\n      entity: 40"
    markdown = run_cli(capsys, "doctor", "--format", "markdown")
    assert markdown.code == 1
    assert (
        "| element_id: property | ElementId | missing; ElementCode looks like it | **differs** |"
        in markdown.out
    )
    assert "```yaml\n" + lines + "\n```" in markdown.out
    # Paste them under the tenant's entry, as a person would.
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace(f'  url: "{spec["url"]}"\n', f'  url: "{spec["url"]}"\n{lines}\n'), encoding="utf-8"
    )
    assert run_cli(capsys, "doctor").code == 0
    plan = run_cli(capsys, "plan")
    assert plan.code == 0 and '+ create "Xero Export"' in plan.out, plan.out + plan.err
    applied = run_cli(capsys, "apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    again = run_cli(capsys, "plan", "--detailed-exitcode")
    assert again.code == 0 and "no changes" in again.out, again.out
    live = httpx.get(spec["url"] + "Integrations?$filter=ElementCode eq 'xero-1'").json()["value"]
    assert [e["Name"] for e in live] == ["Xero Export"]
    # validate holds text to the tenant's narrower limit, which the config now states
    (tmp_path / "definitions" / "x.yaml").write_text(
        f"name: Xero Export\ndirection: Outbound\nentity: {'E' * 41}\nconsent_type: OAuth\n", encoding="utf-8"
    )
    invalid = run_cli(capsys, "validate")
    assert invalid.code == 1 and "[tenant-max-length]" in invalid.out and "tenant ren" in invalid.out


@pytest.mark.slow
def test_write_probe_reports_each_reply_and_leaves_nothing_behind(
    emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    strict = _tenant(emulator, "strict", etags_required=True, duplicate_name_400=True, post_no_content=True)
    _config(tmp_path, monkeypatch, [_tenant(emulator, "plain"), strict])
    seeded = {t: len(emulator.requests(t)) for t in ("plain", "strict")}
    run = run_cli(capsys, "doctor", "--write-probe", "--format", "json")
    assert run.code == 0, run.out
    plain, varied = _checks(run, "plain"), _checks(run, "strict")
    assert plain["write: create"]["found"].startswith("201, the entity in the body")
    assert plain["write: etags required (428)"]["verdict"] == "ok"
    assert plain["write: duplicate name"]["found"].startswith("409")
    assert (
        varied["write: create"]["found"].startswith("204, no body")
        and "odata-entityid" in varied["write: create"]["found"]
    )
    assert varied["write: etags required (428)"]["verdict"] == "differs"
    assert varied["write: update"]["verdict"] == "ok"
    assert varied["write: duplicate name"]["found"].startswith("400")
    for tenant in ("plain", "strict"):
        assert _checks(run, tenant)["write: delete"]["verdict"] == "ok"
        names = [
            e["Name"] for e in httpx.get(str(emulator.tenant_url(tenant)) + "Integrations").json()["value"]
        ]
        assert names == ["Seed 0", "Seed 1", "Seed 2"]
        posts = [r for r in emulator.requests(tenant)[seeded[tenant] :] if r["method"] == "POST"]
        assert len(posts) == 2 and all(
            r["body"]["Name"].startswith("integration-sync doctor probe") for r in posts
        )


def test_a_refused_token_and_a_read_only_token_are_told_apart(
    emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.add_tenant("locked", "secret", readonly_token="rd-tok-77")
    url = str(emulator.tenant_url("locked"))
    _config(
        tmp_path,
        monkeypatch,
        [
            {"name": "wrong", "url": url, "token_env": "WRONG"},
            {"name": "reader", "url": url, "token_env": "READER"},
        ],
    )
    monkeypatch.setenv("WRONG", "nope")
    monkeypatch.setenv("READER", "rd-tok-77")
    run = run_cli(capsys, "doctor", "--write-probe", "--format", "json")
    assert run.code == 1
    assert _checks(run, "wrong")["authentication"]["found"].startswith("401")
    reader = _checks(run, "reader")
    assert reader["authentication"]["verdict"] == "ok"
    assert reader["write: create"]["found"].startswith("403") and reader["write: create"]["blocking"]
    assert "nope" not in run.out and "rd-tok-77" not in run.out + run.err


def test_an_unreadable_tenant_is_one_line_and_the_others_go_on(
    emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _config(
        tmp_path, monkeypatch, [{"name": "gone", "url": "http://127.0.0.1:9/x/"}, _tenant(emulator, "plain")]
    )
    run = run_cli(capsys, "doctor")
    assert run.code == 1
    gone = [line for line in run.out.splitlines() if line.startswith("Tenant gone")]
    assert len(gone) == 1 and "error:" in gone[0]
    assert "Tenant plain" in run.out and "Doctor: 1 of 2 tenants blocking: gone." in run.out
    assert "Traceback" not in run.err


# --- $metadata as input -----------------------------------------------------------------------------


def _mock(metadata: bytes, content_type: str = "application/xml") -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("$metadata"):
            return httpx.Response(200, content=metadata, headers={"Content-Type": content_type})
        return httpx.Response(200, json={"value": []}, headers={"OData-Version": "4.0"})

    return httpx.MockTransport(handle)


def _diagnose(transport: httpx.MockTransport) -> doctor.TenantReport:
    async def go() -> doctor.TenantReport:
        async with TenantClient("t", "https://t.example/OData/", transport=transport) as client:
            return await doctor.diagnose(client, TenantConfig("t", "https://t.example/OData/"), "u")

    return asyncio.run(go())


def test_metadata_with_entities_or_over_the_cap_is_one_error() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        b"<edmx:Edmx xmlns:edmx='http://docs.oasis-open.org/odata/ns/edmx'>&b;</edmx:Edmx>"
    )
    report = _diagnose(_mock(bomb))
    assert report.blocking and report.error is not None and "DOCTYPE" in report.error
    huge = b"<a>" + b" " * (doctor.MAX_METADATA_BYTES + 1) + b"</a>"
    report = _diagnose(_mock(huge))
    assert report.error is not None and "larger than" in report.error
    report = _diagnose(_mock(b"<not xml"))
    assert report.error is not None and "not well-formed" in report.error


def test_csdl_json_is_read_as_the_xml_is() -> None:
    from integration_sync.emulator import metadata

    xml = doctor.parse_metadata(metadata.csdl().encode())
    props: dict[str, Any] = {}
    for p in xml["Integrations"].properties.values():
        entry: dict[str, Any] = {"$Type": p.type}
        if p.nullable:
            entry["$Nullable"] = True
        if p.max_length is not None:
            entry["$MaxLength"] = p.max_length
        props[p.name] = entry
    doc = {
        "$Version": "4.0",
        "$EntityContainer": "FK.Container",
        "FK": {
            "Integration": {"$Kind": "EntityType", "$Key": ["Id"], **props},
            "Container": {
                "$Kind": "EntityContainer",
                "Integrations": {"$Collection": True, "$Type": "FK.Integration"},
            },
        },
    }
    report = _diagnose(_mock(json.dumps(doc).encode(), "application/json"))
    assert report.error is None
    verdicts = {c.check: c.verdict for c in report.checks}
    assert (
        verdicts["key"] == "ok"
        and verdicts["name: MaxLength"] == "ok"
        and verdicts["notes: nullable"] == "ok"
    )
    assert not report.blocking


def test_a_key_of_another_type_and_a_type_that_cannot_hold_the_values_block() -> None:
    from integration_sync.emulator import metadata

    text = metadata.csdl().replace('Name="Id" Type="Edm.Int32"', 'Name="Id" Type="Edm.Guid"')
    text = text.replace('Name="BatchSize" Type="Edm.Int32"', 'Name="BatchSize" Type="Edm.Int16"')
    text = text.replace('Name="SystemId" Type="Edm.Int32"', 'Name="SystemId" Type="Edm.Int64"')
    report = _diagnose(_mock(text.encode()))
    checks = {c.check: c for c in report.checks}
    assert checks["key"].blocking and checks["batch_size: type"].blocking
    assert checks["system_id: type"].verdict == "differs" and not checks["system_id: type"].blocking
