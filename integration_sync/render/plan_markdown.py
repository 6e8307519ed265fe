"""A plan as Markdown for a pull-request comment: a summary table of tenants and counts, then the
details of each tenant in a collapsible block (a ``diff`` code block, so GitHub colours ``+`` create,
``-`` delete and ``!`` update or rename); tenants whose changes are the same but for live keys share one block (a fleet's usual
case). Tenants that need attention come first (failed, unsafe, deleting). It stays under
``MAX_CHARS``: past the budget, details and then table rows are summarised, from the end."""

from __future__ import annotations

import re

from integration_sync.plan import Plan, TenantPlan
from integration_sync.render import plural
from integration_sync.render.plan_text import summary_line, tenant_counts, tenant_lines

#: GitHub refuses comments over 65,536 characters; keep a margin.
MAX_CHARS = 60_000

_TABLE_HEAD = (
    "| Tenant | Create | Update | Rename | Delete | Unchanged | Status |\n"
    "|---|---:|---:|---:|---:|---:|---|\n"
)


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _status(t: TenantPlan) -> str:
    if t.error is not None:
        return f"❌ failed: {_cell(t.error)}"
    notes = [f"❌ {_cell(a.message)}" for a in t.ambiguous]
    if t.unnamed:
        notes.append(plural(len(t.unnamed), "integration") + " with no usable name (see details)")
    if t.unsafe:
        notes.append("⚠️ unsafe: " + "; ".join(_cell(r) for r in t.safety.reasons))
    if t.orphans:
        notes.append(plural(len(t.orphans), "orphan"))
    if t.possible_renames:
        notes.append(plural(len(t.possible_renames), "possible rename") + " (see details)")
    if not notes:
        notes.append("changes" if t.has_changes else "no changes")
    return ", ".join(notes)


def _row(t: TenantPlan) -> str:
    if t.error is not None:
        return f"| {_cell(t.tenant)} | | | | | | {_status(t)} |\n"
    c = t.counts()
    return (
        f"| {_cell(t.tenant)} | {c['create']} | {c['update']} | {c['rename']} | {c['delete']} "
        f"| {t.unchanged} | {_status(t)} |\n"
    )


def _attention(t: TenantPlan) -> int:
    if t.failed:
        return 0
    if t.unsafe:
        return 1
    if t.count("delete"):
        return 2
    return 3 if t.has_changes else 4


def _fence(body: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    return "`" * max(3, longest + 1)


_KEY = re.compile(r" \(key .*\)$")
#: In a ``diff`` block GitHub colours a line by its first character: ``+`` green, ``-`` red, ``!``
#: orange (changed, as tfcmt marks Terraform updates). A rename's ``->`` would read as a removal.
_MARKS = {"~ update ": "! update ", "-> rename ": "! rename "}
_HEADS = ("! update ", "! rename ", "- delete ")


def _marked(line: str) -> str:
    for text, mark in _MARKS.items():
        if line.startswith(text):
            return mark + line[len(text) :]
    return line


#: Tenants named in the summary of a group of tenants with the same changes.
_NAMED = 10


def _body(t: TenantPlan, keys: bool = True) -> str:
    lines = [_marked(line) for line in tenant_lines(t, lambda text, _kind: text, indent="")]
    if not keys:  # live keys differ from tenant to tenant; the changes are the same
        lines = [_KEY.sub("", line) if line.startswith(_HEADS) else line for line in lines]
    return "\n".join(lines)


def _groups(tenants: list[TenantPlan]) -> list[list[TenantPlan]]:
    """Tenants whose details read the same but for live keys, together, in the order of their first."""
    groups: dict[str, list[TenantPlan]] = {}
    for t in tenants:
        groups.setdefault(_body(t, keys=False), []).append(t)
    return list(groups.values())


def _details(group: list[TenantPlan]) -> str:
    t = group[0]
    body = _body(t, keys=len(group) == 1)
    fence = _fence(body)
    what = "failed" if t.error is not None else tenant_counts(t) + (", failed" if t.failed else "")
    if len(group) == 1:
        summary = f"{_cell(t.tenant)}: {what}"
    else:
        names = ", ".join(_cell(g.tenant) for g in group[:_NAMED])
        more = f" and {len(group) - _NAMED} more" if len(group) > _NAMED else ""
        summary = f"{len(group)} tenants ({names}{more}), each: {what}"
    return f"<details><summary>{summary}</summary>\n\n{fence}diff\n{body}\n{fence}\n\n</details>\n"


#: Warnings listed in a comment; the rest are counted (the text plan and the job log have them all).
_WARNINGS_SHOWN = 20


def _warnings(plan: Plan) -> str:
    if not plan.warnings:
        return ""
    lines = [f"**{plural(len(plan.warnings), 'warning')}** about the definitions planned:\n"]
    for w in plan.warnings[:_WARNINGS_SHOWN]:
        lines.append(f"- `{_cell(w.file)}:{w.line}:{w.col}` {_cell(w.message)} ({_cell(w.rule)})")
    if len(plan.warnings) > _WARNINGS_SHOWN:
        lines.append(f"- … and {len(plan.warnings) - _WARNINGS_SHOWN} more")
    return "\n".join(lines) + "\n\n"


def render(plan: Plan, *, max_chars: int = MAX_CHARS) -> str:
    head = "## integration-sync plan\n\n"
    if plan.partial:
        head += "_Partial plan (`--integration`): only the selected definitions; no deletes or orphans._\n\n"
    closing_lines = []
    if plan.has_changes:
        closing_lines.append(f"**{summary_line(plan)}**\n")
    elif len(plan.tenants) > len(plan.failed):  # as the text plan: no "No changes." when none was planned
        closing_lines.append("**No changes.** Every tenant planned matches the definitions.\n")
    if plan.failed:
        names = ", ".join(_cell(t.tenant) for t in plan.failed)
        closing_lines.append(f"**{plural(len(plan.failed), 'tenant')} failed:** {names}\n")
    closing = "\n".join(closing_lines)
    if not plan.tenants:
        return head + "No tenants selected.\n\n" + closing

    # What needs a reviewer first comes first, so that the size limit never hides it: failed tenants,
    # unsafe ones, those that delete, then the other changes, then orphans alone (each group by name).
    notable = sorted(
        (t for t in plan.tenants if t.has_changes or t.failed or t.orphans or t.unsafe or t.unnamed),
        key=_attention,
    )
    quiet = len(plan.tenants) - len(notable)
    budget = max_chars - len(head) - len(_warnings(plan)) - len(closing) - 400  # room for the notes below

    table = _TABLE_HEAD
    rows_left = 0
    for i, t in enumerate(notable):
        row = _row(t)
        if len(table) + len(row) > budget // 2:
            rows_left = len(notable) - i
            break
        table += row
    notes = ""
    if quiet:
        notes += f"{plural(quiet, 'more tenant')} with no changes.\n"
    if rows_left:
        notes += f"{plural(rows_left, 'more tenant')} with changes are not listed (size limit).\n"

    details = ""
    shown = 0
    remaining = budget - len(table) - len(notes)
    for group in _groups(notable):
        block = _details(group)
        if len(details) + len(block) > remaining:
            break
        details += block
        shown += len(group)
    omitted = len(notable) - shown
    if omitted:
        details += (
            f"\n_Details of {plural(omitted, 'tenant')} omitted to stay under "
            f"{max_chars:,} characters: see `integration-sync plan --format text` or the saved plan._\n"
        )
    out = head + _warnings(plan)
    for part in (table if notable else "", notes, details):
        if part:
            out += part + "\n"
    return out + closing
