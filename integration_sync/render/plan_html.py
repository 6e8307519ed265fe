"""A plan as a self-contained HTML page (``show --format html``), for a CI job's artifacts: a drift matrix
(integrations x tenants, one cell per changed pair: ``+`` create, ``~`` update, ``>`` rename, ``-``
delete, the changed fields in the cell's tooltip), then each integration's changes as
``--group-by integration`` lists them (``plan_groups``), then the tenants' problems and the plan line.

Names come from tenants, so every text is escaped (``html.escape``, quotes too) and lone surrogates
become U+FFFD; the page loads nothing (no script, no link; a Content-Security-Policy that allows only
its own inline style). Past ``MAX_ROWS`` integrations or ``MAX_COLUMNS`` tenants (a table a browser
renders comfortably) the matrix keeps the integrations that change the most tenants and the tenants
with the most changes, and one more row and column count the changed pairs left out."""

from __future__ import annotations

import html
from typing import Final

from integration_sync.plan import Plan
from integration_sync.render import plural
from integration_sync.render.plan_groups import (
    IntegrationDrift,
    change_label,
    closing_line,
    group,
    problems,
    tenant_list,
)
from integration_sync.render.plan_text import warning_line

MAX_ROWS: Final = 200
MAX_COLUMNS: Final = 100

_SYMBOL = {"create": "+", "update": "~", "rename": ">", "delete": "-"}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: center; }
th.row { text-align: left; white-space: nowrap; }
thead th { writing-mode: vertical-rl; transform: rotate(180deg); white-space: nowrap; }
td.create { background: #d4f7d4; } td.update { background: #fff3c4; }
td.rename { background: #d4ecf7; } td.delete { background: #f7d4d4; }
td.more, th.more { background: #eee; font-style: italic; }
.problem { color: #a00; }
code { background: #f4f4f4; padding: 0 3px; }
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _clean(text: str) -> str:
    """Lone surrogates (broken UTF-16 from a tenant) as U+FFFD: the page is UTF-8."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _shown(groups: tuple[IntegrationDrift, ...]) -> set[int]:
    """The rows the page shows: the ``MAX_ROWS`` integrations that change the most tenants."""
    return set(sorted(range(len(groups)), key=lambda i: (-len(groups[i].tenants), i))[:MAX_ROWS])


def _matrix(groups: tuple[IntegrationDrift, ...], shown_rows: set[int], order: dict[str, int]) -> list[str]:
    """The table; ``order`` is each tenant's place in the plan (columns keep it)."""
    per_tenant: dict[str, int] = {}
    for g in groups:
        for tenant, _ in g.tenants:
            per_tenant[tenant] = per_tenant.get(tenant, 0) + 1
    columns = sorted(
        sorted(per_tenant, key=lambda t: (-per_tenant[t], order[t]))[:MAX_COLUMNS], key=lambda t: order[t]
    )
    rows = [g for i, g in enumerate(groups) if i in shown_rows]
    hidden_rows = [g for i, g in enumerate(groups) if i not in shown_rows]
    shown_cols = set(columns)
    more_cols = len(per_tenant) - len(columns)
    out = [
        f"<p>{plural(len(groups), 'integration')} changed on {plural(len(per_tenant), 'tenant')}"
        + (
            f"; the matrix shows {plural(len(rows), 'integration')} and {plural(len(columns), 'tenant')}, "
            "those with the most "
            "changes, and counts the rest"
            if hidden_rows or more_cols
            else ""
        )
        + ".</p>",
        '<table class="matrix"><thead><tr><th class="row">Integration</th>',
    ]
    out += [f"<th>{_e(t)}</th>" for t in columns]
    if more_cols:
        out.append(f'<th class="more">{plural(more_cols, "more tenant")}</th>')
    out.append("</tr></thead><tbody>")
    for g in rows:
        actions = dict(g.tenants)
        fields: dict[str, list[str]] = {}
        for d in g.changes:
            for t in d.tenants:
                fields.setdefault(t, []).append(change_label(d))
        out.append(f'<tr><th class="row">{_e(g.name)}</th>')
        for t in columns:
            action = actions.get(t)
            if action is None:
                out.append("<td></td>")
            else:
                tip = "\n".join(fields.get(t, [action]))
                out.append(f'<td class="{action}" title="{_e(tip)}">{_SYMBOL[action]}</td>')
        if more_cols:
            left = sum(1 for t in actions if t not in shown_cols)
            out.append(f'<td class="more">{left or ""}</td>')
        out.append("</tr>")
    if hidden_rows:
        out.append(f'<tr><th class="row more">{plural(len(hidden_rows), "more integration")}</th>')
        hidden: dict[str, int] = {}  # tenant -> changed pairs in the rows left out
        for g in hidden_rows:
            for t, _ in g.tenants:
                hidden[t] = hidden.get(t, 0) + 1
        for t in columns:
            n = hidden.get(t, 0)
            out.append(f'<td class="more">{n or ""}</td>')
        if more_cols:
            n = sum(k for t, k in hidden.items() if t not in shown_cols)
            out.append(f'<td class="more">{n or ""}</td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    return out


def render(plan: Plan) -> str:
    groups = group(plan)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        "<title>integration-sync drift</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Drift by integration and tenant</h1>",
    ]
    if plan.warnings:
        out.append(
            "<ul>" + "".join(f"<li>warning: {_e(warning_line(w))}</li>" for w in plan.warnings) + "</ul>"
        )
    if groups:
        shown = _shown(groups)
        out += _matrix(groups, shown, {t.tenant: i for i, t in enumerate(plan.tenants)})
        out.append("<h2>Changes by integration</h2>")
        for g in (g for i, g in enumerate(groups) if i in shown):
            out.append(f"<h3>{_e(g.name)}: changes {plural(len(g.tenants), 'tenant')}</h3><ul>")
            out += [
                f"<li><code>{_e(change_label(d))}</code> on {plural(len(d.tenants), 'tenant')}: "
                f"{_e(tenant_list(d.tenants))}</li>"
                for d in g.changes
            ]
            out.append("</ul>")
        if len(shown) < len(groups):
            out.append(f"<p>{plural(len(groups) - len(shown), 'more integration')}: see the plan itself.</p>")
    else:
        out.append("<p>No integration changes on any tenant.</p>")
    found = problems(plan)
    if found:
        out.append("<h2>Problems</h2><ul>")
        out += [f'<li class="problem">Tenant {_e(t)}: {_e(line)}</li>' for t, line in found]
        out.append("</ul>")
    out.append(f"<p><strong>{_e(closing_line(plan))}</strong></p>")
    out.append("</body></html>")
    return _clean("\n".join(out) + "\n")
