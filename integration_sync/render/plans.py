"""Plan renderers, chosen by name (``--format``). Each is a pure function from a ``Plan`` to a string."""

from __future__ import annotations

from collections.abc import Callable

from integration_sync.plan import Plan
from integration_sync.render import plan_github, plan_json, plan_markdown, plan_text


def _text(plan: Plan, color: bool) -> str:
    return plan_text.render(plan, color=color)


def _markdown(plan: Plan, color: bool) -> str:
    return plan_markdown.render(plan)


def _json(plan: Plan, color: bool) -> str:
    return plan_json.render(plan)


def _github(plan: Plan, color: bool) -> str:
    return plan_github.render(plan)


PLAN_RENDERERS: dict[str, Callable[[Plan, bool], str]] = {
    "text": _text,
    "markdown": _markdown,
    "json": _json,
    "github": _github,
}


def render_plan(plan: Plan, fmt: str, *, color: bool = False) -> str:
    """``plan`` in format ``fmt`` (one of ``PLAN_RENDERERS``); colour applies to text only."""
    return PLAN_RENDERERS[fmt](plan, color)
