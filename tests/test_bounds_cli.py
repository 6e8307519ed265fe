"""Bounds through the real CLI: one tenant that hangs, throttles, refuses connections, breaks the tool or
sends text UTF-8 cannot hold is reported in one line while the other tenant is planned; proxies never
carry loopback traffic; SIGTERM in a background job ends with one line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_run import run_cli
from hostile_server import Conn, HostileServer, reply

from integration_sync import fields

pytestmark = pytest.mark.slow  # each test runs the CLI or a server end to end

DEFINITION = "name: Payments\ndirection: Inbound\nentity: Payment\nconsent_type: OAuth\nmanaged: true\n"


def project(tmp_path: Path, tenants: dict[str, str], settings: str = "") -> Path:
    (tmp_path / "definitions").mkdir(exist_ok=True)
    (tmp_path / "definitions" / "payments.yaml").write_text(DEFINITION)
    lines = [f"  - {{name: {name}, url: '{url}'}}" for name, url in tenants.items()]
    text = "definitions: definitions\ntenants:\n" + "\n".join(lines) + "\n"
    if settings:
        text += f"settings: {{{settings}}}\n"
    (tmp_path / "integration-sync.yaml").write_text(text)
    return tmp_path


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


async def _silent(conn: Conn) -> None:
    await conn.pause(3600)


@pytest.mark.timeout(60)
def test_a_tenant_that_never_answers_fails_at_its_deadline_and_the_other_is_planned(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.add_tenant("fast")
    with HostileServer(_silent) as slow:
        monkeypatch.chdir(
            project(
                tmp_path,
                {"fast": str(emulator.tenant_url("fast")), "slow": f"{slow.url}/OData/"},
                "timeout_s: 600, tenant_deadline_s: 1",
            )
        )
        run = run_cli(capsys, "plan", "--format", "json")
        assert len(slow.requests) == 1  # the request was never retried: the deadline is the tenant's
    assert run.code == 1
    plan = json.loads(run.out)
    by_name = {t["name"]: t for t in plan["tenants"]}
    assert by_name["fast"]["error"] is None
    assert by_name["slow"]["error"] == "the listing did not finish within settings.tenant_deadline_s (1 s)"


@pytest.mark.timeout(60)
def test_a_refused_connection_is_one_line_after_one_attempt(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.add_tenant("fast")
    port = _closed_port()
    monkeypatch.chdir(
        project(
            tmp_path, {"fast": str(emulator.tenant_url("fast")), "gone": f"http://127.0.0.1:{port}/OData/"}
        )
    )
    run = run_cli(capsys, "plan", "--format", "json")
    assert run.code == 1
    tenants = {t["name"]: t for t in json.loads(run.out)["tenants"]}
    assert tenants["fast"]["error"] is None
    assert tenants["gone"]["error"].startswith("GET /OData/Integrations?$count=true: no reply (not retried")
    assert "ConnectError" in tenants["gone"]["error"]


@pytest.mark.timeout(60)
def test_throttling_past_the_budget_fails_the_tenant_saying_what_it_waited(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def throttle(conn: Conn) -> None:
        await conn.send(reply(429, b"", retry_after="3600"))

    with HostileServer(throttle) as server:
        monkeypatch.chdir(project(tmp_path, {"busy": f"{server.url}/OData/"}, "retry_budget_s: 10"))
        run = run_cli(capsys, "plan", "--format", "json")
        assert len(server.requests) == 1  # the pause it asks for (capped at 30 s) is over the budget
    assert run.code == 1
    error = json.loads(run.out)["tenants"][0]["error"]
    assert "HTTP 429" in error
    assert "paused 0 s in all and asked for 30 s more, past settings.retry_budget_s (10 s)" in error


@pytest.mark.timeout(120)
def test_the_embedded_tenant_works_with_proxy_variables_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def record(conn: Conn) -> None:
        await conn.send(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")

    with HostileServer(record) as proxy:
        monkeypatch.delenv("NO_PROXY", raising=False)
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY"):
            monkeypatch.setenv(name, proxy.url)
        (tmp_path / "definitions").mkdir()
        (tmp_path / "definitions" / "payments.yaml").write_text(DEFINITION)
        monkeypatch.chdir(tmp_path)  # no config: the embedded tenant "local"
        run = run_cli(capsys, "plan", "--format", "json")
        assert proxy.requests == []  # the bearer token never went to the proxy
    assert run.code in (0, 2), run.err  # planned (2: changes to apply)
    assert json.loads(run.out)["tenants"][0]["error"] is None


@pytest.mark.timeout(60)
def test_an_unexpected_exception_fails_only_its_tenant(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from integration_sync import fleet

    emulator.add_tenant("good")
    emulator.add_tenant("cursed")
    real = fleet.plan_tenant

    def plan_tenant(desired: Any, live: Any, options: Any) -> Any:
        if options.safety.max_change_pct == 42:  # the cursed tenant's own setting
            raise ZeroDivisionError("a bug")
        return real(desired, live, options)

    monkeypatch.setattr(fleet, "plan_tenant", plan_tenant)
    root = project(
        tmp_path, {"good": str(emulator.tenant_url("good")), "cursed": str(emulator.tenant_url("cursed"))}
    )
    config = (root / "integration-sync.yaml").read_text()
    config = config.replace("cursed, url:", "cursed, safety: {max_change_pct: 42}, url:")
    (root / "integration-sync.yaml").write_text(config)
    monkeypatch.chdir(root)
    run = run_cli(capsys, "plan")
    assert run.code == 1
    assert "Traceback" not in run.err
    assert "internal error (ZeroDivisionError: a bug); --debug shows the traceback" in run.out
    assert 'create "Payments"' in run.out  # the good tenant was planned
    debug = run_cli(capsys, "--debug", "plan")
    assert "Traceback" in debug.err and "ZeroDivisionError: a bug" in debug.err


@pytest.mark.timeout(60)
def test_a_plan_file_nested_100000_deep_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "deep.json").write_text('{"tenants": ' + "[" * 100_000 + "]" * 100_000 + "}")
    monkeypatch.chdir(tmp_path)
    run = run_cli(capsys, "apply", "deep.json", "--auto-approve")
    assert run.code == 1
    assert "Traceback" not in run.err
    assert run.err.strip().splitlines() == [
        "error: deep.json: not a plan file: its JSON is nested too deeply"
    ]


LONE = "bad \\ud800 text"  # as JSON writes it: a lone surrogate, which .NET emits for broken UTF-16


def _surrogate_tenant() -> bytes:
    """A listing whose one integration's notes hold a lone surrogate, as the JSON escape it travels as."""
    values = {"name": "Payments", "direction": "Inbound", "entity": "Payment", "consent_type": "OAuth"}
    item = {fields.ODATA_KEY: 1, **fields.to_odata({**values, "managed": True, "notes": "@@"})}
    return json.dumps({"value": [item]}).replace("@@", LONE).encode()


@pytest.mark.timeout(60)
def test_a_lone_surrogate_is_kept_escaped_in_the_plan_and_fails_only_an_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    body = _surrogate_tenant()

    async def serve(conn: Conn) -> None:
        await conn.send(reply(200, body))

    with HostileServer(serve) as server:
        root = project(tmp_path, {"h": f"{server.url}/OData/"})
        (root / "definitions" / "payments.yaml").write_text(DEFINITION + "notes: good\n")
        monkeypatch.chdir(root)
        planned = run_cli(capsys, "plan", "--out", "p.json")
        assert planned.code in (0, 2), planned.err
        saved = (root / "p.json").read_text(encoding="utf-8")  # valid UTF-8
        assert LONE in saved  # escaped, as JSON allows
        assert "\\ud800" in planned.out  # shown escaped on the terminal too
        (root / "definitions" / "payments.yaml").unlink()
        (root / "imported").mkdir()
        imported = run_cli(capsys, "import", "--tenant", "h", "--dir", "imported")
    assert imported.code == 1
    assert "'Payments' was not imported: its notes holds a lone surrogate" in imported.err
    assert list((root / "imported").iterdir()) == []


@pytest.mark.timeout(180)
def test_sigterm_with_sigint_ignored_ends_with_its_one_line(tmp_path: Path) -> None:
    with HostileServer(_silent) as slow:
        root = project(tmp_path, {"slow": f"{slow.url}/OData/", "slower": f"{slow.url}/OData/"})
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        proc = subprocess.Popen(
            [sys.executable, "-m", "integration_sync", "plan"],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # as a job started with &
        )
        try:
            # start-up under coverage on a busy machine can take a while: wait for both requests, not a time
            deadline = time.monotonic() + 120
            while len(slow.requests) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(slow.requests) == 2  # both tenants are waiting for their replies
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
            proc.communicate()  # close the pipes even when the test failed, so no later test sees them
    assert proc.returncode == 130, (out, err)
    assert err.strip().splitlines() == ["Interrupted: nothing more was started."]


def test_httpx_is_not_asked_to_read_proxy_settings_itself() -> None:
    """The client picks proxies (client.proxy_for); httpx's own reading of the environment stays off,
    so that NO_PROXY quirks or a .netrc never decide where a token goes."""
    from integration_sync.client import TenantClient

    c = TenantClient("t", "http://127.0.0.1:1/OData/")
    assert isinstance(c._http, httpx.AsyncClient)
    assert c._http.trust_env is False


@pytest.mark.timeout(120)
def test_at_apply_the_tenant_deadline_acts_like_an_interrupt(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.add_tenant("slow")
    root = project(tmp_path, {"slow": str(emulator.tenant_url("slow"))}, "tenant_deadline_s: 1")
    for i in range(1, 4):
        (root / "definitions" / f"more{i}.yaml").write_text(DEFINITION.replace("Payments", f"More {i}"))
    monkeypatch.chdir(root)
    planned = run_cli(capsys, "plan", "--out", "p.json")
    assert planned.code == 0, planned.err
    emulator.set_faults("slow", latency_ms=1500, methods=["POST"])  # each create outlasts the deadline
    applied = run_cli(capsys, "apply", "p.json", "--auto-approve", "--report", "r.json")
    assert applied.code == 1
    report = json.loads((root / "r.json").read_text())
    tenant = report["tenants"][0]
    assert tenant["error"] == "the apply did not finish within settings.tenant_deadline_s (1 s)"
    statuses = [i["status"] for i in tenant["items"]]
    assert "failed" not in statuses  # the create in flight finished; nothing was cut off
    skipped = [i for i in tenant["items"] if i["status"] == "skipped"]
    assert len(skipped) >= 3
    assert {i["reason"] for i in skipped} == {
        "not started: the tenant's deadline passed (settings.tenant_deadline_s: 1 s)"
    }
    posts = [r for r in emulator.requests("slow") if r["method"] == "POST"]
    assert len(posts) == statuses.count("done")  # nothing was started after the deadline


@pytest.mark.timeout(120)
def test_at_apply_an_unexpected_exception_fails_only_its_tenant(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from integration_sync import applier

    emulator.add_tenant("good")
    emulator.add_tenant("cursed")
    root = project(
        tmp_path, {"good": str(emulator.tenant_url("good")), "cursed": str(emulator.tenant_url("cursed"))}
    )
    monkeypatch.chdir(root)
    assert run_cli(capsys, "plan", "--out", "p.json").code == 0
    real = applier._TenantRun._write

    async def write(self: Any, i: int, change: Any) -> str:
        if self.tenant.name == "cursed":
            raise ZeroDivisionError("a bug")
        result: str = await real(self, i, change)
        return result

    monkeypatch.setattr(applier._TenantRun, "_write", write)
    applied = run_cli(capsys, "apply", "p.json", "--auto-approve", "--report", "r.json")
    assert applied.code == 1
    assert "Traceback" not in applied.err
    tenants = {t["name"]: t for t in json.loads((root / "r.json").read_text())["tenants"]}
    assert tenants["good"]["ok"] is True
    assert (
        tenants["cursed"]["error"] == "internal error (ZeroDivisionError: a bug); --debug shows the traceback"
    )
    assert [i["status"] for i in tenants["cursed"]["items"]] == ["failed"]
    assert {r["method"] for r in emulator.requests("cursed")} == {"GET"}  # the reads; nothing written
