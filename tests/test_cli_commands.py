"""The command group: every command is listed by ``--help``, and a command's module is imported only when
that command runs, so that ``plan`` and ``apply`` (a process per CI job) do not load the emulator's web
stack or ``doctor``."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cli_run import run_cli

from integration_sync.cli.commands import COMMANDS


def test_help_lists_every_command_with_its_help_line(capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, "--help")
    assert run.code == 0
    listed = run.out.split("Commands:", 1)[1]
    for name in COMMANDS:
        line = next((ln for ln in listed.splitlines() if ln.split()[:1] == [name]), None)
        assert line is not None and len(line.split()) > 1, name  # the name and its help line


def test_an_unknown_command_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, "plna")
    assert run.code == 1 and "No such command 'plna'" in run.err and "Traceback" not in run.err


_LOADED = """
import sys
from integration_sync.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = ("starlette", "uvicorn", "integration_sync.emulator.app", "integration_sync.doctor", "integration_sync.cli.doctor")
print(" ".join(m for m in heavy if m in sys.modules))
"""


@pytest.mark.parametrize(
    "args", [["plan", "--help"], ["apply", "--help"], ["validate", "--help"], ["plan", "-v", "--help"]]
)
def test_a_command_loads_only_its_own_module(args: list[str]) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _LOADED, *args], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out.splitlines()[-1] == "", out


def test_the_emulator_command_loads_the_web_stack_and_not_doctor() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _LOADED, "emulator", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert out.splitlines()[-1] == "starlette uvicorn integration_sync.emulator.app", out
