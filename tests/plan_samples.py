"""Example plans shared by the plan model and renderer tests (built by hand, so independent of the
planner)."""

from __future__ import annotations

from integration_sync.fields import UNSET
from integration_sync.plan import (
    Create,
    Delete,
    FieldChange,
    Plan,
    Rename,
    SafetyVerdict,
    TenantPlan,
    Update,
)


def sample_plan() -> Plan:
    acme = TenantPlan(
        tenant="acme",
        url="https://acme.example.com/OData/",
        live_digest="sha256:00",
        changes=(
            Delete(name="Old", key=9, etag=None, before=(("name", "Old"), ("managed", True))),
            Update(
                name="b",
                key=2,
                etag='W/"2"',
                fields=(FieldChange("notes", UNSET, None), FieldChange("batch_size", 1, 2)),
                before=(("name", "b"), ("batch_size", 1)),
            ),
            Create(name="Zed", body=(("name", "Zed"), ("direction", "Inbound"))),
            Rename(from_name="x", to_name="A", key="k'1", etag=None),
            Create(
                name="alpha",
                body=(("name", "alpha"), ("filter", 'Status == "Approved" | x'), ("max_attempts", 3)),
            ),
        ),
        unchanged=3,
        orphans=("zz", "Mirrored"),
        safety=SafetyVerdict(
            managed=5, change_pct=60.0, delete_pct=20.0, max_change_pct=50, max_delete_pct=10, min_existing=5
        ),
    )
    quiet = TenantPlan(tenant="quiet", url="emulator:quiet", live_digest="sha256:11", unchanged=4)
    broken = TenantPlan(
        tenant="Broken", url="http://127.0.0.1:1/b/OData/", error="GET /b/OData/Integrations: HTTP 401: no"
    )
    return Plan(tool_version="0.1.0", definitions_digest="sha256:ff", tenants=(acme, quiet, broken))


def empty_plan() -> Plan:
    quiet = TenantPlan(tenant="quiet", url="emulator:quiet", live_digest="sha256:11", unchanged=4)
    other = TenantPlan(tenant="other", url="emulator:other", live_digest="sha256:12", unchanged=0)
    return Plan(tool_version="0.1.0", definitions_digest="sha256:ff", tenants=(quiet, other))
