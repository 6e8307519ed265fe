"""Helpers of the apply tests: a project in tmp_path, emulator tenants seeded over HTTP, the CLI run."""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cli_run import Run, run_cli

from integration_sync import fields

BASE: dict[str, Any] = {"direction": "Inbound", "entity": "Invoice", "consent_type": "OAuth"}

#: What a tenant holds before planning (YAML keys).
LIVE: list[dict[str, Any]] = [
    {"name": "Keep", **BASE, "max_attempts": 3},
    {"name": "Edit", **BASE, "max_attempts": 3, "notes": "old"},
    {"name": "Old Name", **BASE, "max_attempts": 2},
    {"name": "lower case", **BASE, "max_attempts": 2},
    {"name": "Mirror Orphan", **BASE, "managed": True},
    {"name": "Client Owned", **BASE, "managed": False},
]
#: The definitions: one of each change (create, update, rename by previous name, case-only rename).
DEFINITIONS: list[dict[str, Any]] = [
    {"name": "Keep", **BASE, "max_attempts": 3},
    {"name": "Edit", **BASE, "max_attempts": 4, "notes": None},
    {"name": "New Name", **BASE, "max_attempts": 5, "sync": {"previous_names": ["Old Name"]}},
    {"name": "Lower Case", **BASE, "max_attempts": 2},
    {"name": "Brand New", **BASE, "batch_size": 2, "parallel": True},
]


def http(url: str, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=url, headers=headers, timeout=10)


def seed(url: str, items: list[dict[str, Any]] = LIVE, token: str | None = None) -> None:
    with http(url, token) as client:
        for item in items:
            r = client.post("Integrations", json=fields.to_odata(item))
            assert r.status_code in (201, 204), r.text


def live(url: str, token: str | None = None) -> dict[str, dict[str, Any]]:
    """The tenant's integrations by name (YAML keys, plus ``_key``), read with plain paging."""
    out: list[dict[str, Any]] = []
    with http(url, token) as client:
        next_url: str | None = url + "Integrations"
        while next_url:
            r = client.get(next_url)
            assert r.status_code == 200, r.text
            body = r.json()
            out.extend(body["value"])
            link = body.get("@odata.nextLink") or body.get("@nextLink")
            next_url = str(httpx.URL(next_url).join(link)) if link else None
    names = [str(e[fields.name_property()]) for e in out]
    twice = [n for n, c in collections.Counter(n.casefold() for n in names).items() if c > 1]
    assert not twice, f"names that exist twice: {twice}"
    return {
        str(e[fields.name_property()]): {**fields.from_odata(e), "_key": e[fields.ODATA_KEY]} for e in out
    }


def project(
    tmp_path: Path,
    tenants: list[dict[str, Any]],
    definitions: list[dict[str, Any]] = DEFINITIONS,
    **extra: Any,
) -> Path:
    folder = tmp_path / "definitions"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.yaml"):
        old.unlink()
    for i, d in enumerate(definitions):
        (folder / f"d{i:03}.yaml").write_text(yaml.safe_dump(d, sort_keys=False))
    config = {
        "definitions": "definitions",
        "tenants": tenants,
        "settings": {"max_retries": 2, "timeout_s": 10},
        # thresholds out of the way unless a test is about them (deletes stay disallowed)
        "safety": {"max_change_pct": 100, "max_delete_pct": 100},
        **extra,
    }
    path = tmp_path / "integration-sync.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def cli(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> Run:
    return run_cli(capsys, "--config", str(config), *args)
