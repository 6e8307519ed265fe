"""Example files run through the real CLI: every invalid file fails exactly as its entry in
``expected.json`` says (line, column, rule, message fragment); every valid file passes clean; the
soft-rule files warn, and fail only with --strict."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parent / "examples"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "integration_sync", "--config", "integration-sync.yaml", "validate", *args],
        cwd=EXAMPLES,
        capture_output=True,
        text=True,
        timeout=60,
    )


@cache
def json_run(folder: str, *flags: str) -> tuple[int, dict[str, Any]]:
    out = run(folder, "--format", "json", *flags)
    assert "Traceback" not in out.stderr
    return out.returncode, json.loads(out.stdout)


def by_file(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in report["diagnostics"]:
        grouped[Path(d["file"]).name].append(d)
    return grouped


def expected(folder: str) -> dict[str, list[dict[str, Any]]]:
    return json.loads((EXAMPLES / folder / "expected.json").read_text(encoding="utf-8"))


def example_files(folder: str) -> list[str]:
    return sorted(p.name for p in (EXAMPLES / folder).iterdir() if p.suffix == ".yaml")


def test_every_invalid_file_has_an_expectation_and_there_are_enough() -> None:
    assert sorted(expected("invalid")) == example_files("invalid")
    assert len(example_files("invalid")) >= 30


@pytest.mark.slow
@pytest.mark.parametrize("name", example_files("invalid"))
def test_invalid_example(name: str) -> None:
    code, report = json_run("invalid")
    assert code == 1
    found = by_file(report)[name]
    wanted = expected("invalid")[name]
    assert [d["severity"] for d in found] == ["error"] * len(wanted), found
    for want in wanted:
        matches = [
            d
            for d in found
            if d["line"] == want["line"]
            and d["rule"] == want["rule"]
            and want["message"] in d["message"]
            and d["col"] == want.get("col", d["col"])
        ]
        assert matches, f"{name}: expected {want}, got {found}"


@pytest.mark.slow
def test_valid_examples_pass_clean() -> None:
    code, report = json_run("valid")
    assert code == 0
    assert report["diagnostics"] == []
    assert report["files"] == len(example_files("valid"))
    assert report["definitions"] == len(example_files("valid")) + 1  # one file holds two


@pytest.mark.slow
@pytest.mark.parametrize("name", example_files("warn"))
def test_soft_rules_warn_and_fail_only_when_strict(name: str) -> None:
    want = expected("warn")[name]
    for flags, code_wanted, severity in (((), 0, "warning"), (("--strict",), 1, "error")):
        code, report = json_run("warn", *flags)
        assert code == code_wanted
        found = by_file(report)[name]
        assert [(d["line"], d["col"], d["rule"], d["severity"]) for d in found] == [
            (w["line"], w["col"], w["rule"], severity) for w in want
        ]
        assert want[0]["message"] in found[0]["message"]


@pytest.mark.slow
def test_text_format_lines() -> None:
    out = run("invalid/bound-max-attempts-zero.yaml")
    assert out.returncode == 1
    assert out.stdout.splitlines()[0] == (
        "invalid/bound-max-attempts-zero.yaml:6:15: error: "
        "max_attempts: 0 is less than the minimum of 1 [schema-minimum]"
    )
    assert out.stderr == ""


@pytest.mark.slow
def test_github_format_annotations() -> None:
    out = run("invalid/trap-consent-no.yaml", "--format", "github")
    assert out.returncode == 1
    first = out.stdout.splitlines()[0]
    assert first.startswith("::error file=invalid/trap-consent-no.yaml,line=5,col=15,title=yaml-quote::")
    assert 'quote it: "no"' in first


@pytest.mark.slow
def test_valid_text_output_says_so() -> None:
    out = run("valid")
    assert out.returncode == 0
    assert out.stdout.startswith("ok: 8 definitions in 7 files")


@pytest.mark.slow
def test_missing_path_is_an_error_not_a_traceback() -> None:
    out = run("no/such/folder")
    assert out.returncode == 1
    assert "no/such/folder:1:1: error: no such file or folder [file-not-found]" in out.stdout
    assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_repository_definitions_are_valid() -> None:
    repo = EXAMPLES.parent.parent
    out = subprocess.run(
        [sys.executable, "-m", "integration_sync", "validate"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert len(list((repo / "definitions").glob("*.yaml"))) >= 6


def test_the_readme_lists_every_rule_the_examples_draw() -> None:
    """The README's list of rule names (what CI scripts match on) stays complete."""
    readme = (EXAMPLES.parent.parent / "README.md").read_text(encoding="utf-8")
    listed = readme.split("### Output formats", 1)[1].split("###", 1)[0]
    rules = {w["rule"] for folder in ("invalid", "warn") for ws in expected(folder).values() for w in ws}
    missing = sorted(r for r in rules if f"`{r}`" not in listed and not r.startswith("schema-"))
    assert not missing, f"README 'Output formats' does not list: {missing}"


@pytest.mark.slow
def test_the_readme_definition_example_is_valid_and_canonical(tmp_path: Path) -> None:
    """The README's annotated definition and config (its first two YAML blocks) validate clean, and the
    definition is already what `fmt` writes: the README shows the canonical key order it describes."""
    readme = (EXAMPLES.parent.parent / "README.md").read_text(encoding="utf-8")
    definition, config = [b.split("```", 1)[0] for b in readme.split("```yaml\n")[1:3]]
    (tmp_path / "definitions").mkdir()
    (tmp_path / "definitions" / "xero.yaml").write_text(definition, encoding="utf-8")
    (tmp_path / "integration-sync.yaml").write_text(config, encoding="utf-8")
    for command in (["validate", "--strict"], ["fmt", "--check", "--diff"]):
        out = subprocess.run(
            [sys.executable, "-m", "integration_sync", *command],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stdout + out.stderr
