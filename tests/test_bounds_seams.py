"""Bounds where the commands added beside plan and apply meet a hostile tenant or file: doctor and
``import --fleet`` keep the tenant's deadline, doctor shows no text of a server unredacted, and a plan
path that is a FIFO, a device or a huge file is refused without blocking or filling memory."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import httpx
import pytest
from cli_run import run_cli
from hostile_server import Conn, HostileServer, reply

from integration_sync import doctor, fields, plan
from integration_sync.client import TenantClient
from integration_sync.config import TenantConfig

TOKEN = "tok-3f9a1c77e2d54b0b9e1aa0c4d2f6e8b1"

METADATA = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices>'
    b'<Schema Namespace="FK" xmlns="http://docs.oasis-open.org/odata/ns/edm">'
    b'<EntityType Name="Integration"><Key><PropertyRef Name="Id"/></Key>'
    b'<Property Name="Id" Type="Edm.Int32" Nullable="false"/>'
    b'<Property Name="Notes" Type="Edm.String" MaxLength="%s"/></EntityType>'
    b'<EntityContainer Name="C"><EntitySet Name="Integrations" EntityType="FK.Integration"/>'
    b"</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>"
)


def _config(tmp_path: Path, tenants: list[str], settings: str = "") -> Path:
    (tmp_path / "definitions").mkdir(exist_ok=True)
    text = "definitions: definitions\ntenants:\n" + "".join(f"  - {t}\n" for t in tenants)
    if settings:
        text += f"settings: {{{settings}}}\n"
    (tmp_path / "integration-sync.yaml").write_text(text, encoding="utf-8")
    return tmp_path


# --- doctor -----------------------------------------------------------------------------------------


def _echoing(max_length: bytes = b"200") -> HostileServer:
    """A tenant that echoes the bearer token it was sent in every text doctor shows: a header, an entity
    set's name, an error message."""

    async def script(conn: Conn) -> None:
        token = conn.headers.get("authorization", "").removeprefix("Bearer ")
        if "$metadata" in conn.path:
            await conn.send(reply(200, METADATA % max_length, "application/xml", odata_version="4.0"))
        elif conn.request_line.startswith(("POST", "PATCH", "DELETE")):
            error = {"error": {"code": "X", "message": f"refused for {token}"}}
            await conn.send(reply(400, json.dumps(error).encode(), odata_version=f"4.0 {token}"))
        else:
            body = {"value": [{"Id": 1, "Name": f"Probe {token}"}]}
            await conn.send(reply(200, json.dumps(body).encode(), odata_version=f"4.0 {token}"))

    return HostileServer(script)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_doctor_shows_no_token_a_tenant_echoes(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECHO_TOKEN", TOKEN)
    with _echoing() as server:
        monkeypatch.chdir(
            _config(tmp_path, [f"{{name: echo, url: '{server.url}/OData/', token_env: ECHO_TOKEN}}"])
        )
        run = run_cli(capsys, "-v", "doctor", "--write-probe", "--format", fmt)
        assert any(TOKEN in c.headers.get("authorization", "") for c in server.requests)
    assert run.code == 1
    assert TOKEN not in run.out and TOKEN not in run.err
    assert TOKEN[:12] not in run.out  # not a clipped piece either
    swapped = TOKEN.swapcase()  # doctor asks for the sample name in the other case: -v logs that URL
    assert swapped not in run.out and swapped not in run.err
    assert "***" in run.out  # the echoed text is there, redacted


@pytest.mark.timeout(60)
@pytest.mark.parametrize("max_length", [b"\xc2\xb2", b"9" * 5000])
def test_a_metadata_max_length_that_is_no_number_is_a_finding_not_an_internal_error(
    max_length: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with _echoing(max_length) as server:
        monkeypatch.chdir(_config(tmp_path, [f"{{name: odd, url: '{server.url}/OData/'}}"]))
        run = run_cli(capsys, "doctor", "--format", "json")
    report = json.loads(run.out)["tenants"][0]
    assert report["error"] is None
    notes = {c["check"]: c for c in report["checks"]}["notes: MaxLength"]
    assert notes["found"] == "none" and notes["verdict"] == "ok"


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_doctor_keeps_the_tenants_deadline_and_the_other_tenant_is_examined(
    emulator: object, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.add_tenant("quick")  # type: ignore[attr-defined]
    quick = emulator.tenant_url("quick")  # type: ignore[attr-defined]

    async def slow(conn: Conn) -> None:  # each reply well within timeout_s, all of them not
        await conn.pause(0.7)
        await conn.send(reply(200, b'{"value": []}', odata_version="4.0"))

    with HostileServer(slow) as server:
        monkeypatch.chdir(
            _config(
                tmp_path,
                [f"{{name: slow, url: '{server.url}/OData/'}}", f"{{name: quick, url: '{quick}'}}"],
                "timeout_s: 30, tenant_deadline_s: 1",
            )
        )
        run = run_cli(capsys, "doctor", "--format", "json")
        asked = len(server.requests)
    assert run.code == 1
    by_name = {t["name"]: t for t in json.loads(run.out)["tenants"]}
    assert by_name["slow"]["error"] == (
        "tenant slow: doctor did not finish within settings.tenant_deadline_s (1 s)"
    )
    assert asked <= 2  # a dozen probes would take 8 s
    assert by_name["quick"]["error"] is None and by_name["quick"]["ok"] is True


@pytest.mark.parametrize(
    "csdl",
    [
        b'{"FK": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"FK": {"Integration": {"$Kind": "EntityType", "$Key": [7]}}}',
        b'{"FK": {"Integration": {"$Kind": "EntityType", "$Key": [{"k": {"x": 1}}]},'
        b' "C": {"$Kind": "EntityContainer", "Integrations": {"$Collection": true,'
        b' "$Type": "FK.Integration"}}}}',
    ],
)
def test_csdl_json_of_another_shape_is_a_finding_not_an_internal_error(csdl: bytes) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("$metadata"):
            return httpx.Response(200, content=csdl)
        return httpx.Response(200, json={"value": []}, headers={"OData-Version": "4.0"})

    async def go() -> doctor.TenantReport:
        transport = httpx.MockTransport(handle)
        async with TenantClient("t", "https://t.example/OData/", transport=transport) as client:
            return await doctor.diagnose(client, TenantConfig("t", "https://t.example/OData/"), "u")

    report = asyncio.run(go())  # no exception escapes the tenant's report
    assert report.blocking
    if report.error is None:
        assert {c.check: c.verdict for c in report.checks}["key"] == "differs"
    else:
        assert report.error.startswith("$metadata cannot be read: "), report.error


# --- import --fleet ---------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_import_fleet_keeps_the_tenants_deadline_over_a_listing_that_never_ends(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def endless(conn: Conn) -> None:  # every page new rows and another link, each within timeout_s
        page = int(conn.path.rsplit("page=", 1)[1]) if "page=" in conn.path else 0
        await conn.pause(0.4)
        row = fields.to_odata(
            {
                "name": f"Row {page}",
                "direction": "Inbound",
                "entity": "Payment",
                "consent_type": "OAuth",
                "managed": True,
            }
        )
        body = {"value": [{**row, "Id": page + 1}], "@odata.nextLink": f"Integrations?page={page + 1}"}
        await conn.send(reply(200, json.dumps(body).encode()))

    target = tmp_path / "adopted"
    with HostileServer(endless) as server:
        monkeypatch.chdir(
            _config(
                tmp_path,
                [f"{{name: endless, url: '{server.url}/OData/'}}"],
                "timeout_s: 30, tenant_deadline_s: 1",
            )
        )
        run = run_cli(capsys, "import", "--fleet", "--dir", str(target))
        pages = len(server.requests)
    assert run.code == 1
    assert (
        "error: tenant endless: the listing did not finish within settings.tenant_deadline_s (1 s)" in run.err
    )
    assert pages <= 4
    assert not target.exists() or list(target.iterdir()) == []
    assert "Traceback" not in run.err


# --- plan files as input ----------------------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("command", [["show"], ["apply"]])
def test_a_fifo_given_as_a_plan_is_refused_without_blocking(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(_config(tmp_path, ["{name: t, url: 'emulator:t'}"]))
    fifo = tmp_path / "plan.json"
    os.mkfifo(fifo)  # no writer: a plain open for reading would wait for one forever
    run = run_cli(capsys, *command, str(fifo))
    assert run.code == 1
    assert run.err.strip().splitlines() == [
        f"error: {fifo}: cannot read plan file: not a regular file (a FIFO, device or socket): "
        "only regular files are read"
    ]


@pytest.mark.timeout(30)
def test_a_device_given_as_a_plan_is_never_read(capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, "show", "/dev/zero")
    assert run.code == 1
    assert "not a regular file" in run.err and len(run.err.strip().splitlines()) == 1


@pytest.mark.timeout(30)
def test_a_plan_file_over_the_cap_is_refused_by_the_bytes_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan.saved, "MAX_PLAN_BYTES", 1024)
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"format_version": plan.FORMAT_VERSION, "pad": "x" * 4096}))
    run = run_cli(capsys, "show", str(big))
    assert run.code == 1
    assert run.err.strip() == f"error: {big}: cannot read plan file: it is larger than 1024 bytes"


# --- init -------------------------------------------------------------------------------------------


def test_init_writes_nothing_through_a_symlink_that_leads_outside_its_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, outside = tmp_path / "repo", tmp_path / "outside"
    repo.mkdir()
    outside.mkdir()
    (repo / ".github").symlink_to(outside)  # a cloned repository may hold any symlink
    (repo / "schemas").symlink_to(outside / "schemas")  # dangling: mkdir would create it outside
    run = run_cli(capsys, "init", str(repo))
    assert run.code == 0
    assert list(outside.iterdir()) == []
    skipped = [line for line in run.out.splitlines() if "outside" in line]
    assert len(skipped) == 5  # three workflows and two schemas
    assert all(line.endswith(f"a symlink leads it outside {repo}") for line in skipped), skipped
    assert (repo / "integration-sync.yaml").is_file() and (repo / ".vscode" / "settings.json").is_file()


# --- --debug ----------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_debug_shows_the_traceback_of_a_failed_command_with_the_token_redacted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def script(conn: Conn) -> None:  # h11 quotes a status line it cannot read in its error
        token = conn.headers.get("authorization", "").removeprefix("Bearer ")
        await conn.send(f"HTTP/1.1 2x0 {token}\r\ncontent-length: 0\r\n\r\n".encode())

    monkeypatch.setenv("ECHO_TOKEN", TOKEN)
    with HostileServer(script) as server:
        monkeypatch.chdir(
            _config(
                tmp_path,
                [f"{{name: odd, url: '{server.url}/OData/', token_env: ECHO_TOKEN}}"],
                "max_retries: 0",
            )
        )
        run = run_cli(capsys, "--debug", "import", "--tenant", "odd", "--dir", "adopted")
        assert len(server.requests) == 1
    assert run.code == 1
    assert "Traceback" in run.err and "illegal status line" in run.err
    assert TOKEN not in run.err and TOKEN not in run.out
    assert run.err.rstrip().splitlines()[-1].startswith("error: tenant odd: ")


# --- server text: redacted whole, then clipped --------------------------------------------------------


def _at_the_edge(edge: int) -> str:
    """Filler that puts the token across the ``edge``-th character of a clipped text."""
    return "a" * (edge - len(TOKEN) // 2)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "answer",
    [
        # a content type that is not JSON, the token across its 200-character clip
        lambda tok: reply(200, b"<html/>", "text/html; x=" + _at_the_edge(200 - 13) + tok),
        # a next link that is not a URL, the token across its 200-character clip
        lambda tok: reply(
            200,
            json.dumps(
                {"value": [], "@odata.nextLink": "http://xn--/" + _at_the_edge(200 - 12) + tok}
            ).encode(),
        ),
        # a next link outside the base path, the token across the message's 500-character clip
        lambda tok: reply(
            200,
            json.dumps({"value": [], "@odata.nextLink": "/other/" + _at_the_edge(500 - 7) + tok}).encode(),
        ),
        # a content coding that was not asked for, the token across its 40-character clip
        lambda tok: reply(200, b"{}", content_encoding="x" + _at_the_edge(40 - 1) + tok),
        # a count that is no count, the token across its 40-character clip
        lambda tok: reply(200, json.dumps({"value": [], "@odata.count": _at_the_edge(40) + tok}).encode()),
    ],
    ids=["content-type", "unusable-link", "link-outside", "content-coding", "count"],
)
def test_server_text_in_an_error_is_redacted_before_it_is_clipped(
    answer: object, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def script(conn: Conn) -> None:
        token = conn.headers.get("authorization", "").removeprefix("Bearer ")
        await conn.send(answer(token))  # type: ignore[operator]

    monkeypatch.setenv("ECHO_TOKEN", TOKEN)
    with HostileServer(script) as server:
        monkeypatch.chdir(
            _config(tmp_path, [f"{{name: echo, url: '{server.url}/OData/', token_env: ECHO_TOKEN}}"])
        )
        run = run_cli(capsys, "plan", "--format", "json")
        assert len(server.requests) == 1
    assert run.code == 1
    error = json.loads(run.out)["tenants"][0]["error"]
    assert error is not None and "aaaa" in error  # the server's text is there ...
    assert TOKEN[:6] not in run.out + run.err  # ... without a first piece of the token


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize("use_vars", [False, True])
def test_import_fleet_leaves_out_only_an_integration_whose_live_value_no_file_can_hold(
    use_vars: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def row(key: int, name: str, notes: str) -> dict[str, object]:
        doc = {
            "name": name,
            "direction": "Inbound",
            "entity": "Payment",
            "consent_type": "OAuth",
            "managed": True,
            "notes": notes,
        }
        return {**fields.to_odata(doc), "Id": key}

    async def script(conn: Conn) -> None:  # .NET writes broken UTF-16 as a lone surrogate
        # without --vars the majority value is written (a tie: the first tenant's); with it, each one
        broken = "x\ud800y" if conn.path.startswith(f"/{holder}/") else "fine"
        body = {"value": [row(1, "Good One", "same"), row(2, "Bad One", broken)]}
        await conn.send(reply(200, json.dumps(body).encode()))

    holder = "b" if use_vars else "a"
    target = tmp_path / "adopted"
    with HostileServer(script) as server:
        monkeypatch.chdir(
            _config(
                tmp_path,
                [f"{{name: a, url: '{server.url}/a/OData/'}}", f"{{name: b, url: '{server.url}/b/OData/'}}"],
            )
        )
        run = run_cli(capsys, "import", "--fleet", "--dir", str(target), *(["--vars"] if use_vars else []))
    assert run.code == 1
    assert sorted(p.name for p in target.iterdir()) == ["good-one.yaml"]
    assert run.err.strip().splitlines() == [
        f"error: 'Bad One' was not imported: its notes on tenant {holder} holds a lone surrogate (broken "
        "UTF-16 from the tenant), which a YAML file cannot hold; fix the value on the tenant"
    ]
    assert run_cli(capsys, "validate").code == 0  # the config (and its vars) still loads


# --- the environment: GITHUB_STEP_SUMMARY ------------------------------------------------------------


@pytest.mark.timeout(60)
def test_a_step_summary_that_is_a_fifo_is_a_warning_and_never_blocks_the_plan(
    emulator: object, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.add_tenant("t")  # type: ignore[attr-defined]
    url = emulator.tenant_url("t")  # type: ignore[attr-defined]
    monkeypatch.chdir(_config(tmp_path, [f"{{name: t, url: '{url}'}}"]))
    fifo = tmp_path / "summary"
    os.mkfifo(fifo)  # no reader: opening it for writing the usual way would wait for one forever
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(fifo))
    run = run_cli(capsys, "plan")
    assert run.code == 0 and "No changes" in run.out
    assert run.err.strip().splitlines() == [
        f"WARNING integration_sync.ci: cannot write the GitHub step summary {fifo}: only a regular file is "
        "written (a FIFO, device or socket is not)"
    ]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("counted", [b"[1]", b'"7"', b"3"])
def test_a_count_reply_that_is_no_object_is_a_finding_not_an_internal_error(
    counted: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def script(conn: Conn) -> None:
        if "$metadata" in conn.path:
            await conn.send(reply(200, METADATA % b"200", "application/xml"))
        elif "$count" in conn.path:
            await conn.send(reply(200, counted))
        else:
            await conn.send(reply(200, b'{"value": []}', odata_version="4.0"))

    with HostileServer(script) as server:
        monkeypatch.chdir(_config(tmp_path, [f"{{name: odd, url: '{server.url}/OData/'}}"]))
        run = run_cli(capsys, "doctor", "--format", "json")
    report = json.loads(run.out)["tenants"][0]
    assert report["error"] is None
    count = {c["check"]: c for c in report["checks"]}["@odata.count"]
    assert (count["found"], count["verdict"]) == ("HTTP 200, no count", "unsupported")


@pytest.mark.timeout(60)
def test_a_write_probe_whose_etag_is_no_text_still_deletes_what_it_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def script(conn: Conn) -> None:
        if "$metadata" in conn.path:
            await conn.send(reply(200, METADATA % b"200", "application/xml"))
        elif conn.request_line.startswith("POST"):
            await conn.send(reply(201, json.dumps({"Id": 5, "@odata.etag": 5}).encode()))
        elif conn.request_line.startswith(("PATCH", "DELETE")):
            await conn.send(reply(204, b""))
        else:
            await conn.send(reply(200, b'{"value": []}', odata_version="4.0"))

    with HostileServer(script) as server:
        monkeypatch.chdir(_config(tmp_path, [f"{{name: odd, url: '{server.url}/OData/'}}"]))
        run = run_cli(capsys, "doctor", "--write-probe", "--format", "json")
        deletes = [c.path for c in server.requests if c.request_line.startswith("DELETE")]
    report = json.loads(run.out)["tenants"][0]
    assert report["error"] is None
    assert deletes == ["/OData/Integrations(5)", "/OData/Integrations(5)"]  # the probe and its twin
    checks = {c["check"]: c for c in report["checks"]}
    assert checks["write: delete"]["verdict"] == "ok"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fleet", [False, True])
def test_import_leaves_out_only_an_integration_whose_live_value_nests_too_deep_for_a_file(
    fleet: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    good = {"name": "Good One", "direction": "Inbound", "entity": "Payment", "consent_type": "OAuth"}
    row = json.dumps({**fields.to_odata({**good, "managed": True}), "Id": 1})
    deep = row.replace('"Good One"', '"Deep One"').replace('"Id": 1', '"Id": 2')
    deep = deep[:-1] + f', "{fields.odata_name("notes")}": ' + "[" * 900 + "]" * 900 + "}"

    async def script(conn: Conn) -> None:  # well within what JSON reads, far past what YAML writes
        await conn.send(reply(200, b'{"value": [' + row.encode() + b", " + deep.encode() + b"]}"))

    target = tmp_path / "adopted"
    with HostileServer(script) as server:
        monkeypatch.chdir(_config(tmp_path, [f"{{name: t, url: '{server.url}/OData/'}}"]))
        how = ["--fleet"] if fleet else ["--tenant", "t"]
        run = run_cli(capsys, "import", *how, "--dir", str(target))
    assert run.code == 1
    assert sorted(p.name for p in target.iterdir()) == ["good-one.yaml"]
    where = " on tenant t" if fleet else ""
    assert run.err.strip().splitlines() == [
        f"error: 'Deep One' was not imported: its notes{where} is nested more than 32 deep, which a YAML "
        "file cannot hold; fix the value on the tenant"
    ]


@pytest.mark.timeout(60)
def test_a_live_value_too_deep_for_a_plan_file_fails_its_tenant_and_the_saved_plan_reads(
    emulator: object, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.add_tenant("fine")  # type: ignore[attr-defined]
    fine = emulator.tenant_url("fine")  # type: ignore[attr-defined]
    doc = {"name": "Deep One", "direction": "Inbound", "entity": "Payment", "consent_type": "OAuth"}
    row = json.dumps({**fields.to_odata({**doc, "managed": True}), "Id": 2})
    deep = row[:-1] + f', "{fields.odata_name("notes")}": ' + "[" * 200 + "]" * 200 + "}"

    async def script(conn: Conn) -> None:  # a managed orphan: its values go into the plan's delete
        await conn.send(reply(200, b'{"value": [' + deep.encode() + b"]}"))

    with HostileServer(script) as server:
        monkeypatch.chdir(
            _config(
                tmp_path, [f"{{name: deep, url: '{server.url}/OData/'}}", f"{{name: fine, url: '{fine}'}}"]
            )
        )
        run = run_cli(capsys, "plan", "--allow-delete", "--out", "plan.json")
    assert run.code == 1
    shown = run_cli(capsys, "show", "plan.json", "--format", "json")
    assert shown.code == 0  # the tool reads the plan it saved
    tenants = {t["name"]: t for t in json.loads(shown.out)["tenants"]}
    assert tenants["fine"]["error"] is None
    assert tenants["deep"]["error"] == (
        "a live integration holds a value nested too deeply for a plan file to hold it "
        "(fix the value on the tenant)"
    )
