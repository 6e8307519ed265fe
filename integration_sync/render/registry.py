"""One registry of renderers, by format name: for each of ``text``, ``markdown``, ``json`` and
``github``, a pure function from a plan, an apply report or a validation report to text, and from a
plan to its view by integration (``--group-by integration``); ``show`` adds ``html``, a drift matrix. The commands
choose by ``--format``; nothing here prints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from integration_sync.apply_report import ApplyReport
    from integration_sync.plan import Plan
    from integration_sync.validate import Report

FORMATS: Final = ("text", "markdown", "json", "github")
#: ``show`` also writes a plan as a self-contained HTML page (a drift matrix, ``plan_html``).
HTML: Final = "html"
SHOW_FORMATS: Final = (*FORMATS, HTML)
#: ``--group-by`` views of a plan (``plan_groups``).
GROUP_BY: Final = ("integration",)


@dataclass(frozen=True)
class Renderers:
    """One format's renderers; ``color`` is honoured by ``text`` only."""

    plan: Callable[[Plan, bool], str]
    apply: Callable[[ApplyReport, bool], str]
    diagnostics: Callable[[Report], str]
    #: The plan by integration (``--group-by integration``).
    grouped: Callable[[Plan, bool], str]


def _plan(fmt: str) -> Callable[[Plan, bool], str]:
    def render(plan: Plan, color: bool) -> str:
        from integration_sync.render import plan_github, plan_json, plan_markdown, plan_text

        if fmt == "text":
            return plan_text.render(plan, color=color)
        return {"markdown": plan_markdown.render, "json": plan_json.render, "github": plan_github.render}[
            fmt
        ](plan)

    return render


def _apply(fmt: str) -> Callable[[ApplyReport, bool], str]:
    def render(report: ApplyReport, color: bool) -> str:
        from integration_sync.render import apply_text

        return apply_text.RENDERERS[fmt](report, color)

    return render


def _diagnostics(fmt: str) -> Callable[[Report], str]:
    def render(report: Report) -> str:
        from integration_sync.render import diagnostics

        return diagnostics.RENDERERS[fmt](report)

    return render


def _grouped(fmt: str) -> Callable[[Plan, bool], str]:
    def render(plan: Plan, color: bool) -> str:
        from integration_sync.render import plan_groups

        if fmt == "text":
            return plan_groups.render_text(plan, color=color)
        return {
            "markdown": plan_groups.render_markdown,
            "json": plan_groups.render_json,
            "github": plan_groups.render_github,
        }[fmt](plan)

    return render


RENDERERS: Final[dict[str, Renderers]] = {
    fmt: Renderers(plan=_plan(fmt), apply=_apply(fmt), diagnostics=_diagnostics(fmt), grouped=_grouped(fmt))
    for fmt in FORMATS
}


def render_plan(plan: Plan, fmt: str, *, color: bool = False) -> str:
    """``plan`` in format ``fmt`` (one of ``FORMATS``); colour applies to text only."""
    return RENDERERS[fmt].plan(plan, color)


def render_plan_view(plan: Plan, fmt: str, group_by: str | None = None, *, color: bool = False) -> str:
    """``plan`` as ``plan`` and ``show`` print it: per tenant, or grouped (``--group-by``); ``html`` is
    the drift matrix page whatever the grouping (it is by integration and tenant at once)."""
    if fmt == HTML:
        from integration_sync.render import plan_html

        return plan_html.render(plan)
    if group_by == "integration":
        return RENDERERS[fmt].grouped(plan, color)
    return RENDERERS[fmt].plan(plan, color)


def render_apply(report: ApplyReport, fmt: str, *, color: bool = False) -> str:
    return RENDERERS[fmt].apply(report, color)


def render_diagnostics(report: Report, fmt: str) -> str:
    return RENDERERS[fmt].diagnostics(report)
