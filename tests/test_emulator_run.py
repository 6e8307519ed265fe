"""Running the emulator: embedded mode, the ``emulator`` command, third-party OData clients."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests
from click.testing import CliRunner

from integration_sync import fields
from integration_sync.cli import cli
from integration_sync.emulator import EmulatorServer, start_server
from integration_sync.emulator.demo import DEMO_DEFINITIONS, seed_demo
from integration_sync.emulator.embedded import db_path, start_embedded, tenant_name

pytestmark = pytest.mark.slow  # each test runs the CLI or a server end to end

NAME = fields.name_property()
MANAGED = fields.managed_property()


def body(name: str) -> dict[str, object]:
    return fields.to_odata({"name": name, "direction": "Inbound", "entity": "E", "consent_type": "None"})


# --- embedded mode ----------------------------------------------------------------------------------


def test_embedded_seeds_each_tenant_once_and_keeps_state_between_runs(tmp_path: Path) -> None:
    with start_embedded(tmp_path, ["local"]) as emu, httpx.Client() as c:
        assert emu.url.startswith("http://127.0.0.1:")
        live = c.get(emu.tenant_url("local") + "Integrations").json()["value"]
        assert [e[NAME] for e in live] == [d["name"] for d in DEMO_DEFINITIONS]
        assert all(e[MANAGED] is False for e in live)  # client-owned: the tool never deletes them
        assert c.post(emu.tenant_url("local") + "Integrations", json=body("Mine")).status_code == 201
    assert db_path(tmp_path) == tmp_path / ".integration-sync" / "emulator.sqlite3"
    assert db_path(tmp_path).is_file()
    with start_embedded(tmp_path, ["local", "second"]) as emu, httpx.Client() as c:
        names = [e[NAME] for e in c.get(emu.tenant_url("local") + "Integrations").json()["value"]]
        assert names == [*(d["name"] for d in DEMO_DEFINITIONS), "Mine"]  # not seeded again
        assert len(c.get(emu.tenant_url("second") + "Integrations").json()["value"]) == len(DEMO_DEFINITIONS)


def test_demo_data_is_valid_for_the_emulator(tmp_path: Path) -> None:
    # the demo rows went through the store directly; the API must accept the same bodies
    with start_server(tenants=["x"]) as emu, httpx.Client() as c:
        for doc in DEMO_DEFINITIONS:
            assert c.post(emu.tenant_url("x") + "Integrations", json=fields.to_odata(doc)).status_code == 201


def test_emulator_url_scheme() -> None:
    assert tenant_name("emulator:local") == "local"
    assert tenant_name("https://acme.example.com/OData/") is None


def test_a_reset_reseeds_a_seeding_server() -> None:
    with start_server(tenants=["x"], seeder=seed_demo) as emu, httpx.Client() as c:
        c.post(emu.tenant_url("x") + "Integrations", json=body("Extra"))
        emu.reset()
        assert len(c.get(emu.tenant_url("x") + "Integrations").json()["value"]) == len(DEMO_DEFINITIONS)


def test_a_field_added_to_the_schema_is_added_to_an_old_database(tmp_path: Path) -> None:
    import sqlite3

    from integration_sync.emulator import model
    from integration_sync.emulator.store import Store

    path = tmp_path / "old.sqlite3"
    Store(path).close()
    notes = fields.odata_name("notes")
    with sqlite3.connect(path) as conn:
        conn.execute(f'ALTER TABLE integrations DROP COLUMN "{notes}"')
    conn.close()
    store = Store(path)
    try:
        store.insert("t", {p.name: p.default() for p in model.props()})
        got = store.get("t", 1)
        assert got is not None and got[notes] is None
    finally:
        store.close()


# --- the command ------------------------------------------------------------------------------------


def test_command_serves_logs_one_line_per_request_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FK_")}
    env["FK_EMU_TOKEN"] = "tok-from-env"
    args = [
        sys.executable,
        "-m",
        "integration_sync",
        "emulator",
        "--port",
        "0",
        "--db",
        str(tmp_path / "e.db"),
    ]
    args += ["--tenant", "a=sekrit-token", "--tenant", "b", "--tenant", "c=env:FK_EMU_TOKEN"]
    args += ["--vary", "b:post_no_content", "--vary", "b:page_size=2", "--profile", "c=strict", "--seed-demo"]
    args += ["--fault", "c:p503=1", "--fault", "c:count=1", "--fault", "c:retry_after=0"]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, env=env)
    killer = threading.Timer(30, proc.kill)
    killer.start()
    try:
        assert proc.stderr is not None
        banner: list[str] = []
        while not banner or not banner[-1].startswith("admin:"):
            line = proc.stderr.readline()
            assert line, "the emulator exited early"
            banner.append(line.strip())
        url = banner[-1].split()[1].removesuffix("/_emulator/")
        with httpx.Client(base_url=url) as c:
            assert c.get("/a/OData/Integrations").status_code == 401
            r = c.get("/a/OData/Integrations", headers={"Authorization": "Bearer sekrit-token"})
            assert len(r.json()["value"]) == len(DEMO_DEFINITIONS)
            assert c.post("/b/OData/Integrations", json=body("New")).status_code == 204
            assert "@odata.nextLink" in c.get("/b/OData/Integrations").json()
            c_auth = {"Authorization": "Bearer tok-from-env"}
            assert c.get("/c/OData/Integrations", headers=c_auth).status_code == 503  # the start-up fault
            assert c.get("/c/OData/Integrations", headers=c_auth).status_code == 200
            tenants = c.get("/_emulator/tenants").json()
            assert {t["name"]: t["variations"] for t in tenants}["c"] == {
                "etags_required": True,
                "duplicate_name_400": True,
            }
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=20)
    finally:
        killer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    log = "\n".join(banner) + rest
    assert "GET /a/OData/Integrations -> 401" in log
    assert "POST /b/OData/Integrations -> 204" in log
    assert "sekrit-token" not in log and "tok-from-env" not in log
    assert "emulator stopped" in log


@pytest.fixture
def _keep_logging() -> Iterator[None]:
    """The CLI group sets up logging for the process; put the loggers back for the tests after."""
    names = ["", "integration_sync", "integration_sync.emulator"]
    levels = {n: logging.getLogger(n).level for n in names}
    handlers = list(logging.getLogger().handlers)
    yield
    for n, level in levels.items():
        logging.getLogger(n).setLevel(level)
    logging.getLogger().handlers[:] = handlers


@pytest.mark.usefixtures("_keep_logging")
@pytest.mark.parametrize(
    "args",
    [
        ["--tenant", "a", "--vary", "nobody:etags_off"],
        ["--tenant", "a", "--vary", "a:nonsense"],
        ["--tenant", "a", "--profile", "a=nonsense"],
        ["--tenant", "a", "--fault", "a:p429=7"],
        ["--tenant", "a", "--fault", "b:p429=1"],
        ["--tenant", "a=env:FK_UNSET_VARIABLE"],
        ["--tenant", "bad name"],
    ],
)
def test_command_refuses_bad_start_up_settings(args: list[str]) -> None:
    result = CliRunner().invoke(cli, ["emulator", "--port", "0", *args])
    assert result.exit_code == 1, result.output


@pytest.mark.usefixtures("_keep_logging")
@pytest.mark.parametrize("where", ["a file as its folder", "not a database", "a folder"])
def test_command_says_why_its_database_cannot_be_opened(tmp_path: Path, where: str) -> None:
    db = {
        "a file as its folder": tmp_path / "file" / "emulator.sqlite3",
        "not a database": tmp_path / "file",
        "a folder": tmp_path,
    }[where]
    (tmp_path / "file").write_text("not a database")
    result = CliRunner().invoke(cli, ["emulator", "--port", "0", "--db", str(db)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert f"--db {db}: cannot open the emulator's database" in result.output


@pytest.mark.usefixtures("_keep_logging")
@pytest.mark.parametrize(("value", "says"), [(None, "is not set"), ("", "is empty"), (" \n", "is empty")])
def test_command_refuses_a_token_variable_that_is_unset_or_blank(
    value: str | None, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is None:
        monkeypatch.delenv("FK_EMULATOR_TOKEN", raising=False)
    else:
        monkeypatch.setenv("FK_EMULATOR_TOKEN", value)
    result = CliRunner().invoke(cli, ["emulator", "--port", "0", "--tenant", "a=env:FK_EMULATOR_TOKEN"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert f"--tenant a: environment variable FK_EMULATOR_TOKEN {says}" in result.output


# --- third-party OData clients ------------------------------------------------------------------------


def test_pyodata_builds_its_model_from_the_metadata(emulator: EmulatorServer, emulator_url: str) -> None:
    import pyodata

    with requests.Session() as session:
        client = pyodata.Client(emulator_url, session)
    entity_set = client.schema.entity_set("Integrations")
    entity_type = entity_set.entity_type
    assert [p.name for p in entity_type.key_proprties] == [fields.ODATA_KEY]
    props = {p.name: p for p in entity_type.proprties()}
    assert set(props) == {fields.ODATA_KEY, *(f.odata for f in fields.catalogue())}
    assert props[NAME].typ.name == "Edm.String" and props[NAME].max_length == 128
    assert props[MANAGED].typ.name == "Edm.Boolean"


def test_python_odata_reads_the_collection_through_metadata(emulator: EmulatorServer) -> None:
    from odata import ODataService

    emulator.add_tenant("v4", token="tkn", variations={"page_size": 3})
    with httpx.Client() as c:
        for i in range(7):
            c.post(
                emulator.tenant_url("v4") + "Integrations",
                json=body(f"I{i}"),
                headers={"Authorization": "Bearer tkn"},
            )
    with requests.Session() as session:
        session.headers["Authorization"] = "Bearer tkn"
        service = ODataService(emulator.tenant_url("v4"), session=session, reflect_entities=True)
        integrations = service.entities["Integrations"]
        got = list(service.query(integrations))  # follows @odata.nextLink over three pages
        assert [getattr(i, NAME) for i in got] == [f"I{i}" for i in range(7)]
        one = service.query(integrations).filter(getattr(integrations, NAME) == "I5").first()
        assert getattr(one, fields.ODATA_KEY) == 6
    assert (
        len(
            [
                e
                for e in emulator.requests("v4")
                if e["path"].endswith("/Integrations") and e["method"] == "GET"
            ]
        )
        >= 3
    )
    assert json.dumps(emulator.requests("v4")).count("tkn") == 0


@pytest.mark.usefixtures("_keep_logging")
@pytest.mark.parametrize("var", ["ghp_" + "x" * 36 + "-y", "A" * 65, "1TOKEN", "tok en"])
def test_command_refuses_a_token_variable_name_that_is_none_without_echoing_it(var: str) -> None:
    result = CliRunner().invoke(cli, ["emulator", "--port", "0", "--tenant", f"a=env:{var}"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert "--tenant a: env:VAR needs an environment variable name" in result.output
    assert var not in result.output


@pytest.mark.usefixtures("_keep_logging")
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--fault", "a:bogus=1"], "unknown fault setting: bogus;"),
        (["--fault", "a:bogus=1", "--fault", "a:wrong=2"], "unknown fault settings: bogus, wrong;"),
        (["--vary", 'a:query_options_disabled=["$bogus"]'], "unknown option $bogus"),
        (["--vary", 'a:query_options_disabled=["$x", "$y"]'], "unknown options $x, $y"),
        (["--vary", "a:nonsense"], "unknown variation switch: nonsense;"),
    ],
)
def test_command_names_unknown_settings_with_proper_plurals(args: list[str], expected: str) -> None:
    result = CliRunner().invoke(cli, ["emulator", "--port", "0", "--tenant", "a", *args])
    assert result.exit_code == 1 and expected in result.output, result.output
    assert "(s)" not in result.output
    assert f"error: {args[-2]} " in result.output  # named as the option it came from


def test_admin_names_an_unknown_key_with_a_proper_plural(emulator: EmulatorServer) -> None:
    for extra, expected in (({"x": 1}, "unknown key: x"), ({"x": 1, "y": 2}, "unknown keys: x, y")):
        reply = httpx.post(f"{emulator.url}/_emulator/tenants", json={"name": "pl", **extra})
        assert reply.status_code == 400 and expected in reply.text and "(s)" not in reply.text
