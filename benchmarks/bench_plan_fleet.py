"""Fleet plan benchmark: `integration-sync plan` over many emulator tenants with per-request latency.

    python benchmarks/bench_plan_fleet.py                 # 100 tenants, 100 ms per request
    python benchmarks/bench_plan_fleet.py --tenants 20 --latency-ms 50 --parallelism 1 4 16

Each tenant holds ``--live`` integrations (``--definitions`` of them managed and defined, the rest
client-owned); a few definitions differ so that every tenant has changes. The real CLI runs in a
subprocess against a config naming every tenant; the emulator adds ``--latency-ms`` to every request.
Reported: wall time per parallelism, the speed-up, and list requests per tenant against the minimum
ceil(live / page size). Goals: at least 6x between parallelism 1 and 16; exactly the minimum requests.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from integration_sync import fields
from integration_sync.emulator import model, start_server

BASE = {"direction": "Inbound", "entity": "Invoice", "consent_type": "OAuth"}


def seed(server: Any, tenant: str, live: int, managed: int) -> None:
    """Live integrations straight into the emulator's store (set-up only; the plan reads over HTTP)."""
    for j in range(live):
        doc = {"name": f"Integration {j:03d}", **BASE, "max_attempts": 3, "managed": j < managed}
        entity = {p.name: p.default() for p in model.props()}
        entity.update(fields.to_odata(doc))
        server.emulator.store.insert(tenant, entity)


def write_project(root: Path, server: Any, tenants: list[str], definitions: int, page_size: int) -> Path:
    (root / "definitions").mkdir()
    docs = [
        {"name": f"Integration {j:03d}", **BASE, "max_attempts": 4 if j % 20 == 0 else 3, "managed": True}
        for j in range(definitions)
    ]
    docs += [{"name": f"New Integration {j}", **BASE, "managed": True} for j in range(2)]  # creates
    for j, doc in enumerate(docs):
        (root / "definitions" / f"i{j:03d}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    config = {
        "definitions": "definitions",
        "tenants": [{"name": t, "url": server.tenant_url(t)} for t in tenants],
        "settings": {"page_size": page_size, "max_retries": 2, "timeout_s": 60},
        "safety": {"allow_delete": False, "max_change_pct": 100, "max_delete_pct": 100},
    }
    path = root / "integration-sync.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def list_requests(server: Any, tenants: list[str]) -> Counter[str]:
    return Counter(
        {
            t: sum(
                1 for r in server.requests(t) if r["method"] == "GET" and r["path"].endswith("/Integrations")
            )
            for t in tenants
        }
    )


def run_plan(config: Path, parallelism: int) -> tuple[float, float, dict[str, Any]]:
    """One plan run: wall seconds, CPU seconds of the CLI process (user + system), the plan."""
    flags = ["--parallelism", str(parallelism), "--format", "json"]
    cpu_before = _children_cpu()
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "integration_sync", "--config", str(config), "plan", *flags],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
    elapsed = time.perf_counter() - start
    cpu = _children_cpu() - cpu_before
    if result.returncode != 0:
        raise SystemExit(f"plan failed (exit {result.returncode}):\n{result.stderr}")
    return elapsed, cpu, json.loads(result.stdout)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tenants", type=int, default=100)
    ap.add_argument("--latency-ms", type=int, default=100)
    ap.add_argument("--live", type=int, default=120, help="live integrations per tenant")
    ap.add_argument("--definitions", type=int, default=100, help="managed, defined integrations per tenant")
    ap.add_argument("--page-size", type=int, default=50)
    ap.add_argument("--parallelism", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--repeat", type=int, default=1, help="runs per parallelism; the median is reported")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    tenants = [f"t{i:03d}" for i in range(args.tenants)]
    with start_server(tenants=tenants) as server, tempfile.TemporaryDirectory() as tmp:
        for t in tenants:
            seed(server, t, args.live, args.definitions)
        config = write_project(Path(tmp), server, tenants, args.definitions, args.page_size)
        server.set_faults("*", latency_ms=args.latency_ms)
        minimum = math.ceil(args.live / args.page_size)
        print(
            f"{args.tenants} tenants, {args.latency_ms} ms per request, {args.live} live integrations each, "
            f"page size {args.page_size} (minimum {minimum} list requests per tenant)"
        )
        rows = []
        for p in args.parallelism:
            walls, cpus = [], []
            for _ in range(args.repeat):
                before = list_requests(server, tenants)
                elapsed, cpu, plan = run_plan(config, p)
                per_tenant = list_requests(server, tenants) - before
                walls.append(elapsed)
                cpus.append(cpu)
            counts = Counter(c["action"] for t in plan["tenants"] for c in t["changes"])
            row = {
                "parallelism": p,
                "wall_s": round(statistics.median(walls), 2),
                "wall_s_runs": [round(w, 2) for w in walls],
                "cli_cpu_s": round(statistics.median(cpus), 2),
                "list_requests_per_tenant": sorted(set(per_tenant.values())),
                "changes": dict(sorted(counts.items())),
            }
            rows.append(row)
            print(
                f"parallelism {p:>3}: {row['wall_s']:7.2f} s wall (median of {len(walls)}: "
                f"{row['wall_s_runs']}), {row['cli_cpu_s']:.2f} s CPU in the CLI, list requests per "
                f"tenant {row['list_requests_per_tenant']}, changes {row['changes']}"
            )
        if len(rows) > 1:
            speedup = rows[0]["wall_s"] / rows[-1]["wall_s"]
            print(
                f"speed-up {rows[0]['parallelism']} -> {rows[-1]['parallelism']}: {speedup:.1f}x (goal >= 6x)"
            )
        ok = all(r["list_requests_per_tenant"] == [minimum] for r in rows)
        print(
            f"list requests per tenant at the minimum ceil(live / page size) = {minimum}: {'yes' if ok else 'NO'}"
        )
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(
                json.dumps({"args": vars(args) | {"json": str(args.json)}, "runs": rows}, indent=2)
            )


if __name__ == "__main__":
    main()
