"""A plan for a GitHub Actions log: the text plan (no colour), then one annotation per thing a reviewer
must see on the run's page: a validation warning at its file and line, a tenant that failed or an
ambiguous match (error), a tenant over a safety threshold (warning), a create that looks like a rename
without ``previous_names`` (notice)."""

from __future__ import annotations

from dataclasses import replace

from integration_sync.plan import Plan
from integration_sync.render import plan_text
from integration_sync.render.github import annotation

TITLE = "integration-sync plan"


def render(plan: Plan) -> str:
    # each warning once: as its annotation below, not also as the text plan's line above it
    lines = [plan_text.render(replace(plan, warnings=()), color=False).rstrip("\n")]
    for w in plan.warnings:
        lines.append(annotation("warning", w.message, file=w.file, line=w.line, col=w.col, title=w.rule))
    for t in plan.tenants:
        for error in t.errors:
            lines.append(annotation("error", f"tenant {t.tenant}: {error}", title=TITLE))
        if t.unnamed:
            lines.append(
                annotation("warning", f"tenant {t.tenant}: {plan_text.unnamed_note(t)}", title=TITLE)
            )
        if t.unsafe:
            for reason in t.safety.reasons:
                message = f"tenant {t.tenant}: {reason}; apply refuses this tenant without --force"
                lines.append(annotation("warning", message, title=TITLE))
        for name, live_name in t.possible_renames:
            message = f"tenant {t.tenant}: {plan_text.rename_hint(name, live_name)}"
            lines.append(annotation("notice", message, title=TITLE))
    return "\n".join(lines) + "\n"
