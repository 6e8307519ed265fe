"""A plan read by integration (``--group-by integration``): for each integration the plan changes, how
many tenants it changes, each exact change (an action, a rename from one name, a field going from one
value to another) with the tenants that have it, and those tenants listed (``SHOWN_TENANTS``, then a
count). ``group`` builds that view from a plan; the renderers are pure functions from a plan to text,
one per format, as in ``integration_sync/render/registry.py``.

Integrations are keyed by their name case-insensitively (a delete names a live integration, whose
spelling may differ between tenants); the spelling shown is the one the first tenant has. Tenant
failures, ambiguous matches and unsafe verdicts are said after the integrations, as the per-tenant view
says them, so nothing a plan holds is hidden by grouping it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from integration_sync.fields import UNSET
from integration_sync.plan import ACTIONS, Plan, Rename, Update
from integration_sync.render import plural
from integration_sync.render.github import annotation
from integration_sync.render.plan_text import Style, styler, summary_line, value, warning_line

#: Tenants named for one change; beyond, "and N more".
SHOWN_TENANTS: Final = 5


@dataclass(frozen=True)
class Drift:
    """One exact change and the tenants (in plan order) that have it. ``field`` is ``None`` for an
    action without fields (create, delete) or the rename itself (``before`` is the old name)."""

    action: str
    field: str | None
    before: Any
    after: Any
    tenants: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action}
        if self.field is not None:
            out["field"] = self.field
        if self.action == "rename" and self.field is None:
            out["from_name"] = self.before
        elif self.field is not None:
            if self.before is not UNSET:
                out["before"] = self.before
            out["after"] = self.after
        out["tenant_count"] = len(self.tenants)
        out["tenants"] = list(self.tenants)
        return out


@dataclass(frozen=True)
class IntegrationDrift:
    """Everything the plan changes on one integration, across tenants."""

    name: str
    #: The tenants it changes, in plan order; with the action on each.
    tenants: tuple[tuple[str, str], ...]
    #: Actions first (create, update, rename, delete), then field changes, most tenants first.
    changes: tuple[Drift, ...]

    def to_dict(self) -> dict[str, Any]:
        counts = {a: sum(1 for _, act in self.tenants if act == a) for a in ACTIONS}
        return {
            "name": self.name,
            "tenant_count": len(self.tenants),
            "actions": {a: n for a, n in counts.items() if n},
            "tenants": [t for t, _ in self.tenants],
            "changes": [c.to_dict() for c in self.changes],
        }


def _value_key(v: Any) -> str:
    return "\0absent" if v is UNSET else json.dumps(v, sort_keys=True, ensure_ascii=False, default=str)


def group(plan: Plan) -> tuple[IntegrationDrift, ...]:
    """The plan's changes by integration, in name order (case-insensitively)."""
    names: dict[str, str] = {}
    tenants: dict[str, list[tuple[str, str]]] = {}
    drift: dict[str, dict[tuple[str, str | None, str, str], tuple[Any, Any, list[str]]]] = {}
    for t in plan.tenants:
        for change in t.changes:
            key = change.name.casefold()
            names.setdefault(key, change.name)
            tenants.setdefault(key, []).append((t.tenant, change.action))
            rows = drift.setdefault(key, {})
            # the action itself (an update is only its fields), then each field change
            exact: list[tuple[str | None, Any, Any]] = []
            if isinstance(change, Rename):
                exact.append((None, change.from_name, change.to_name))
            elif not isinstance(change, Update):  # create, delete
                exact.append((None, None, None))
            if isinstance(change, Update | Rename):
                exact += [(fc.field, fc.before, fc.after) for fc in change.fields]
            for field_, before, after in exact:
                action = change.action if field_ is None else "update"
                row = (action, field_, _value_key(before), _value_key(after))
                rows.setdefault(row, (before, after, []))[2].append(t.tenant)
    out = []
    for key in sorted(names, key=lambda k: (k, names[k])):
        changes = [
            Drift(action, field_, before, after, tuple(members))
            for (action, field_, _, _), (before, after, members) in drift[key].items()
        ]
        changes.sort(
            key=lambda d: (d.field is not None, ACTIONS.index(d.action), d.field or "", -len(d.tenants))
        )
        out.append(IntegrationDrift(names[key], tuple(tenants[key]), tuple(changes)))
    return tuple(out)


def tenant_list(tenants: tuple[str, ...], shown: int = SHOWN_TENANTS) -> str:
    """``a, b, c`` or ``a, b, c, d, e and 7 more``."""
    head = ", ".join(tenants[:shown])
    return f"{head} and {len(tenants) - shown} more" if len(tenants) > shown else head


def change_label(d: Drift) -> str:
    """One change as a line says it (no tenants): ``create``, ``rename from "X"``, ``field: a -> b``."""
    if d.field is not None:
        return f"{d.field}: {value(d.before)} -> {value(d.after)}"
    if d.action == "rename":
        return f"rename from {value(d.before)}"
    return d.action


def problems(plan: Plan) -> list[tuple[str, str]]:
    """(tenant, line) for what the per-tenant view says as an error or a refusal."""
    out = [(t.tenant, line) for t in plan.tenants for line in t.errors]
    out += [
        (t.tenant, f"UNSAFE: {reason}; apply refuses this tenant without --force")
        for t in plan.tenants
        if t.unsafe
        for reason in t.safety.reasons
    ]
    return out


def closing_line(plan: Plan) -> str:
    if plan.has_changes:
        return summary_line(plan)
    return "No changes."


# --- text ------------------------------------------------------------------------------------------


def render_text(plan: Plan, *, color: bool = False) -> str:
    style: Style = styler(color)
    out: list[str] = [style(warning_line(w), "warn") for w in plan.warnings]
    if out:
        out.append("")
    groups = group(plan)
    for g in groups:
        out.append(style(f"Integration {value(g.name)}: changes {plural(len(g.tenants), 'tenant')}", "bold"))
        for d in g.changes:
            kind = "update" if d.field is not None else d.action
            out.append(
                "  "
                + style(change_label(d), kind)
                + f" on {plural(len(d.tenants), 'tenant')}: {tenant_list(d.tenants)}"
            )
        out.append("")
    if not groups and plan.tenants:
        out.append("No integration changes on any tenant.")
        out.append("")
    for tenant, line in problems(plan):
        out.append(style(f"Tenant {tenant}: {line}", "error"))
    out.append(style(closing_line(plan), "bold"))
    return "\n".join(out) + "\n"


# --- markdown --------------------------------------------------------------------------------------


def _md(text: str) -> str:
    """Plain text safe in Markdown (a table cell, a heading): HTML, pipes and line breaks."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("\r", " ")
        .replace("\n", " ")
    )


def _code(text: str) -> str:
    """Text as inline code in a table cell: shown as written, but for backticks, pipes and line breaks."""
    return "`" + text.replace("`", "'").replace("|", "\\|").replace("\r", " ").replace("\n", " ") + "`"


def render_markdown(plan: Plan) -> str:
    out = ["## Plan by integration", ""]
    for w in plan.warnings:
        out.append(f"- warning: {_md(warning_line(w))}")
    if plan.warnings:
        out.append("")
    groups = group(plan)
    for g in groups:
        out += [f"### {_md(g.name)}: changes {plural(len(g.tenants), 'tenant')}", ""]
        out += ["| Change | Tenants | Which |", "| --- | ---: | --- |"]
        for d in g.changes:
            out.append(f"| {_code(change_label(d))} | {len(d.tenants)} | {_md(tenant_list(d.tenants))} |")
        out.append("")
    if not groups and plan.tenants:
        out += ["No integration changes on any tenant.", ""]
    for tenant, line in problems(plan):
        out.append(f"- **{_md(tenant)}**: {_md(line)}")
    out.append(f"**{closing_line(plan)}**")
    return "\n".join(out) + "\n"


# --- json ------------------------------------------------------------------------------------------


def render_json(plan: Plan) -> str:
    """The grouped view as JSON: ``integrations`` (``IntegrationDrift.to_dict``, every tenant listed),
    ``problems`` and the plan's ``summary``. A view, not a plan file: ``apply`` takes ``plan --out``."""
    doc = {
        "group_by": "integration",
        "summary": plan.summary(),
        "integrations": [g.to_dict() for g in group(plan)],
        "problems": [{"tenant": t, "message": m} for t, m in problems(plan)],
        "warnings": [warning_line(w) for w in plan.warnings],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n"


# --- github ----------------------------------------------------------------------------------------


def render_github(plan: Plan) -> str:
    """One ``::notice`` per integration with its changes, one ``::error`` per tenant problem."""
    out = []
    for g in group(plan):
        lines = [
            f"{change_label(d)} on {plural(len(d.tenants), 'tenant')}: {tenant_list(d.tenants)}"
            for d in g.changes
        ]
        title = f"{g.name} changes {plural(len(g.tenants), 'tenant')}"
        out.append(annotation("notice", "\n".join(lines), title=title))
    for tenant, line in problems(plan):
        out.append(annotation("error", line, title=f"tenant {tenant}"))
    out.append(closing_line(plan))
    return "\n".join(out) + "\n"
