"""apply under pressure: swaps of names, items blocked by a stale one, faults that lose replies (no
integration is ever created twice), and an interrupted run (SIGTERM to the process) that the next run
completes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from apply_helpers import BASE, cli, http, live, project, seed

from integration_sync import __version__, fields
from integration_sync.plan import Plan, Rename, TenantPlan


def _rename_plan(url: str, state: dict[str, dict[str, Any]], pairs: list[tuple[str, str]]) -> Plan:
    renames = tuple(
        Rename(
            from_name=old,
            to_name=new,
            key=state[old]["_key"],
            etag=None,
            before=tuple((k, v) for k, v in state[old].items() if k != "_key"),
        )
        for old, new in pairs
    )
    tenant = TenantPlan(tenant="swap", url=url, live_digest="sha256:x", changes=renames)
    return Plan(tool_version=__version__, definitions_digest="sha256:x", tenants=(tenant,))


@pytest.mark.slow
def test_swaps_cycles_and_case_only_renames_go_through_a_temporary_name(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = ["Swap A", "Swap B", "alpha", "beta", "One", "Two", "Three", "quiet"]
    emulator.add_tenant("swap")
    url = emulator.tenant_url("swap")
    seed(url, [{**BASE, "name": n} for n in names])
    state = live(url)
    pairs = [
        ("Swap A", "Swap B"),
        ("Swap B", "Swap A"),
        ("alpha", "BETA"),  # a swap whose names differ from the others' only in case
        ("beta", "ALPHA"),
        ("One", "Two"),  # a cycle of three
        ("Two", "Three"),
        ("Three", "One"),
        ("quiet", "Quiet"),  # case only, no cycle: one PATCH
    ]
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(_rename_plan(url, state, pairs).to_json())
    config = project(tmp_path, [{"name": "swap", "url": url}])

    result = cli(capsys, config, "apply", str(plan_file))
    assert result.code == 0, result.out + result.err
    assert result.out.count("through the temporary name") == 3
    after = live(url)
    for old, new in pairs:
        assert after[new]["_key"] == state[old]["_key"]
    assert sorted(after) == sorted(new for _, new in pairs)
    patches = [r for r in emulator.requests("swap") if r["method"] == "PATCH"]
    assert len(patches) == 8 + 3  # one per rename, plus one per cycle for its temporary name
    assert all(r["status"] in (200, 204) for r in patches)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("names", "variations", "config_lengths"),
    [
        (["\N{GRINNING FACE}" * 63 + x for x in "AB"], {}, {}),  # 127 UTF-16 units, 64 characters
        (["x" * 39 + y for y in "AB"], {"max_lengths": {"Name": 40}}, {"max_lengths": {"name": 40}}),
    ],
    ids=["emoji", "narrower"],
)
def test_a_swap_of_long_names_fits_its_temporary_name_in_the_tenants_limit(
    emulator: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    names: list[str],
    variations: dict[str, Any],
    config_lengths: dict[str, Any],
) -> None:
    """The temporary name of a swap is counted as the tenant counts (UTF-16 code units) and held to the
    tenant's own limit on names (the config's ``max_lengths``), so that the tenant takes it."""
    emulator.add_tenant("swap", variations=variations)
    url = emulator.tenant_url("swap")
    seed(url, [{**BASE, "name": n} for n in names])
    state = live(url)
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(_rename_plan(url, state, [(names[0], names[1]), (names[1], names[0])]).to_json())
    config = project(tmp_path, [{"name": "swap", "url": url, **config_lengths}])
    result = cli(capsys, config, "apply", str(plan_file))
    assert result.code == 0, result.out + result.err
    after = live(url)
    assert after[names[0]]["_key"] == state[names[1]]["_key"]
    assert after[names[1]]["_key"] == state[names[0]]["_key"]


@pytest.mark.slow
def test_a_stale_rename_blocks_only_the_rename_that_needs_its_name(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.add_tenant("swap")
    url = emulator.tenant_url("swap")
    seed(url, [{**BASE, "name": n} for n in ("A", "B", "X")])
    state = live(url)
    plan_file = tmp_path / "plan.json"
    # B -> C must happen before A -> B; X -> Y is independent.
    plan_file.write_text(_rename_plan(url, state, [("A", "B"), ("B", "C"), ("X", "Y")]).to_json())
    with http(url) as client:  # someone touches B meanwhile
        client.patch(f"Integrations({state['B']['_key']})", json={fields.odata_name("notes"): "mine"})
    config = project(tmp_path, [{"name": "swap", "url": url}])

    result = cli(capsys, config, "apply", str(plan_file))
    assert result.code == 1
    assert re.search(
        r'STALE: rename "B" -> "C" \(key \d+\): changed since the plan: notes is now "mine"', result.out
    )
    assert re.search(
        r"SKIPPED: rename \"A\" -> \"B\" \(key \d+\): not attempted: the name 'B' is still held", result.out
    )
    assert 'renamed "X" -> "Y"' in result.out
    assert sorted(live(url)) == ["A", "B", "Y"]


def _definitions(count: int) -> list[dict[str, Any]]:
    return [
        {"name": f"Integration {i:02}", **BASE, "max_attempts": 1 + i % 5, "batch_size": 1 + i % 7}
        for i in range(count)
    ]


@pytest.mark.slow
def test_with_faults_apply_converges_within_three_runs_and_never_duplicates(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    definitions: list[dict[str, Any]] = _definitions(25)
    tenants = []
    for i in range(8):
        name = f"faulty{i}"
        emulator.add_tenant(name)
        # some already there, some with other values (updates), one under an old name (a rename)
        seed(emulator.tenant_url(name), [{**d, "max_attempts": 9} for d in definitions[:6]])
        seed(emulator.tenant_url(name), [{**definitions[6], "name": "Previously Six"}])
        emulator.set_faults(name, p429=0.1, p503=0.1, p_drop=0.05, p_commit_drop=0.05, retry_after=0, seed=i)
        tenants.append({"name": name, "url": emulator.tenant_url(name)})
    definitions[6]["sync"] = {"previous_names": ["Previously Six"]}
    config = project(
        tmp_path, tenants, definitions, settings={"max_retries": 6, "timeout_s": 10, "parallelism": 8}
    )

    codes = []
    for _ in range(3):
        run = cli(capsys, config, "apply", "--auto-approve")
        codes.append(run.code)
        if run.code == 0:
            break
    assert codes[-1] == 0, run.out + run.err
    faulted = sum(1 for tenant in tenants for r in emulator.requests(tenant["name"]) if r.get("fault"))
    assert faulted > 20  # the faults did happen

    for t in tenants:
        emulator.set_faults(t["name"])
    for t in tenants:
        state = live(t["url"])  # asserts that no name exists twice
        assert sorted(state) == sorted(d["name"] for d in definitions)
    again = cli(capsys, config, "plan", "--detailed-exitcode")
    assert again.code == 0, again.out


@pytest.mark.slow
def test_an_interrupted_apply_stops_cleanly_and_the_next_run_completes(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.add_tenant("slow")
    url = emulator.tenant_url("slow")
    definitions = _definitions(30)
    config = project(tmp_path, [{"name": "slow", "url": url}], definitions)
    emulator.set_faults("slow", latency_ms=100)

    process = subprocess.Popen(
        [sys.executable, "-m", "integration_sync", "--config", str(config), "apply", "--auto-approve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        deadline = time.monotonic() + 30
        while sum(1 for r in emulator.requests("slow") if r["method"] == "POST") < 3:
            assert process.poll() is None and time.monotonic() < deadline, "apply never started writing"
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 1, out + err
    assert "Interrupted: starting nothing new" in err
    assert "Interrupted: nothing new was started after the signal." in out
    assert "not started: interrupted" in out
    assert "Traceback" not in err
    created = live(url)
    assert 3 <= len(created) < 30

    emulator.set_faults("slow")
    second = cli(capsys, config, "apply", "--auto-approve")
    assert second.code == 0, second.out + second.err
    assert f"{30 - len(created)} to create" in second.out
    assert sorted(live(url)) == sorted(d["name"] for d in definitions)
