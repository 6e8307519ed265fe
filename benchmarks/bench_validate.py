"""Benchmark: ``integration-sync validate`` against ``check-jsonschema --schemafile`` on the same files.

Generates 3,000 realistic definition files (both directions, filters, ``${var}`` placeholders, sync
blocks), then times both tools as subprocesses, alternating runs so that neither gets a warmer cache,
and prints the medians and the ratio. Both read the same schema file; ours also keeps line numbers,
checks the rules between fields, the filter syntax, cross-file names and resolves every tenant.

    pip install -e '.[bench]'
    python benchmarks/bench_validate.py [--files 3000] [--runs 5]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "schemas" / "integration.schema.json"

CONFIG = """\
definitions: definitions
tenants:
  - name: local
    url: emulator:local
    vars: {xero_system_id: 7}
  - name: acme
    url: https://acme.example.com/OData/
    token_env: FK_TOKEN_ACME
    tags: [uk]
    vars: {xero_system_id: 31}
"""

ENTITIES = ["Invoice", "Payment", "Customer", "Supplier", "Expense", "Agreement", "BankTransaction"]


def definition(i: int) -> str:
    entity = ENTITIES[i % len(ENTITIES)]
    outbound = i % 3 != 0
    lines = [
        "# yaml-language-server: $schema=../../../schemas/integration.schema.json",
        f"name: {entity} Integration {i:05d}",
        f"direction: {'Outbound' if outbound else 'Inbound'}",
        f"entity: {entity}",
        f"consent_type: {'OAuth' if i % 2 else 'ApiKey'}",
        f'filter: Status == "Approved" && Amount > {i} && DueDate >= DateTime(2026, 1, 1)',  # no two alike
        "system_id: ${xero_system_id}" if i % 4 == 0 else f"system_id: {i % 50 + 1}",
        f"schedule_id: {i % 7 + 1}",
        f"element_id: element-{i}",
        f"max_attempts: {i % 5 + 1}",
        "parallel: true",
        f"batch_size: {i % 20 + 1}",
        f"include_updates: {'true' if outbound else 'false'}",
        "managed: true",
        "active: true",
        f"notes: Generated definition number {i} for the benchmark.",
        "sync:",
        "  tenants: [local, tag:uk]" if i % 5 else '  tenants: ["*"]',
        f"  previous_names: [Old {entity} {i:05d}]",
        "  ignore_changes: [schedule_id]",
    ]
    return "\n".join(lines) + "\n"


def generate(root: Path, count: int) -> list[Path]:
    folder = root / "definitions"
    folder.mkdir(parents=True)
    (root / "integration-sync.yaml").write_text(CONFIG, encoding="utf-8")
    paths = []
    for i in range(count):
        path = folder / f"integration-{i:05d}.yaml"
        path.write_text(definition(i), encoding="utf-8")
        paths.append(path)
    return paths


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run; CPU time is less disturbed by a busy machine."""
    cpu, start = _child_cpu(), time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed, cpu = time.perf_counter() - start, _child_cpu() - cpu
    if out.returncode != 0:
        sys.exit(f"{cmd[:3]} failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    checker = shutil.which("check-jsonschema")
    if checker is None:
        sys.exit("check-jsonschema not found: pip install -e '.[bench]'")
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        root = Path(tmp)
        paths = generate(root, args.files)
        ours = [sys.executable, "-m", "integration_sync", "validate"]
        theirs = [checker, "--schemafile", str(SCHEMA), *(str(p) for p in paths)]
        timed(ours, root), timed(theirs, root)  # warm-up: imports compiled, files in the page cache
        ours_t: list[tuple[float, float]] = []
        theirs_t: list[tuple[float, float]] = []
        for _ in range(args.runs):
            ours_t.append(timed(ours, root))
            theirs_t.append(timed(theirs, root))
    print(f"files: {args.files}, runs: {args.runs} each, alternating; medians")
    print(f"{'':32}{'wall s':>8}{'CPU s':>8}")
    for label, runs in (("integration-sync validate", ours_t), ("check-jsonschema --schemafile", theirs_t)):
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        print(f"{label:32}{wall:8.2f}{cpu:8.2f}")
    for i, kind in enumerate(("wall", "CPU")):
        ratio = statistics.median(r[i] for r in theirs_t) / statistics.median(r[i] for r in ours_t)
        print(f"ratio ({kind} time): integration-sync is {ratio:.1f}x faster")


if __name__ == "__main__":
    main()
