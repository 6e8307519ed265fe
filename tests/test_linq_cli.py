"""The filter checker through the real CLI: ``validate`` reports each problem at the file's line and
column, with its hint; warnings become errors with ``--strict``."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_run import run_cli

_HEAD = "direction: Outbound\nentity: Invoice\nconsent_type: OAuth\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "integration-sync.yaml").write_text(
        "definitions: defs\ntenants:\n  - name: local\n    url: emulator:local\n", encoding="utf-8"
    )
    (tmp_path / "defs").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path / "defs"


def _write(defs: Path, name: str, tail: str) -> str:
    (defs / f"{name}.yaml").write_text(f"name: {name}\n{_HEAD}{tail}", encoding="utf-8")
    return f"defs/{name}.yaml"


def test_errors_are_located_in_every_scalar_style(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = [
        _write(project, "plain", "filter: Status == 'Open'\n"),
        _write(project, "double", 'filter: "Name == \\"x\\" && Amount =< 5"\n'),
        _write(project, "literal", 'filter: |\n  Status == "Open"\n    && Customer?.Name == "A"\n'),
        _write(project, "folded", 'filter: >\n  Status == "Open" &&\n  Amount > 100l\n'),
    ]
    run = run_cli(capsys, "validate", "defs")
    assert run.code == 1
    lines = run.out.splitlines()
    expected = [
        (files[0], "5:19", "Character literal must contain exactly one character", 'double quotes: "Open"'),
        (files[1], "5:35", "Expression expected", "'<='"),
        (
            files[2],
            "7:16",
            "An expression tree lambda may not contain a null propagating",
            "np(Customer.Name)",
        ),
        (files[3], "7:15", "Syntax error", "100L"),
    ]
    for path, where, message, hint in expected:
        (line,) = [line for line in lines if line.startswith(f"{path}:")]
        assert line.startswith(f"{path}:{where}: error: filter: {message}")
        assert hint in line and line.endswith("[filter-syntax]")


def test_warnings_turn_into_errors_with_strict(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(project, "typo", "filter: Amount => 100\n")
    relaxed = run_cli(capsys, "validate", "defs")
    assert relaxed.code == 0
    assert relaxed.out.startswith(f"{path}:5:16: warning: filter: 'Amount =>'")
    strict = run_cli(capsys, "validate", "--strict", "defs")
    assert strict.code == 1
    assert f"{path}:5:16: error: filter: 'Amount =>'" in strict.out


def test_continuous_integration_without_expiry_is_warned(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(
        project,
        "poll",
        'filter: Status == "Sent"\ninclude_updates: true\ncontinuous: true\nactive: true\n',
    )
    run = run_cli(capsys, "validate", "defs")
    assert run.code == 0
    assert (
        f"{path}:5:9: warning: filter: a continuous integration's filter should include an expiry" in run.out
    )
    assert "[continuous-expiry]" in run.out
