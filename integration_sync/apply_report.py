"""What an apply did: per tenant, each planned change ``done``, ``stale``, ``failed`` or ``skipped`` with
its reason (``ApplyReport``), and its JSON form for ``--report`` (``ApplyReport.to_json``).

The values only: ``applier`` builds them, the renderers under ``render/`` show them, as ``plan`` holds
the values of a plan. No token ever reaches a report: reasons come from ``ApiError`` messages, which
are built without headers, and are redacted before they are stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final, Literal

from integration_sync import __version__
from integration_sync.plan import Change, Create, Key, Rename

REPORT_VERSION: Final = 1
Status = Literal["done", "stale", "failed", "skipped"]
STATUSES: Final[tuple[Status, ...]] = ("done", "stale", "failed", "skipped")


@dataclass(frozen=True)
class ItemResult:
    """What became of one planned change."""

    action: str
    name: str
    status: Status
    reason: str = ""
    from_name: str | None = None
    key: Key | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action, "name": self.name, "status": self.status}
        if self.reason:
            out["reason"] = self.reason
        if self.from_name is not None:
            out["from_name"] = self.from_name
        if self.key is not None:
            out["key"] = self.key
        return out


@dataclass(frozen=True)
class TenantResult:
    """One tenant's outcome. ``error`` is why the tenant as a whole was refused or failed (its items
    are then ``skipped``); ``None`` when its items were attempted."""

    tenant: str
    items: tuple[ItemResult, ...] = ()
    error: str | None = None

    def count(self, status: Status) -> int:
        return sum(1 for i in self.items if i.status == status)

    def counts(self) -> dict[str, int]:
        return {s: self.count(s) for s in STATUSES}

    @property
    def ok(self) -> bool:
        return self.error is None and all(i.status == "done" for i in self.items)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.tenant,
            "ok": self.ok,
            "error": self.error,
            "counts": self.counts(),
            "items": [i.to_dict() for i in self.items],
        }


@dataclass(frozen=True)
class ApplyReport:
    """Every tenant's outcome, in the plan's tenant order, with what identifies the plan applied."""

    tenants: tuple[TenantResult, ...] = ()
    interrupted: bool = False
    definitions_digest: str = ""
    tool_version: str = __version__

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(t.ok for t in self.tenants)

    def counts(self) -> dict[str, int]:
        return {s: sum(t.count(s) for t in self.tenants) for s in STATUSES}

    def to_dict(self) -> dict[str, Any]:
        return {
            "report_version": REPORT_VERSION,
            "tool_version": self.tool_version,
            "plan_definitions_digest": self.definitions_digest,
            "ok": self.ok,
            "interrupted": self.interrupted,
            "counts": self.counts(),
            "tenants": [t.to_dict() for t in self.tenants],
        }

    def to_json(self) -> str:
        """Sorted keys, two-space indent, a final newline (deterministic for the same outcome)."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def item_result(change: Change, status: Status, reason: str = "", key: Key | None = None) -> ItemResult:
    return ItemResult(
        action=change.action,
        name=change.name,
        status=status,
        reason=reason,
        from_name=change.from_name if isinstance(change, Rename) else None,
        key=key if key is not None or isinstance(change, Create) else change.key,
    )
