"""Plans: what would change on each tenant, as values (``model``, ``changes``), what makes two values
equal (``values``), the safety rules judged on a plan (``safety``), and the plan file (``format`` for
its checks, ``saved`` for reading and combining files; documented in ``docs/plan-format.md``).

The names the rest of the tool uses are importable from here."""

from integration_sync.plan.changes import (
    ACTIONS,
    Ambiguity,
    Candidate,
    Change,
    Create,
    Delete,
    FieldChange,
    Rename,
    Update,
)
from integration_sync.plan.format import (
    FORMAT_VERSION,
    check_version,
    fits_a_plan_file,
    plan_schema,
)
from integration_sync.plan.model import Plan, TenantPlan
from integration_sync.plan.safety import (
    DeletePermission,
    SafetyVerdict,
    counts_for_safety,
    delete_permission,
    deletes_permitted,
    safety_base,
    usable_name,
)
from integration_sync.plan.saved import combine, load_plan
from integration_sync.plan.values import (
    SCALARS,
    Key,
    LiveLike,
    Values,
    digest,
    equal,
    first_difference,
    form_position,
    form_values,
    key_text,
    live_form,
    mapped_digest,
)

__all__ = [
    "ACTIONS",
    "FORMAT_VERSION",
    "SCALARS",
    "Ambiguity",
    "Candidate",
    "Change",
    "Create",
    "Delete",
    "DeletePermission",
    "FieldChange",
    "Key",
    "LiveLike",
    "Plan",
    "Rename",
    "SafetyVerdict",
    "TenantPlan",
    "Update",
    "Values",
    "check_version",
    "combine",
    "counts_for_safety",
    "delete_permission",
    "deletes_permitted",
    "digest",
    "equal",
    "first_difference",
    "fits_a_plan_file",
    "form_position",
    "form_values",
    "key_text",
    "live_form",
    "load_plan",
    "mapped_digest",
    "plan_schema",
    "safety_base",
    "usable_name",
]
