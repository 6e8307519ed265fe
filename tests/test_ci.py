"""The step summary that ``plan`` writes by itself inside GitHub Actions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_run import run_cli

from integration_sync.ci import MAX_STEP_SUMMARY_BYTES, write_step_summary


def test_write_step_summary_appends_only_when_the_variable_is_set(tmp_path: Path) -> None:
    target = tmp_path / "summary.md"
    assert write_step_summary("# x", {}) is None
    assert write_step_summary("# one", {"GITHUB_STEP_SUMMARY": str(target)}) == target
    assert write_step_summary("# two\n", {"GITHUB_STEP_SUMMARY": str(target)}) == target
    assert target.read_text() == "# one\n# two\n"


def test_an_oversized_summary_is_replaced_by_a_pointer(tmp_path: Path) -> None:
    target = tmp_path / "summary.md"
    write_step_summary("x" * (MAX_STEP_SUMMARY_BYTES + 1), {"GITHUB_STEP_SUMMARY": str(target)})
    assert "too large" in target.read_text()


def test_an_unwritable_summary_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    assert write_step_summary("# x", {"GITHUB_STEP_SUMMARY": str(tmp_path / "no" / "such")}) is None


def test_plan_writes_its_markdown_to_the_step_summary(
    emulator: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emulator.add_tenant("summary")
    (tmp_path / "definitions").mkdir()
    (tmp_path / "definitions" / "a.yaml").write_text(
        "name: A\ndirection: Inbound\nentity: Invoice\nconsent_type: OAuth\n", encoding="utf-8"
    )
    config = {
        "definitions": "definitions",
        "tenants": [{"name": "summary", "url": emulator.tenant_url("summary")}],
    }
    (tmp_path / "integration-sync.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    summary = tmp_path / "step-summary.md"

    out = run_cli(capsys, "plan")
    assert out.code == 0 and not summary.exists()

    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out = run_cli(capsys, "plan", "--format", "text")
    assert out.code == 0, out.err
    text = summary.read_text()
    assert "| Tenant |" in text and "summary" in text
    assert "| Tenant |" not in out.out  # stdout keeps the format asked for
