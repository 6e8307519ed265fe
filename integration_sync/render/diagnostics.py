"""Validation reports as text, Markdown, JSON or GitHub workflow annotations: pure functions chosen by
name (see ``render.registry``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from integration_sync.render import plural
from integration_sync.render.github import annotation

if TYPE_CHECKING:
    from integration_sync.validate import Report


def _summary(report: Report) -> str:
    defs = plural(len(report.definitions), "definition")
    files = plural(report.files, "file")
    if not report.diagnostics:
        return f"ok: {defs} in {files}, no problems"
    counts = f"{plural(len(report.errors), 'error')}, {plural(len(report.warnings), 'warning')}"
    verdict = "invalid" if report.errors else "ok"
    return f"{verdict}: {counts} ({defs} in {files})"


def render_text(report: Report) -> str:
    """``path:line:col: error: message [rule]`` per finding, then a one-line summary."""
    lines = [f"{d.file}:{d.line}:{d.col}: {d.severity}: {d.message} [{d.rule}]" for d in report.diagnostics]
    lines.append(_summary(report))
    return "\n".join(lines) + "\n"


def render_json(report: Report) -> str:
    """One JSON object (sorted keys): the verdict, the counts and every diagnostic."""
    data = {
        "valid": report.ok,
        "files": report.files,
        "definitions": len(report.definitions),
        "errors": len(report.errors),
        "warnings": len(report.warnings),
        "diagnostics": [d.to_dict() for d in report.diagnostics],
    }
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_github(report: Report) -> str:
    """GitHub Actions workflow commands: ``::error file=…,line=…,col=…,title=rule::message``."""
    lines = [
        annotation(d.severity, d.message, file=d.file, line=d.line, col=d.col, title=d.rule)
        for d in report.diagnostics
    ]
    lines.append(_summary(report))
    return "\n".join(lines) + "\n"


def render_markdown(report: Report) -> str:
    """A pull-request comment body: the verdict, then every finding (file:line:col, message, rule)."""
    head = "## integration-sync: the definitions are not valid\n\n" if not report.ok else ""
    lines = [f"**{_summary(report)}**", ""]
    for d in report.diagnostics:
        icon = "❌" if d.severity == "error" else "⚠️"
        message = d.message.replace("\n", " ")
        lines.append(f"- {icon} `{d.file}:{d.line}:{d.col}` {d.severity}: {message} ({d.rule})")
    return head + "\n".join(lines).rstrip("\n") + "\n"


RENDERERS: dict[str, Callable[[Report], str]] = {
    "text": render_text,
    "markdown": render_markdown,
    "json": render_json,
    "github": render_github,
}


def render(report: Report, fmt: str) -> str:
    """The report in format ``fmt`` (one of ``RENDERERS``)."""
    return RENDERERS[fmt](report)
