"""``import`` against the emulator: awkward names in, then validate clean, plan empty, fmt clean."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_run import run_cli

from integration_sync.client import TenantClient

AWKWARD = [
    'It\'s "quoted"',
    "a/b",
    "../x",
    "..",
    "Überweisung Ausgang",
    "請求書 エクスポート",
    "Invoice Export",
    "invoice-export",
    "INVOICE_EXPORT",
    "Cost ${centre}",
]


def _body(name: str, **extra: Any) -> dict[str, Any]:
    base = {
        "Name": name,
        "Direction": "Outbound",
        "Entity": "Invoice",
        "ConsentType": "OAuth",
        "IsManaged": True,
        "IsActive": True,
    }
    return {**base, **extra}


def _seed(url: str, bodies: Iterable[dict[str, Any]]) -> None:
    async def go() -> None:
        async with TenantClient("seed", url) as client:
            for body in bodies:
                await client.create(body)

    asyncio.run(go())


def _project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tenant: str, url: str) -> Path:
    config = {"definitions": "definitions", "tenants": [{"name": tenant, "url": url}]}
    (tmp_path / "integration-sync.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "definitions"


@pytest.mark.parametrize(
    "variations",
    [
        {},
        {
            "extra_properties": True,
            "odata_401": True,
            "etags_off": True,
            "relative_next_link": True,
            "page_size": 3,
        },
    ],
    ids=["default", "quirky"],
)
def test_import_round_trip_is_valid_canonical_and_plans_nothing(
    variations: dict[str, Any],
    emulator: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emulator.add_tenant("adopt", variations=variations)
    url = emulator.tenant_url("adopt")
    bodies = [_body(n) for n in AWKWARD]
    bodies[4].update(Notes="line 1\nline 2\n", Filter='Status == "Approved"')
    bodies[7].update(ConsentType="No", MaxAttempts=5, BatchSize=20, Parallel=True, SystemId=7)
    _seed(url, bodies)
    folder = _project(tmp_path, monkeypatch, "adopt", url)

    imported = run_cli(capsys, "import", "--tenant", "adopt")
    assert imported.code == 0, imported.err
    files = sorted(folder.iterdir())
    assert len(files) == len(AWKWARD)
    assert all(f.parent == folder and f.suffix == ".yaml" for f in files)
    assert {yaml.safe_load(f.read_text())["name"].replace("$${", "${") for f in files} == set(AWKWARD)
    assert (folder / "überweisung-ausgang.yaml").exists()
    assert (folder / "x.yaml").exists()
    assert "break a rule" not in imported.out

    validated = run_cli(capsys, "validate")
    assert validated.code == 0, validated.out + validated.err
    planned = run_cli(capsys, "plan", "--detailed-exitcode")
    assert planned.code == 0, planned.out + planned.err
    assert run_cli(capsys, "fmt", "--check").code == 0

    again = run_cli(capsys, "import", "--tenant", "adopt")
    assert again.code == 1
    assert "already exist" in again.err and "--force" in again.err
    before = {f: f.read_text() for f in files}
    forced = run_cli(capsys, "import", "--tenant", "adopt", "--force")
    assert forced.code == 0
    assert {f: f.read_text() for f in files} == before


def test_import_flags_rule_breaches_and_case_twins(
    emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.add_tenant("loose", variations={"case_sensitive_names": True})
    url = emulator.tenant_url("loose")
    _seed(
        url,
        [
            _body("Export"),
            _body("export"),
            _body("Fine"),
            _body("Bad", Direction="Inbound", IncludeUpdates=True),
        ],
    )
    folder = _project(tmp_path, monkeypatch, "loose", url)

    imported = run_cli(capsys, "import", "--tenant", "loose", "--dir", "adopted")
    assert imported.code == 0, imported.err
    folder = tmp_path / "adopted"
    summary = imported.out.split("break a rule", 1)[1]
    assert "bad.yaml" in summary and "include-updates-outbound-active" in summary
    assert summary.count("\n  adopted/export-") == 2 and "duplicate-name" in summary
    assert "fine.yaml" not in summary
    bad = (folder / "bad.yaml").read_text().splitlines()
    assert bad[bad.index("include_updates: true") - 1].startswith(
        "# breaks rule include-updates-outbound-active"
    )
    assert yaml.safe_load("\n".join(bad))["direction"] == "Inbound"

    validated = run_cli(capsys, "validate", "adopted")
    assert validated.code == 1
    assert "bad.yaml" in validated.out + validated.err


def test_import_managed_only_and_unknown_tenant(
    emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.add_tenant("mixed")
    url = emulator.tenant_url("mixed")
    _seed(url, [_body("Ours"), _body("Client's own", IsManaged=False)])
    folder = _project(tmp_path, monkeypatch, "mixed", url)
    out = run_cli(capsys, "import", "--tenant", "mixed", "--managed-only")
    assert out.code == 0, out.err
    assert [f.name for f in folder.iterdir()] == ["ours.yaml"]
    assert "1 not managed, skipped" in out.out
    # a repository without the schema file the modeline points at is told how to write it
    assert (
        "note: the files' modeline points at schemas/integration.schema.json, which does not exist" in out.out
    )
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "integration.schema.json").write_text("{}", encoding="utf-8")
    again = run_cli(capsys, "import", "--tenant", "mixed", "--managed-only", "--force")
    assert again.code == 0 and "note:" not in again.out

    unknown = run_cli(capsys, "import", "--tenant", "nope")
    assert unknown.code == 1
    assert "unknown tenant" in unknown.err and "Traceback" not in unknown.err


def test_import_into_a_populated_repository_skips_what_is_already_defined(
    emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.add_tenant("partly")
    url = emulator.tenant_url("partly")
    _seed(url, [_body("Known"), _body("Unknown")])
    folder = _project(tmp_path, monkeypatch, "partly", url)
    folder.mkdir()
    (folder / "known-by-another-name.yaml").write_text(
        "name: KNOWN\ndirection: Outbound\nentity: Invoice\nconsent_type: OAuth\n", encoding="utf-8"
    )
    out = run_cli(capsys, "import", "--tenant", "partly")
    assert out.code == 0, out.err
    assert sorted(p.name for p in folder.iterdir()) == ["known-by-another-name.yaml", "unknown.yaml"]
    assert "skipped 'Known': already defined in definitions/known-by-another-name.yaml" in out.out
    assert run_cli(capsys, "validate").code == 0


def test_import_never_writes_over_a_definition_that_is_not_this_tenants_own_import(
    emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A hand-written definition in the very file an import would write (known.yaml for "Known"), for
    every tenant: skipped like one in another file, even with --force, which would otherwise replace its
    placeholders and sync block with one tenant's live values and take it away from the others. The
    tenant's own earlier import (sync.tenants: [partly]) is still written again with --force."""
    emulator.add_tenant("partly")
    url = emulator.tenant_url("partly")
    _seed(url, [_body("Known"), _body("Unknown")])
    folder = _project(tmp_path, monkeypatch, "partly", url)
    folder.mkdir()
    common = (
        "# for every tenant\nname: Known\ndirection: Outbound\nentity: Invoice\nconsent_type: OAuth\n"
        'sync:\n  tenants: ["*"]\n'
    )
    (folder / "known.yaml").write_text(common, encoding="utf-8")
    for args in ([], ["--force"]):
        out = run_cli(capsys, "import", "--tenant", "partly", *args)
        assert out.code == 0, out.err
        assert "skipped 'Known': already defined in definitions/known.yaml" in out.out
        assert (folder / "known.yaml").read_text(encoding="utf-8") == common
    assert sorted(p.name for p in folder.iterdir()) == ["known.yaml", "unknown.yaml"]
    (folder / "unknown.yaml").write_text("# stale\n" + (folder / "unknown.yaml").read_text(encoding="utf-8"))
    again = run_cli(capsys, "import", "--tenant", "partly", "--force")
    assert again.code == 0 and "wrote definitions/unknown.yaml" in again.out
    assert "# stale" not in (folder / "unknown.yaml").read_text(encoding="utf-8")


def test_import_with_a_token_never_shows_it(
    emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    token = "s3cr3t-token-for-import"
    emulator.add_tenant("guarded", token=token)
    url = emulator.tenant_url("guarded")

    async def seed() -> None:
        async with TenantClient("seed", url, token=token) as client:
            await client.create(_body("Guarded"))

    asyncio.run(seed())
    config = {
        "definitions": "definitions",
        "tenants": [{"name": "guarded", "url": url, "token_env": "FK_TOKEN_G"}],
    }
    (tmp_path / "integration-sync.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    missing = run_cli(capsys, "import", "--tenant", "guarded")
    assert missing.code == 1 and "FK_TOKEN_G" in missing.err and "Traceback" not in missing.err

    monkeypatch.setenv("FK_TOKEN_G", token)
    out = run_cli(capsys, "-vv", "import", "--tenant", "guarded")
    assert out.code == 0, out.err
    assert "Authorization" in out.err or "GET" in out.err  # the requests were logged ...
    written = "".join(p.read_text() for p in (tmp_path / "definitions").iterdir())
    assert token not in out.out + out.err + written  # ... and the token nowhere
