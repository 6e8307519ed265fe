"""Whether a tenant's plan may be applied, and whether each item still stands as planned.

Pure checks for ``applier``: a tenant's plan refused whole before its listing (``refusal``) or after it
(``refusal_after_listing``: deletes permitted, IsManaged, the safety thresholds recomputed over the
listing), an item whose live state moved since the plan (``moved_item``), and one the tenant already
holds as planned (``as_planned``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from integration_sync import fields
from integration_sync.config import Settings, TenantConfig
from integration_sync.fields import UNSET
from integration_sync.plan import (
    Change,
    Create,
    Delete,
    Key,
    Rename,
    SafetyVerdict,
    TenantPlan,
    Update,
    deletes_permitted,
    equal,
)

if TYPE_CHECKING:
    from integration_sync.client import LiveIntegration

ETAG_MOVED: Final = "changed since the plan (its etag no longer matches); it was left as it is"
GONE: Final = "no longer exists on the tenant (deleted since the plan)"


@dataclass(frozen=True)
class ApplyOptions:
    """``allow_delete`` True (``--allow-delete``): deletes are permitted whatever the plan recorded;
    None: as the plan recorded them (``plan.deletes_permitted``)."""

    parallelism: int = Settings.parallelism
    per_tenant: int = 1
    force: bool = False
    allow_delete: bool | None = None


def refusal(tenant_plan: TenantPlan, tenant: TenantConfig | None, options: ApplyOptions) -> str | None:
    """Why a tenant's plan is refused as a whole before it is even listed, or ``None`` (what needs the
    live listing is ``refusal_after_listing``)."""
    if tenant is None:
        return "not in the config: the plan names a tenant this config does not have"
    if tenant_plan.url != tenant.url:
        return (
            f"the plan was made for url {tenant_plan.url!r} but the config now says {tenant.url!r}; "
            "make a new plan"
        )
    if tenant_plan.error is not None:
        return f"not planned: {tenant_plan.error}"
    if tenant_plan.ambiguous:
        return "refused: the plan holds ambiguous matches: " + "; ".join(
            a.message for a in tenant_plan.ambiguous
        )
    return None


def refusal_after_listing(
    tenant_plan: TenantPlan,
    tenant: TenantConfig,
    options: ApplyOptions,
    verdict: SafetyVerdict,
    unmanaged: Collection[Key],
) -> str | None:
    """Why a tenant's plan is refused whole, before its first write, once its live listing is read
    (``verdict``: the safety thresholds recomputed over that listing; ``unmanaged``: the keys it lists
    without ``IsManaged``), or ``None``. Every setting or flag it would need is named at once."""
    reasons: list[str] = []
    needs: list[str] = []
    deletes = [c for c in tenant_plan.changes if isinstance(c, Delete)]
    if deletes and tenant_plan.partial:
        reasons.append("a partial plan (--integration) never deletes, and this one holds deletes")
    owned = [d.name for d in deletes if dict(d.before).get("managed") is not True or d.key in unmanaged]
    if owned:
        names = ", ".join(json.dumps(n, ensure_ascii=False) for n in owned)
        reasons.append(f"it deletes integrations that are not IsManaged ({names}): those are never deleted")
    recorded = tenant_plan.delete_permission
    if deletes and not deletes_permitted(recorded, options.allow_delete, tenant.safety.allow_delete):
        if recorded == "config":
            reasons.append(
                "its deletes were allowed by the config's safety.allow_delete when it was planned, "
                "and the config no longer allows them"
            )
            needs.append(f"safety.allow_delete: true for tenant {tenant.name} (or --allow-delete)")
        else:
            reasons.append("it holds deletes that nothing allowed when it was planned")
            needs.append("--allow-delete")
    if verdict.unsafe and not options.force:
        reasons.append("refused by the safety thresholds: " + "; ".join(verdict.reasons))
        needs.append("--force")
    if not reasons:
        return None
    text = "; ".join(reasons)
    if needs and not (owned or (deletes and tenant_plan.partial)):
        text += f"; to apply it whole: {' and '.join(needs)}"
    else:  # an edited plan: no setting makes it right
        text += "; nothing was sent (make a new plan)"
    return text


def moved_values(change: Update | Rename | Delete, live: Mapping[str, Any]) -> str | None:
    """How the live values (OData names) differ from what the change was planned against, or None."""
    values = fields.from_odata(live)
    for key, before in change.before:
        if key not in values and before is not None:
            return f"{key} is no longer returned (was {json.dumps(before)})"
        if not equal(values.get(key, UNSET), before):
            return f"{key} is now {json.dumps(values[key])} (planned against {json.dumps(before)})"
    for fc in () if isinstance(change, Delete) else change.fields:
        if fc.before is UNSET and not equal(values.get(fc.field, UNSET), UNSET):
            return f"{fc.field} is now {json.dumps(values[fc.field])} (planned against no value)"
    return None


class NotYet:
    """Marks an item the tenant does not hold as planned yet."""


NOT_YET: Final = NotYet()


def as_planned(
    change: Change,
    by_key: Mapping[Key, LiveIntegration],
    by_name: Mapping[str, Sequence[LiveIntegration]],
) -> Key | NotYet | None:
    """When the tenant already holds what ``change`` would make (exactly that name and every planned
    value; for a delete, the integration gone): the key (a create's; ``None`` for a delete), else
    ``NOT_YET``. Nothing needs sending then, and nothing a person made is touched."""
    if isinstance(change, Delete):
        return None if change.key not in by_key else NOT_YET
    if isinstance(change, Create):
        for made in by_name.get(change.name.casefold(), ()):
            values = fields.from_odata(made.values)
            if made.name == change.name and all(equal(values.get(k, UNSET), v) for k, v in change.body):
                return made.key
        return NOT_YET
    item = by_key.get(change.key)
    if item is None or item.name != change.name:
        return NOT_YET
    values = fields.from_odata(item.values)
    if all(equal(values.get(fc.field, UNSET), fc.after) for fc in change.fields):
        return item.key
    return NOT_YET


def moved_item(change: Update | Rename | Delete, item: LiveIntegration | None) -> str | None:
    """Why a fresh list says the item moved since the plan, or None."""
    if item is None:
        return GONE
    if change.etag is not None and item.etag is not None:
        return ETAG_MOVED if item.etag != change.etag else None
    if (why := moved_values(change, item.values)) is not None:
        return f"changed since the plan: {why}; it was left as it is (make a new plan)"
    return None
