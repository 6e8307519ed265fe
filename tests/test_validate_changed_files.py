"""`validate PATH ...` as a pre-commit hook calls it, with only the changed files: names taken by the
project's other definitions still count, and only the named files are reported on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import run_cli

BODY = "direction: Inbound\nentity: Invoice\nconsent_type: OAuth\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "integration-sync.yaml").write_text(
        "definitions: definitions\ntenants:\n  - {name: local, url: 'emulator:local'}\n"
    )
    defs = tmp_path / "definitions"
    defs.mkdir()
    (defs / "old.yaml").write_text("name: Xero Export\n" + BODY)
    (defs / "renamed.yaml").write_text(
        f"name: Xero Export v2\n{BODY}sync:\n  previous_names: [Legacy Export]\n"
    )
    monkeypatch.chdir(tmp_path)
    return defs


def test_a_changed_file_clashing_with_an_unchanged_one_is_an_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "new.yaml").write_text("name: XERO export\n" + BODY)
    run = run_cli(capsys, "validate", "definitions/new.yaml")
    assert run.code == 1
    assert (
        "definitions/new.yaml:1:7: error: name: 'XERO export' is also the name of the definition at"
        in run.out
    )
    assert "definitions/old.yaml:1" in run.out
    assert "old.yaml:1:7" not in run.out  # the unchanged file is context, not reported on


def test_a_changed_file_taking_another_files_previous_name_is_an_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "new.yaml").write_text("name: Legacy Export\n" + BODY)
    run = run_cli(capsys, "validate", "definitions/new.yaml")
    assert run.code == 1
    assert "[previous-name-clash]" in run.out
    assert "renamed.yaml" in run.out


def test_changed_files_without_clashes_pass_and_a_broken_unchanged_file_is_not_reported(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "broken.yaml").write_text("name: [unclosed\n")
    (project / "new.yaml").write_text("name: Payments\n" + BODY)
    run = run_cli(capsys, "validate", "definitions/new.yaml")
    assert run.code == 0, run.out
    assert "broken.yaml" not in run.out


def test_a_file_outside_the_definitions_folder_has_no_context(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "scratch.yaml"
    elsewhere.write_text("name: Xero Export\n" + BODY)
    assert run_cli(capsys, "validate", str(elsewhere)).code == 0


def test_a_config_mistake_reaches_json_and_github_readers_in_their_format(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """CI parses stdout: a broken config must be an annotation / a JSON finding, not an empty stdout."""
    (project.parent / "integration-sync.yaml").write_text(
        "definitions: definitions\ntenants:\n  - {name: local, url: 'emulator:local', tagz: [a]}\n"
    )
    github = run_cli(capsys, "validate", "--format", "github")
    assert github.code == 1
    assert github.out.startswith("::error file=integration-sync.yaml,line=3,col=")
    assert "title=config::" in github.out and "did you mean tags?" in github.out
    data = run_cli(capsys, "validate", "--format", "json")
    assert data.code == 1
    report = json.loads(data.out)
    assert report["valid"] is False and [d["rule"] for d in report["diagnostics"]] == ["config"]
    text = run_cli(capsys, "validate")
    assert text.code == 1 and text.out == "" and text.err.startswith("error: integration-sync.yaml:3:")
