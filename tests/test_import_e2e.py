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

pytestmark = pytest.mark.slow  # each test runs the CLI or a server end to end

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
    assert again.code == 0, again.err
    assert f"({len(AWKWARD)} existing files, skipped)" in again.out
    assert ".yaml exists (this tenant's earlier import: --force writes it again)" in again.out
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
        "# accepted rule include-updates-outbound-active"
    )
    assert yaml.safe_load("\n".join(bad))["direction"] == "Inbound"

    validated = run_cli(capsys, "validate", "adopted")
    assert validated.code == 1  # the case twins: a duplicate name cannot be accepted
    errors = [line for line in validated.out.splitlines() if ": error: " in line]
    assert errors and all("duplicate-name" in line and "adopted/export-" in line for line in errors)
    assert "bad.yaml" in validated.out and "(accepted: sync.accept)" in validated.out


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


def _fresh_clone(tmp_path: Path) -> Path:
    """The repository's config and definitions, as a fresh clone has them (a folder with .git)."""
    import shutil

    repo = Path(__file__).resolve().parent.parent
    clone = tmp_path / "clone"
    (clone / ".git").mkdir(parents=True)
    shutil.copy(repo / "integration-sync.yaml", clone)
    shutil.copytree(repo / "definitions", clone / "definitions")
    return clone


@pytest.mark.timeout(120)
def test_the_readme_main_job_then_import_of_the_embedded_tenant_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """After `apply --auto-approve`, the live integrations the hand-written definitions (with
    sync.tenants: [local]) define are skipped and listed, none is taken for an earlier import, and none
    is written over, even with --force; the embedded tenant's own client integrations are imported."""
    clone = _fresh_clone(tmp_path)
    monkeypatch.chdir(clone / "definitions")  # the config is found above
    before = {p.name: p.read_text() for p in (clone / "definitions").iterdir()}
    applied = run_cli(capsys, "apply", "--auto-approve")
    assert applied.code == 0, applied.err
    imported = run_cli(capsys, "import", "--tenant", "local")
    assert imported.code == 0, imported.err
    assert f"({len(before)} already defined, skipped)" in imported.out
    assert imported.out.count("skipped '") == len(before)
    written = {p.name for p in (clone / "definitions").iterdir()} - set(before)
    assert written and imported.out.count("wrote ") == len(written)
    again = run_cli(capsys, "import", "--tenant", "local", "--force")
    assert again.code == 0, again.err
    assert again.out.count("skipped '") == len(before) and again.out.count("wrote ") == len(written)
    assert {p.name: p.read_text() for p in (clone / "definitions").iterdir() if p.name in before} == before
    planned = run_cli(capsys, "plan", "--detailed-exitcode")
    assert planned.code == 0, planned.out + planned.err


def test_import_accepts_the_rules_live_data_breaks_so_that_plan_right_after_is_empty(
    emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.add_tenant("legacy")
    url = emulator.tenant_url("legacy")
    _seed(
        url,
        [
            _body("Inbound Updates", Direction="Inbound", IncludeUpdates=True),
            _body("Lonely Continuous", IsContinuous=True, IncludeUpdates=False),
            _body("Slow Batches", BatchSize=20, Parallel=False),
            _body("Broken Filter", Filter="Amount >"),
            _body("Fine"),
        ],
    )
    folder = _project(tmp_path, monkeypatch, "legacy", url)
    imported = run_cli(capsys, "import", "--tenant", "legacy")
    assert imported.code == 0, imported.err
    accepted = {
        yaml.safe_load(p.read_text())["name"]: yaml.safe_load(p.read_text())["sync"].get("accept")
        for p in folder.iterdir()
    }
    assert accepted["Inbound Updates"] == ["include-updates-outbound-active"]
    assert "continuous-needs-include-updates" in accepted["Lonely Continuous"]
    assert accepted["Slow Batches"] == ["batch-size-without-parallel"]
    assert accepted["Broken Filter"] == ["filter-syntax"]
    assert accepted["Fine"] is None
    for p in folder.iterdir():
        assert p.read_text().splitlines()[1] == "# imported from tenant legacy by integration-sync import"
    strict = run_cli(capsys, "validate", "--strict")
    assert strict.code == 0, strict.out + strict.err  # --strict does not escalate what a definition accepts
    assert strict.out.count("(accepted: sync.accept)") >= 4
    planned = run_cli(capsys, "plan", "--detailed-exitcode")
    assert planned.code == 0, planned.out + planned.err
    # the acceptance is the definition's own: the same break elsewhere is still an error
    other = folder / "zz-hand-written.yaml"
    text = (folder / "inbound-updates.yaml").read_text().replace("Inbound Updates", "Another One")
    other.write_text(text.replace("  accept: [include-updates-outbound-active]\n", ""))
    r = run_cli(capsys, "validate", str(other))
    assert r.code == 1 and "error: include_updates: true only for active Outbound" in r.out


@pytest.mark.parametrize(
    "rule",
    ["schema-type", "schema-required", "schema-maxLength", "duplicate-name", "yaml-quote", "no-such-rule"],
)
def test_only_rules_between_fields_soft_and_filter_rules_can_be_accepted(
    rule: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "definitions").mkdir()
    (tmp_path / "definitions" / "a.yaml").write_text(
        f"name: A\ndirection: Outbound\nentity: Invoice\nconsent_type: OAuth\nsync:\n  accept: [{rule}]\n"
    )
    r = run_cli(capsys, "validate")
    assert r.code == 1
    assert f"sync.accept[0]: '{rule}' cannot be accepted: only rules between fields" in r.out


def test_import_only_the_named_integrations_case_insensitively(
    emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.add_tenant("some")
    url = emulator.tenant_url("some")
    _seed(url, [_body("Alpha Export"), _body("Beta Export"), _body("Gamma Export")])
    folder = _project(tmp_path, monkeypatch, "some", url)
    r = run_cli(
        capsys, "import", "--tenant", "SOME", "--integration", "alpha export", "--integration", "GAMMA EXPORT"
    )
    assert r.code == 0, r.err
    assert sorted(p.name for p in folder.iterdir()) == ["alpha-export.yaml", "gamma-export.yaml"]
    unknown = run_cli(capsys, "import", "--tenant", "some", "--integration", "Beta Exprt")
    assert unknown.code == 1
    assert (
        "--integration 'Beta Exprt': tenant some has no integration of that name (did you mean 'Beta Export'?)"
        in (unknown.err)
    )
    assert sorted(p.name for p in folder.iterdir()) == ["alpha-export.yaml", "gamma-export.yaml"]


def test_a_hand_written_file_for_the_tenant_is_not_taken_for_an_import(
    emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """sync.tenants: [T] alone does not make a file an import: without the import line it is never
    written over, not even with --force, and the rest of the import still happens."""
    emulator.add_tenant("mine")
    url = emulator.tenant_url("mine")
    _seed(url, [_body("Known"), _body("Other")])
    folder = _project(tmp_path, monkeypatch, "mine", url)
    folder.mkdir()
    hand = "# by hand\nname: Known\ndirection: Outbound\nentity: Invoice\nconsent_type: OAuth\nsync:\n  tenants: [mine]\n"
    (folder / "known.yaml").write_text(hand)
    (folder / "other.yaml").write_text(
        "# a different integration in the file an import of Other would write\n"
    )
    r = run_cli(capsys, "import", "--tenant", "mine", "--force")
    assert r.code == 0, r.err
    assert "skipped 'Known': already defined in definitions/known.yaml" in r.out
    # the line names the integration that was not adopted, and the file that kept it out
    assert "skipped 'Other': definitions/other.yaml exists (not an import of this tenant" in r.out
    assert (folder / "known.yaml").read_text() == hand
