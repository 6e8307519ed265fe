"""``integration-sync init``: a new repository that works at once, never written over, and whose files
come from inside the package (so that it works from ``pip install``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml
from cli_run import run_cli

REPO = Path(__file__).resolve().parent.parent
EXPECTED = sorted(
    [
        "integration-sync.yaml",
        "definitions/xero-invoice-export.yaml",
        "schemas/integration.schema.json",
        "schemas/config.schema.json",
        ".vscode/settings.json",
        ".pre-commit-config.yaml",
        ".gitignore",
        *(f".github/workflows/{p.name}" for p in (REPO / "docs" / "ci" / "github").glob("*.yml")),
    ]
)


def _tree(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): p.read_text()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".integration-sync" not in p.parts and ".git" not in p.parts
    }


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_init_then_apply_then_plan_works_in_the_new_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    r = run_cli(capsys, "init", "new")
    assert r.code == 0, r.err
    new = tmp_path / "new"
    assert sorted(_tree(new)) == EXPECTED
    assert r.out.count("wrote ") == len(EXPECTED) and f"{len(EXPECTED)} files written, 0 skipped" in r.out
    # the next step it names starts in the new folder, where the new config is found
    assert "Next: cd new, integration-sync apply --auto-approve, then integration-sync plan." in r.out
    (new / ".git").mkdir()
    monkeypatch.chdir(new / "definitions")  # the config is found above
    assert run_cli(capsys, "validate", "--strict").code == 0
    assert run_cli(capsys, "fmt", "--check").code == 0
    applied = run_cli(capsys, "apply", "--auto-approve")
    assert applied.code == 0, applied.err
    assert 'created "Xero Invoice Export"' in applied.out
    planned = run_cli(capsys, "plan", "--detailed-exitcode")
    assert planned.code == 0, planned.out + planned.err


def test_init_never_writes_over_a_file_and_lists_what_it_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "integration-sync.yaml").write_text("# mine\n")
    (tmp_path / ".gitignore").write_text("node_modules/\n")
    r = run_cli(capsys, "init")
    assert r.code == 0, r.err
    assert "skipped integration-sync.yaml: it exists" in r.out and "skipped .gitignore: it exists" in r.out
    assert (tmp_path / "integration-sync.yaml").read_text() == "# mine\n"
    assert (tmp_path / ".gitignore").read_text() == "node_modules/\n"
    before = _tree(tmp_path)
    again = run_cli(capsys, "init", ".")
    assert again.code == 0 and again.out.count("skipped ") == len(EXPECTED)
    assert f"0 files written, {len(EXPECTED)} skipped" in again.out
    assert "Next: integration-sync apply --auto-approve" in again.out  # already here: no cd
    assert _tree(tmp_path) == before


def test_the_files_init_writes_are_what_the_repository_ships(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli(capsys, "init").code == 0
    for schema in ("integration.schema.json", "config.schema.json"):
        assert (tmp_path / "schemas" / schema).read_text() == (REPO / "schemas" / schema).read_text()
    for wf in (REPO / "docs" / "ci" / "github").glob("*.yml"):
        assert (tmp_path / ".github" / "workflows" / wf.name).read_text() == wf.read_text()
    config = yaml.safe_load((tmp_path / "integration-sync.yaml").read_text())
    jsonschema.validate(config, json.loads((tmp_path / "schemas" / "config.schema.json").read_text()))
    assert (
        (tmp_path / "integration-sync.yaml")
        .read_text()
        .startswith("# yaml-language-server: $schema=schemas/config.schema.json\n")
    )
    assert "#   token_env: FK_TOKEN_ACME" in (tmp_path / "integration-sync.yaml").read_text()
    mapping = json.loads((tmp_path / ".vscode" / "settings.json").read_text())["yaml.schemas"]
    for schema, globs in mapping.items():
        assert (tmp_path / schema).is_file()
        assert any(tmp_path.glob(g.replace("**/", "")) for g in globs)
    hooks = yaml.safe_load((tmp_path / ".pre-commit-config.yaml").read_text())["repos"]
    assert [r["repo"] for r in hooks] == ["local"]
    assert {h["entry"] for h in hooks[0]["hooks"]} == {
        "integration-sync validate",
        "integration-sync fmt --check --diff",
    }
    assert all(h["language"] == "system" for h in hooks[0]["hooks"])


@pytest.mark.slow
def test_init_works_from_the_wheel_layout_without_the_repository(tmp_path: Path) -> None:
    """The package as the wheel lays it out (pyproject's force-include placing the schemas and the
    workflows inside it), with no repository around it: init still writes every file."""
    site = tmp_path / "site"
    shutil.copytree(
        REPO / "integration_sync", site / "integration_sync", ignore=shutil.ignore_patterns("__pycache__")
    )
    wheel = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    for source, target in wheel["force-include"].items():
        src, dst = REPO / source, site / target
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst)
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, "-c", "from integration_sync.cli import main; main(['init', 'fresh'])"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(_tree(work / "fresh")) == EXPECTED
    # and it was the package's own copy that served, not the repository's
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "from integration_sync.config import config_schema_path; print(config_schema_path())",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.stdout.strip().startswith(str(site))


def test_init_verbose_says_each_written_file_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    r = run_cli(capsys, "-v", "init", "new")
    assert r.code == 0, r.err
    said = (r.out + r.err).splitlines()
    assert len([line for line in said if "wrote " in line]) == len(EXPECTED), said
