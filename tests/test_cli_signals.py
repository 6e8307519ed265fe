"""SIGTERM (a CI runner cancelling the job) while a command is still reading tenants: one line, exit
130, no traceback, nothing written."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow  # each test runs the CLI or a server end to end

DEFINITION = "name: Payments\ndirection: Inbound\nentity: Payment\nconsent_type: OAuth\nmanaged: true\n"


def _wait_for(condition: Any, what: str, limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize("command", [["plan"], ["apply", "--auto-approve"]])
def test_sigterm_while_planning_exits_130_with_one_line(
    emulator: Any, tmp_path: Path, command: list[str]
) -> None:
    emulator.add_tenant("fast")
    emulator.add_tenant("slow")
    emulator.set_faults("slow", latency_ms=20_000)
    (tmp_path / "definitions").mkdir()
    (tmp_path / "definitions" / "payments.yaml").write_text(DEFINITION)
    (tmp_path / "integration-sync.yaml").write_text(
        "definitions: definitions\ntenants:\n"
        f"  - {{name: fast, url: '{emulator.tenant_url('fast')}'}}\n"
        f"  - {{name: slow, url: '{emulator.tenant_url('slow')}'}}\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "integration_sync", *command],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The fast tenant has answered: the command is running, waiting on the slow one.
        _wait_for(lambda: emulator.requests("fast"), "the fast tenant's list request")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, (out, err)
    assert err.strip().splitlines()[-1] == "Interrupted: nothing more was started."
    assert "Traceback" not in err
    assert "ERROR" not in err  # e.g. asyncio's "Task exception was never retrieved"
    assert [r["method"] for r in emulator.requests("fast")] == ["GET"]  # nothing was written
