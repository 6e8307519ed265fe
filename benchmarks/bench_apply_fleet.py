"""Fleet apply benchmark: `integration-sync apply PLAN` over many tenants, one change each, and its floor.

    python benchmarks/bench_apply_fleet.py                         # 1,000 tenants x 1 change
    python benchmarks/bench_apply_fleet.py --tenants 10000         # the fleet at scale
    python benchmarks/bench_apply_fleet.py --tenants 300 --profile apply.prof

Each tenant holds ``--live`` managed integrations, all defined; one definition differs in one field, so
that the plan has exactly one update per tenant (a managed integration edited once). The plan is made
(``plan --out``, no latency, not timed), then the emulator (in this process, its own thread; seeded in
bulk) adds ``--latency-ms`` to every request, and, at each ``--parallelism``:

- the real CLI in a subprocess, ``apply PLAN --report FILE``: wall time, CPU time (start-up included)
  and peak RSS of that process alone, and the requests it sent per tenant (goal: exactly 1 list and
  1 write: the list that checks nothing moved since the plan, and the PATCH with ``If-Match``);
- the floor in a subprocess: plain httpx, one client per tenant sharing one SSL context, the same
  parallelism, the same list (parsing its JSON) and the same PATCH with ``If-Match``;
- CPU per tenant of both and their ratio (goal: at most 2x), the network bound ceil(T / parallelism)
  x 2 x latency, and the goal for wall time: at most 2x the larger of that bound and the floor's CPU,
  plus start-up; and the emulator's own CPU per request.

CPUs are pinned and the ratio taken as in ``bench_plan_fleet.py``.

The CLI runs first (its PATCH is then "already as planned" for nobody else); the floor then sends the
same PATCH again, which the emulator writes the same way.
"""

from __future__ import annotations

import asyncio
import json
import math
import ssl
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench_plan_fleet import HEADERS, fleet_arguments, measured, pin_cpus, plan_one_tenant, ratios, warm_up

BASE = {"direction": "Inbound", "entity": "Invoice", "consent_type": "OAuth", "managed": True}
EDITED = "Integration 000"  # the definition that differs: max_attempts 3 -> 4


# ------------------------------------------------------------------------------------------ the floor


async def _floor(urls: list[str], parallelism: int, page_size: int) -> int:
    """List each tenant, then PATCH the edited integration with If-Match: plain httpx."""
    import httpx

    context = ssl.create_default_context()
    gate = asyncio.Semaphore(parallelism)
    headers = {**HEADERS, "Prefer": f"odata.maxpagesize={page_size}"}
    body = json.dumps({"MaxAttempts": 4}).encode()

    async def one(base: str) -> int:
        async with gate, httpx.AsyncClient(verify=context, headers=headers, timeout=120) as http:
            response = await http.get(base + "Integrations")
            response.raise_for_status()
            entity = next(e for e in response.json()["value"] if e["Name"] == EDITED)
            patch = await http.patch(
                f"{base}Integrations({entity['Id']})",
                content=body,
                headers={"Content-Type": "application/json", "If-Match": entity["@odata.etag"]},
            )
            patch.raise_for_status()
            return 1

    return sum(await asyncio.gather(*(one(u) for u in urls)))


def floor_child(urls_file: Path, parallelism: int, page_size: int) -> None:
    urls = urls_file.read_text().split()
    print(asyncio.run(_floor(urls, parallelism, page_size)))


# ------------------------------------------------------------------------------------------ set-up


def seed(server: Any, tenants: list[str], live: int) -> None:
    from integration_sync import fields
    from integration_sync.emulator import model

    defaults = {p.name: p.default() for p in model.props()}
    docs = [{"name": f"Integration {j:03d}", **BASE, "max_attempts": 3} for j in range(live)]
    entities = [{**defaults, **fields.to_odata(doc)} for doc in docs]
    for t in tenants:
        server.emulator.store.clear(t)
        server.emulator.store.insert_many(t, entities)


def write_project(root: Path, server: Any, tenants: list[str], live: int, page_size: int) -> Path:
    import yaml

    (root / "definitions").mkdir(exist_ok=True)
    for j in range(live):
        name = f"Integration {j:03d}"
        doc = {"name": name, **BASE, "max_attempts": 4 if name == EDITED else 3}
        (root / "definitions" / f"i{j:03d}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    config = {
        "definitions": "definitions",
        "tenants": [{"name": t, "url": server.tenant_url(t)} for t in tenants],
        "settings": {"page_size": page_size, "max_retries": 2, "timeout_s": 120},
        "safety": {"allow_delete": False, "max_change_pct": 100, "max_delete_pct": 100},
    }
    path = root / "integration-sync.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    (root / "urls.txt").write_text("\n".join(server.tenant_url(t) for t in tenants) + "\n")
    return path


def requests_by_tenant(server: Any, tenants: list[str]) -> Counter[tuple[int, int]]:
    """How many tenants got each (lists, writes) pair since the logs were cleared."""
    out: Counter[tuple[int, int]] = Counter()
    for t in tenants:
        log = server.requests(t)
        lists = sum(1 for r in log if r["method"] == "GET" and r["path"].endswith("/Integrations"))
        writes = sum(1 for r in log if r["method"] in ("POST", "PATCH", "DELETE"))
        out[(lists, writes)] += 1
        server.emulator.clear_requests(t)
    return out


def main() -> None:
    ap = fleet_arguments(__doc__, 20, "managed, defined integrations per tenant", "the CLI's apply")
    args = ap.parse_args()
    if args.floor_child:
        floor_child(args.floor_child, args.parallelism[0], args.page_size)
        return

    from integration_sync.emulator import start_server

    pinned = pin_cpus()
    tenants = [f"t{i:05d}" for i in range(args.tenants)]
    started = time.perf_counter()
    with start_server(tenants=tenants) as server, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = write_project(root, server, tenants, args.live, args.page_size)
        print(
            f"{args.tenants} tenants x 1 change ({args.live} live integrations each, page size "
            f"{args.page_size}), {args.latency_ms} ms per request; emulator up in "
            f"{time.perf_counter() - started:.1f} s; {pinned}"
        )
        python = [sys.executable, *(["-m", "cProfile", "-o", str(args.profile)] if args.profile else [])]
        cli = [*python, "-m", "integration_sync", "--config", str(config)]
        plan_file, report_file = root / "plan.json", root / "report.json"
        seed(server, tenants[:1], args.live)  # the warm-up's floor edits it; each run seeds again
        (root / "warm.txt").write_text(server.tenant_url(tenants[0]) + "\n")
        warm_up(
            [
                sys.executable,
                __file__,
                "--floor-child",
                str(root / "warm.txt"),
                "--page-size",
                str(args.page_size),
            ],
            plan_one_tenant(config, tenants[0]),
            [sys.executable, "-m", "integration_sync", "apply", "--help"],
        )
        rows = []
        for p in args.parallelism:
            cli_runs, floor_runs, shapes = [], [], Counter[tuple[int, int]]()
            for _ in range(args.repeat):
                seed(server, tenants, args.live)
                server.set_faults("*")
                planning = [sys.executable, "-m", "integration_sync", "--config", str(config), "plan"]
                measured([*planning, "--parallelism", "64", "--out", str(plan_file)])
                requests_by_tenant(server, tenants)  # clears the logs
                server.set_faults("*", latency_ms=args.latency_ms)
                cmd = [*cli, "apply", str(plan_file), "--parallelism", str(p), "--report", str(report_file)]
                cli_runs.append(measured(cmd))
                shapes = requests_by_tenant(server, tenants)
                floor_cmd = [sys.executable, __file__, "--floor-child", str(root / "urls.txt")]
                floor_runs.append(
                    measured([*floor_cmd, "--parallelism", str(p), "--page-size", str(args.page_size)])
                )
            cli_m = {k: statistics.median(r[k] for r in cli_runs) for k in cli_runs[0]}
            floor_m = {k: statistics.median(r[k] for r in floor_runs) for k in floor_runs[0]}
            report = json.loads(report_file.read_text())
            network = math.ceil(args.tenants / p) * 2 * args.latency_ms / 1000
            row = {
                "parallelism": p,
                "cli_wall_s": round(cli_m["wall_s"], 2),
                "cli_cpu_s": round(cli_m["cpu_s"], 2),
                "cli_cpu_ms_per_tenant": round(1000 * cli_m["cpu_s"] / args.tenants, 2),
                "cli_peak_rss_mb": round(cli_m["rss_mb"], 1),
                "floor_wall_s": round(floor_m["wall_s"], 2),
                "floor_cpu_s": round(floor_m["cpu_s"], 2),
                "floor_cpu_ms_per_tenant": round(1000 * floor_m["cpu_s"] / args.tenants, 2),
                "cpu_ratio": statistics.median(ratios(cli_runs, floor_runs)),
                "cpu_ratio_runs": ratios(cli_runs, floor_runs),
                "network_bound_s": round(network, 2),
                "wall_goal_s": round(2 * max(network, floor_m["cpu_s"]), 2),
                "emulator_cpu_ms_per_request": round(1000 * cli_m["server_cpu_s"] / (2 * args.tenants), 2),
                "requests_per_tenant": {
                    f"{lists} list + {writes} write": n for (lists, writes), n in shapes.items()
                },
                "counts": report["counts"],
            }
            rows.append(row)
            print(
                f"parallelism {p}:\n"
                f"  CLI    {row['cli_wall_s']:8.2f} s wall  {row['cli_cpu_s']:7.2f} s CPU "
                f"({row['cli_cpu_ms_per_tenant']} ms/tenant)  peak RSS {row['cli_peak_rss_mb']:.0f} MB\n"
                f"  floor  {row['floor_wall_s']:8.2f} s wall  {row['floor_cpu_s']:7.2f} s CPU "
                f"({row['floor_cpu_ms_per_tenant']} ms/tenant)\n"
                f"  CPU ratio CLI/floor {row['cpu_ratio']:.2f} (goal <= 2; each run's {row['cpu_ratio_runs']}); "
                f"network bound "
                f"{row['network_bound_s']:.2f} s; wall goal 2 x max(network, floor CPU) = "
                f"{row['wall_goal_s']:.2f} s plus start-up; emulator "
                f"{row['emulator_cpu_ms_per_request']} ms CPU per request\n"
                f"  requests per tenant {row['requests_per_tenant']} (goal: every tenant 1 list + 1 write); "
                f"outcome {row['counts']}"
            )
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(
                json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "runs": rows}, indent=2)
            )


if __name__ == "__main__":
    main()
