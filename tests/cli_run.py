"""Run the real console entry point in-process: exit code, stdout and stderr, as a shell would see them."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from integration_sync.cli import main


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(list(args))
    captured = capsys.readouterr()
    code = info.value.code
    return Run(code if isinstance(code, int) else 1, captured.out, captured.err)
