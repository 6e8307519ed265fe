"""A plan as JSON: the saved plan file itself (``Plan.to_json``), documented in docs/plan-format.md."""

from __future__ import annotations

from integration_sync.plan import Plan


def render(plan: Plan) -> str:
    return plan.to_json()
