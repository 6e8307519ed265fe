"""Apply benchmark: changes per second and requests per change against emulator tenants with latency.

    python benchmarks/bench_apply.py                      # 16 tenants x 40 changes, 20 ms per request
    python benchmarks/bench_apply.py --tenants 8 --latency-ms 50 --parallelism 1 4 16

Each tenant starts with the same live integrations; the definitions make ``--creates`` creates,
``--updates`` updates and ``--renames`` renames on every tenant. The plan is made once (no latency),
then applied with ``--latency-ms`` on every request, from a fresh copy of the live state each time
(``--repeat`` times; the median wall time counts, the machine being shared):

- at each ``--parallelism`` (tenants at once; one write at a time per tenant, the default);
- on tenants without etags (a read of the item before each update and rename, to compare it with the
  plan, so 2 requests for those);
- with lost replies (5% dropped connections, 5% commit-then-drop, no latency): the extra requests are
  the re-sends and the reads that check whether a lost create went through.

Requests per change counts every request the apply sent (GETs included). Goal: 1 per change, plus the
one list of each tenant before its first write (the check that nothing moved since the plan), and a
read only where a reply was lost or the tenant has no etags. The emulator runs in its own process
(``integration-sync emulator``, driven through its admin surface); the library's ``apply_plan`` runs
in this one and is timed alone (no interpreter start-up, no planning).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import yaml

from integration_sync import fields
from integration_sync.apply_checks import ApplyOptions
from integration_sync.apply_report import ApplyReport
from integration_sync.config import load_config
from integration_sync.fleet import FleetOptions, apply_plan, plan_fleet
from integration_sync.plan import Plan
from integration_sync.resolve import desired_for
from integration_sync.validate import validate

BASE = {"direction": "Inbound", "entity": "Invoice", "consent_type": "OAuth", "managed": True}


def live_docs(args: argparse.Namespace) -> list[dict[str, Any]]:
    updated = [{"name": f"Updated {j:03d}", **BASE, "max_attempts": 3} for j in range(args.updates)]
    renamed = [{"name": f"Old {j:03d}", **BASE, "max_attempts": 3} for j in range(args.renames)]
    return updated + renamed


def definition_docs(args: argparse.Namespace) -> list[dict[str, Any]]:
    created = [{"name": f"Created {j:03d}", **BASE, "max_attempts": 2} for j in range(args.creates)]
    updated = [{"name": f"Updated {j:03d}", **BASE, "max_attempts": 4} for j in range(args.updates)]
    renamed = [
        {"name": f"New {j:03d}", **BASE, "max_attempts": 3, "sync": {"previous_names": [f"Old {j:03d}"]}}
        for j in range(args.renames)
    ]
    return created + updated + renamed


class Emulator:
    """``integration-sync emulator`` in a subprocess, driven through its admin surface."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "integration_sync", "emulator", "--port", str(port), "--tenant", "boot"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.http = httpx.Client(base_url=self.url, timeout=30)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.http.get("/_emulator/tenants").raise_for_status()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise SystemExit("the emulator did not start") from None
                time.sleep(0.05)

    def tenant_url(self, name: str) -> str:
        return f"{self.url}/{name}/OData/"

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        r = self.http.request(method, "/_emulator/" + path, **kwargs)
        r.raise_for_status()
        return r.json() if r.content else None

    def seed(self, tenants: list[str], docs: list[dict[str, Any]], variations: dict[str, Any]) -> None:
        """A fresh copy of the live state on every tenant (set-up only, not timed)."""
        self.admin("POST", "reset", json={})
        for t in tenants:
            self.admin("POST", "tenants", json={"name": t, "variations": variations})
            for doc in docs:
                r = self.http.post(f"/{t}/OData/Integrations", json=fields.to_odata(doc))
                r.raise_for_status()
            self.admin("DELETE", "requests", params={"tenant": t})

    def set_faults(self, tenant: str, **faults: Any) -> None:
        self.admin("POST", "faults", json={"tenant": tenant, **faults})

    def requests(self, tenants: list[str]) -> Counter[str]:
        out: Counter[str] = Counter()
        for t in tenants:
            log = self.admin("GET", "requests", params={"tenant": t})
            entries = log["requests"] if isinstance(log, dict) else log
            out.update(r["method"] for r in entries)
        return out

    def close(self) -> None:
        self.http.close()
        self.process.terminate()
        self.process.wait(10)


def write_project(root: Path, server: Any, tenants: list[str], docs: list[dict[str, Any]]) -> Path:
    (root / "definitions").mkdir(exist_ok=True)
    for j, doc in enumerate(docs):
        (root / "definitions" / f"i{j:03d}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    config = {
        "definitions": "definitions",
        "tenants": [{"name": t, "url": server.tenant_url(t)} for t in tenants],
        "settings": {"max_retries": 6, "timeout_s": 60},
        "safety": {"allow_delete": False, "max_change_pct": 100, "max_delete_pct": 100},
    }
    path = root / "integration-sync.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def make_plan(config_path: Path) -> Plan:
    config = load_config(config_path, must_exist=True)
    report = validate(config)
    assert report.ok, "the benchmark's definitions are not valid"
    desired = {t.name: desired_for(report.definitions, t) for t in config.tenants}
    return asyncio.run(plan_fleet(config, config.tenants, desired, FleetOptions(parallelism=16)))


def run(
    server: Any, config_path: Path, plan: Plan, tenants: list[str], parallelism: int
) -> tuple[float, ApplyReport, Counter[str]]:
    config = load_config(config_path, must_exist=True)
    before = server.requests(tenants)
    start = time.perf_counter()
    report = asyncio.run(apply_plan(config, plan, ApplyOptions(parallelism=parallelism)))
    elapsed = time.perf_counter() - start
    return elapsed, report, server.requests(tenants) - before


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tenants", type=int, default=16)
    ap.add_argument("--latency-ms", type=int, default=20)
    ap.add_argument("--creates", type=int, default=20)
    ap.add_argument("--updates", type=int, default=10)
    ap.add_argument("--renames", type=int, default=10)
    ap.add_argument("--parallelism", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--repeat", type=int, default=3, help="runs per scenario; the median wall time counts")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    tenants = [f"t{i:03d}" for i in range(args.tenants)]
    live, docs = live_docs(args), definition_docs(args)
    changes = args.tenants * (args.creates + args.updates + args.renames)
    scenarios: list[tuple[str, int, dict[str, Any], dict[str, Any]]] = [
        (f"parallelism {p}", p, {}, {"latency_ms": args.latency_ms}) for p in args.parallelism
    ]
    top = max(args.parallelism)
    scenarios.append(
        (f"parallelism {top}, no etags", top, {"etags_off": True}, {"latency_ms": args.latency_ms})
    )
    lossy = {"p_drop": 0.05, "p_commit_drop": 0.05, "seed": 7}
    scenarios.append((f"parallelism {top}, 5% dropped + 5% commit-then-drop", top, {}, lossy))

    rows = []
    print(
        f"{args.tenants} tenants x {args.creates} creates + {args.updates} updates + {args.renames} renames "
        f"= {changes} changes, {args.latency_ms} ms per request"
    )
    server = Emulator()
    try:
        tmp = tempfile.mkdtemp()
        config = write_project(Path(tmp), server, tenants, docs)
        for label, parallelism, variations, faults in scenarios:
            walls = []
            for _ in range(args.repeat):
                server.seed(tenants, live, variations)
                plan = make_plan(config)
                assert sum(len(t.changes) for t in plan.tenants) == changes, "unexpected plan"
                for t in tenants:
                    server.set_faults(t, **faults)
                elapsed, report, sent = run(server, config, plan, tenants, parallelism)
                walls.append(elapsed)
            elapsed = statistics.median(walls)
            done = report.counts()["done"]
            total = sum(sent.values())
            row = {
                "scenario": label,
                "parallelism": parallelism,
                "wall_s": round(elapsed, 3),
                "changes_done": done,
                "changes_per_s": round(done / elapsed, 1),
                "requests": dict(sorted(sent.items())),
                "requests_per_change": round(total / max(done, 1), 3),
            }
            rows.append(row)
            print(
                f"{label:<48} {elapsed:6.2f} s  {row['changes_per_s']:7.1f} changes/s  "
                f"{row['requests_per_change']:.3f} requests/change  {dict(sorted(sent.items()))}"
                + ("" if report.ok else f"  NOT ALL APPLIED: {report.counts()}")
            )
    finally:
        server.close()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"args": {**vars(args), "json": str(args.json)}, "runs": rows}, indent=2)
        )


if __name__ == "__main__":
    main()
