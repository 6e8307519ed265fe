"""A plan as text, like ``terraform plan``: grouped by tenant, ``+`` create, ``~`` update (each field
``before -> after``), ``->`` rename, ``-`` delete; orphans, safety verdicts and failures under their
tenant; one closing ``Plan:`` line. Pure: colour only when asked (the CLI asks on a terminal, unless
``NO_COLOR`` is set)."""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from typing import Any

import click

from integration_sync.diagnostics import Diagnostic
from integration_sync.fields import UNSET
from integration_sync.plan import Create, Delete, FieldChange, Plan, Rename, TenantPlan, Update, key_text
from integration_sync.render import plural

Style = Callable[[str, str], str]

_COLOURS = {
    "create": "green",
    "update": "yellow",
    "rename": "cyan",
    "delete": "red",
    "error": "red",
    "warn": "yellow",
    "bold": "",
}


def styler(color: bool) -> Style:
    def style(text: str, kind: str) -> str:
        if not color:
            return text
        fg = _COLOURS.get(kind) or None
        return click.style(text, fg=fg, bold=True if kind in ("bold", "error") else None)

    return style


def value(v: Any) -> str:
    """A value as the plan shows it: JSON literals (``"text"``, ``12``, ``true``, ``null``)."""
    if v is UNSET:
        return "(absent)"
    return json.dumps(v, ensure_ascii=False)


def summary_line(plan: Plan) -> str:
    c = plan.counts()
    changed = sum(1 for t in plan.tenants if t.has_changes)
    return (
        f"Plan: {c['create']} to create, {c['update']} to update, {c['rename']} to rename, "
        f"{c['delete']} to delete, in {changed} of {plural(len(plan.tenants), 'tenant')}."
    )


def tenant_counts(t: TenantPlan) -> str:
    c = t.counts()
    return (
        f"{c['create']} to create, {c['update']} to update, {c['rename']} to rename, {c['delete']} to delete"
    )


#: Strings longer than this (or with a line break) are shown as ``-``/``+`` lines of text, not as two
#: JSON strings on one line: a changed condition in a long filter must be findable in a review.
LONG_TEXT = 60


def _fields(lines: list[str], changes: tuple[FieldChange, ...], indent: str) -> None:
    width = max((len(fc.field) for fc in changes), default=0) + 1
    for fc in changes:
        diff = _text_diff(fc.before, fc.after)
        if diff:
            lines.append(f"{indent}{fc.field}:")
            lines.extend(f"{indent}    {mark} {text}".rstrip() for mark, text in diff)
        else:
            lines.append(f"{indent}{(fc.field + ':').ljust(width)} {value(fc.before)} -> {value(fc.after)}")


def _text_diff(before: Any, after: Any) -> list[tuple[str, str]]:
    """Long or multi-line text as ``(mark, line)`` pairs: ``-`` before, ``+`` after, `` `` unchanged;
    empty when the values are short, not both text, or differ only where lines cannot show it (a
    trailing line break), so that the one-line JSON form shows them exactly."""
    if not (isinstance(before, str) and isinstance(after, str)):
        return []
    if max(len(before), len(after)) <= LONG_TEXT and "\n" not in before + after:
        return []
    old, new = before.splitlines() or [""], after.splitlines() or [""]
    if old == new:
        return []
    if len(old) == 1 and len(new) == 1:
        return [("-", old[0]), ("+", new[0])]
    # Each changed run as its old lines, then its new ones (as in a unified diff). difflib.ndiff puts the
    # shorter side of a replaced run first: three lines replaced by one read "+ new, - old, - old".
    out: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            out += [(" ", line) for line in old[i1:i2]]
        else:
            out += [("-", line) for line in old[i1:i2]] + [("+", line) for line in new[j1:j2]]
    return out


#: Fields shown as the text they hold on a create, not as a JSON string: an expression with quotes reads
#: as written (``Status == "Approved"``), not escaped (``"Status == \\"Approved\\""``).
TEXT_FIELDS = ("filter",)


def _body_line(key: str, v: Any, width: int, indent: str) -> list[str]:
    if key in TEXT_FIELDS and isinstance(v, str) and v.strip() and v == v.strip():
        text = v.splitlines()
        if len(text) == 1:
            return [f"{indent}{(key + ':').ljust(width)} {text[0]}"]
        return [f"{indent}{key}: |", *(f"{indent}    {line}".rstrip() for line in text)]
    return [f"{indent}{(key + ':').ljust(width)} {value(v)}"]


def rename_hint(name: str, live_name: str) -> str:
    """The note on a create that looks like ``live_name`` renamed without ``sync.previous_names``."""
    return (
        f"{value(name)} looks like {value(live_name)} renamed; to rename it in place instead, "
        f"add to its definition: sync: {{previous_names: [{value(live_name)}]}}"
    )


def tenant_lines(t: TenantPlan, style: Style, indent: str = "  ") -> list[str]:
    """The body of one tenant's plan (without its heading)."""
    lines: list[str] = []
    if t.error is not None:
        lines.append(indent + style(f"failed: {t.error}", "error"))
        return lines
    for ambiguity in t.ambiguous:
        lines.append(indent + style(f"error: {ambiguity.message}", "error"))
    for change in t.changes:
        if isinstance(change, Create):
            lines.append(indent + style(f"+ create {value(change.name)}", "create"))
            body = dict(change.body)
            width = max(len(k) for k in body) + 1
            for k, v in body.items():
                lines.extend(_body_line(k, v, width, indent + "    "))
            for note in change.notes:
                lines.append(indent + "    " + style(f"note: {note}", "warn"))
        elif isinstance(change, Update):
            lines.append(
                indent + style(f"~ update {value(change.name)}", "update") + f" (key {key_text(change.key)})"
            )
            _fields(lines, change.fields, indent + "    ")
        elif isinstance(change, Rename):
            head = f"-> rename {value(change.from_name)} -> {value(change.to_name)}"
            lines.append(indent + style(head, "rename") + f" (key {key_text(change.key)})")
            _fields(lines, change.fields, indent + "    ")
        elif isinstance(change, Delete):
            lines.append(
                indent + style(f"- delete {value(change.name)}", "delete") + f" (key {key_text(change.key)})"
            )
    if t.orphans:
        lines.append(
            f"{indent}{plural(len(t.orphans), 'managed integration')} with no "
            "definition, kept because deletes are not allowed (orphans):"
        )
        lines.extend(f"{indent}    {value(name)}" for name in t.orphans)
    for name, live_name in t.possible_renames:
        lines.append(indent + style(f"? {rename_hint(name, live_name)}", "warn"))
    if t.unnamed:
        lines.append(indent + style(unnamed_note(t), "warn"))
    if t.ambiguous:
        lines.append(
            indent
            + style("apply refuses this tenant until every definition matches one integration", "error")
        )
    if t.unsafe:
        for reason in t.safety.reasons:
            lines.append(
                indent + style(f"UNSAFE: {reason}; apply refuses this tenant without --force", "warn")
            )
    return lines


def unnamed_note(t: TenantPlan) -> str:
    """The note on live integrations with no usable name (never matched, never deleted)."""
    keys = ", ".join(key_text(k) for k in t.unnamed)
    return (
        f"{plural(len(t.unnamed), 'live integration')} with no usable name (keys {keys}): "
        "left alone, never matched or deleted"
    )


def tenant_heading(t: TenantPlan) -> str:
    if t.error is not None:
        status = "FAILED"
    elif t.has_changes:
        status = f"{tenant_counts(t)}, {t.unchanged} unchanged"
    else:
        status = f"no changes, {t.unchanged} unchanged"
    if t.ambiguous:
        status += f", FAILED: {len(t.ambiguous)} ambiguous match{'' if len(t.ambiguous) == 1 else 'es'}"
    return f"Tenant {t.tenant} ({t.url}): {status}"


def warning_line(w: Diagnostic) -> str:
    """A validation warning as ``validate`` prints it: ``file:line:col: warning: message [rule]``."""
    return f"{w.file}:{w.line}:{w.col}: {w.severity}: {w.message} [{w.rule}]"


def render(plan: Plan, *, color: bool = False) -> str:
    style = styler(color)
    out: list[str] = [style(warning_line(w), "warn") for w in plan.warnings]
    if out:
        out.append("")
    if plan.partial:
        out.append("Partial plan (--integration): only the selected definitions; no deletes or orphans.")
        out.append("")
    for t in plan.tenants:
        out.append(style(tenant_heading(t), "bold"))
        out.extend(tenant_lines(t, style))
        out.append("")
    if not plan.tenants:
        out.append("No tenants selected (the shard or the selection holds none).")
        out.append("")
    failed = plan.failed
    if failed:
        names = ", ".join(t.tenant for t in failed)
        out.append(style(f"{plural(len(failed), 'tenant')} failed: {names}", "error"))
    if plan.has_changes:
        out.append(style(summary_line(plan), "bold"))
    elif len(plan.tenants) > len(failed):
        planned = len(plan.tenants) - len(failed)
        out.append(
            style("No changes.", "bold")
            + f" {plural(planned, 'tenant')} match{'es' if planned == 1 else ''} the definitions."
        )
    unsafe = [t.tenant for t in plan.tenants if t.unsafe]
    if unsafe:
        out.append(style(f"Unsafe (apply needs --force): {', '.join(unsafe)}", "warn"))
    return "\n".join(out) + "\n"
