"""A ``sync.tenants`` tag that no tenant has (a typo) makes the integration an orphan everywhere: an
error wherever deletes are allowed, a warning otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_run import run_cli

DEFINITION = (
    "name: Payments\ndirection: Inbound\nentity: Payment\nconsent_type: OAuth\n"
    'sync:\n  tenants: ["tag:ukk"]\n'
)


def _project(tmp_path: Path, url: str, global_delete: bool, tenant_delete: bool) -> None:
    (tmp_path / "definitions").mkdir()
    (tmp_path / "definitions" / "payments.yaml").write_text(DEFINITION)
    (tmp_path / "integration-sync.yaml").write_text(
        "definitions: definitions\n"
        f"safety: {{allow_delete: {str(global_delete).lower()}}}\n"
        "tenants:\n"
        f"  - {{name: acme, url: '{url}', tags: [uk], safety: {{allow_delete: {str(tenant_delete).lower()}}}}}\n"
        "  - {name: spare, url: 'emulator:spare'}\n"
    )


@pytest.mark.parametrize(
    ("global_delete", "tenant_delete", "severity"),
    [(False, False, "warning"), (True, False, "error"), (False, True, "error")],
    ids=["no-deletes", "deletes-for-all", "deletes-for-one-tenant"],
)
def test_validate_makes_a_tag_no_tenant_has_an_error_when_the_config_allows_deletes(
    emulator: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    global_delete: bool,
    tenant_delete: bool,
    severity: str,
) -> None:
    emulator.add_tenant("acme")
    _project(tmp_path, emulator.tenant_url("acme"), global_delete, tenant_delete)
    monkeypatch.chdir(tmp_path)
    r = run_cli(capsys, "validate")
    assert f"{severity}: sync.tenants[0]: no tenant has tag 'ukk'" in r.out
    assert r.code == (1 if severity == "error" else 0)
    if severity == "error":
        assert "would be deleted as an orphan" in r.out


def test_plan_makes_it_an_error_with_allow_delete_and_a_warning_without(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.add_tenant("acme")
    _project(tmp_path, emulator.tenant_url("acme"), False, False)
    monkeypatch.chdir(tmp_path)
    plain = run_cli(capsys, "plan", "--tenant", "acme")
    assert plain.code == 0, plain.err
    deleting = run_cli(capsys, "plan", "--tenant", "acme", "--allow-delete")
    assert deleting.code == 1
    assert "error: sync.tenants[0]: no tenant has tag 'ukk'" in deleting.err
    assert "nothing was planned" in deleting.err
    applying = run_cli(capsys, "apply", "--tenant", "acme", "--allow-delete", "--auto-approve")
    assert applying.code == 1 and "no tenant has tag 'ukk'" in applying.err


def test_plan_makes_it_an_error_when_the_config_allows_deletes_for_a_selected_tenant(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.add_tenant("acme")
    _project(tmp_path, emulator.tenant_url("acme"), False, True)
    monkeypatch.chdir(tmp_path)
    r = run_cli(capsys, "plan", "--tenant", "acme")
    assert r.code == 1 and "error: sync.tenants[0]: no tenant has tag 'ukk'" in r.err
