"""An apply report as text: per tenant a heading with its counts and one line per item that did not
simply succeed (and the done ones too, briefly), then one closing ``Apply:`` line. Pure."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from integration_sync.apply_report import ApplyReport, ItemResult, TenantResult
from integration_sync.plan import key_text
from integration_sync.render import plural
from integration_sync.render.github import annotation
from integration_sync.render.plan_text import Style, styler

_MARKS = {"create": "+", "update": "~", "rename": "->", "delete": "-"}
_PAST = {"create": "created", "update": "updated", "rename": "renamed", "delete": "deleted"}
_STYLE = {"done": "create", "stale": "warn", "failed": "error", "skipped": "warn"}


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {status}" for status, n in counts.items())


def _item(item: ItemResult, style: Style) -> str:
    name = json.dumps(item.name, ensure_ascii=False)
    if item.from_name is not None:
        name = f"{json.dumps(item.from_name, ensure_ascii=False)} -> {name}"
    if item.status == "done":
        head = f"{_MARKS.get(item.action, '?')} {_PAST.get(item.action, item.action)} {name}"
    else:
        head = f"{item.status.upper()}: {item.action} {name}"
    if item.key is not None:  # as the plan's lines carry it (a create's once it is made)
        head += f" (key {key_text(item.key)})"
    text = f"{head}: {item.reason}" if item.reason else head
    return style(text, _STYLE[item.status])


def tenant_lines(result: TenantResult, style: Style) -> list[str]:
    if not result.items and result.error is None:
        return [style(f"Tenant {result.tenant}: no changes", "bold")]
    lines = [style(f"Tenant {result.tenant}: {_counts(result.counts())}", "bold")]
    # A tenant refused whole gives every item its reason: say it once.
    lines.extend("  " + _item(i, style) for i in result.items if i.reason != result.error)
    if result.error is not None:
        lines.append("  " + style(f"not applied: {result.error}", "error"))
    return lines


def render(report: ApplyReport, *, color: bool = False) -> str:
    style = styler(color)
    out: list[str] = []
    for t in report.tenants:
        out.extend(tenant_lines(t, style))
    if report.interrupted:
        out.append(style("Interrupted: nothing new was started after the signal.", "error"))
    c = report.counts()
    summary = f"Apply: {_counts(c)}, in {plural(len(report.tenants), 'tenant')}."
    out.append(style(summary, "bold"))
    if not report.ok:
        not_applied = c["stale"] + c["failed"] + c["skipped"]
        refused = [t.tenant for t in report.tenants if t.error is not None]
        parts = []
        if not_applied:
            parts.append(f"{plural(not_applied, 'change')} did not apply")
        if refused:
            parts.append(f"tenant{'s' if len(refused) != 1 else ''} not applied: {', '.join(refused)}")
        if not parts:  # interrupted before anything was due
            parts.append("interrupted")
        detail = "; ".join(parts)
        out.append(style(detail[0].upper() + detail[1:] + ". Run plan to see what is left.", "error"))
    return "\n".join(out) + "\n"


def render_json(report: ApplyReport, color: bool = False) -> str:
    """The report file itself (``ApplyReport.to_json``, documented in docs/apply-report.md)."""
    return report.to_json()


def render_markdown(report: ApplyReport, color: bool = False) -> str:
    """A comment body: a heading, then the text report in a code block."""
    body = render(report)
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"## integration-sync apply\n\n{fence}\n{body}{fence}\n"


def render_github(report: ApplyReport, color: bool = False) -> str:
    """The text report, then an annotation for each tenant not applied and each item that did not
    apply (stale or failed)."""
    lines = [render(report).rstrip("\n")]
    for t in report.tenants:
        if t.error is not None:
            lines.append(annotation("error", f"tenant {t.tenant}: not applied: {t.error}", title=TITLE))
            continue
        for i in t.items:
            if i.status in ("stale", "failed"):
                level = "error" if i.status == "failed" else "warning"
                message = f"tenant {t.tenant}: {i.status} {i.action} {i.name!r}: {i.reason}"
                lines.append(annotation(level, message, title=TITLE))
    return "\n".join(lines) + "\n"


TITLE = "integration-sync apply"
RENDERERS: dict[str, Callable[[ApplyReport, bool], str]] = {
    "text": lambda report, color: render(report, color=color),
    "markdown": render_markdown,
    "json": render_json,
    "github": render_github,
}
