"""Apply's messages for a tenant that fails as a whole: under the tenant's heading, the reason does
not name the tenant again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_run import run_cli

from integration_sync.errors import ConfigError, SyncError, under_tenant

DEFINITION = "name: Payments\ndirection: Inbound\nentity: Payment\nconsent_type: OAuth\n"


def test_under_tenant_drops_only_a_leading_mention_of_that_tenant() -> None:
    assert under_tenant(ConfigError("tenant acme: FK is not set"), "acme") == "FK is not set"
    assert under_tenant(SyncError("tenant acme: x"), "globex") == "tenant acme: x"
    assert under_tenant(SyncError("about tenant acme: x"), "acme") == "about tenant acme: x"


def test_a_token_gone_at_apply_time_fails_the_tenant_once_named(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.add_tenant("acme", token="s3cret-token")
    (tmp_path / "definitions").mkdir()
    (tmp_path / "definitions" / "payments.yaml").write_text(DEFINITION)
    config = tmp_path / "integration-sync.yaml"
    config.write_text(
        "definitions: definitions\ntenants:\n"
        f"  - {{name: acme, url: '{emulator.tenant_url('acme')}', token_env: FK_TOKEN_ACME}}\n"
    )
    monkeypatch.setenv("FK_TOKEN_ACME", "s3cret-token")
    plan_file = tmp_path / "plan.json"
    assert run_cli(capsys, "--config", str(config), "plan", "--out", str(plan_file)).code == 0

    monkeypatch.delenv("FK_TOKEN_ACME")
    run = run_cli(capsys, "--config", str(config), "apply", str(plan_file))
    assert run.code == 1
    assert "environment variable FK_TOKEN_ACME is not set" in run.out
    assert "tenant acme: environment variable" not in run.out
    assert "s3cret-token" not in run.out + run.err


def test_apply_given_its_own_report_says_it_is_a_report_not_a_plan(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.add_tenant("acme")
    (tmp_path / "definitions").mkdir()
    (tmp_path / "definitions" / "payments.yaml").write_text(DEFINITION)
    (tmp_path / "integration-sync.yaml").write_text(
        f"definitions: definitions\ntenants:\n  - {{name: acme, url: '{emulator.tenant_url('acme')}'}}\n"
    )
    monkeypatch.chdir(tmp_path)
    assert run_cli(capsys, "plan", "--out", "plan.json").code == 0
    applied = run_cli(capsys, "apply", "plan.json", "--report", "report.json")
    assert applied.code == 0, applied.err
    again = run_cli(capsys, "apply", "report.json")
    assert again.code == 1
    assert again.err == (
        "error: report.json: this is an apply report (integration-sync apply --report), not a plan: "
        "give the file that plan --out wrote\n"
    )
