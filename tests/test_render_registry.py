"""One renderer registry by format name: every format renders a plan, an apply report and a validation
report, as pure functions (the same value, the same text)."""

from __future__ import annotations

import json

import pytest
from plan_samples import sample_plan

from integration_sync.apply_report import ApplyReport, ItemResult, TenantResult
from integration_sync.diagnostics import Diagnostic
from integration_sync.render.registry import (
    FORMATS,
    RENDERERS,
    render_apply,
    render_diagnostics,
    render_plan,
)
from integration_sync.validate import Report

REPORT = ApplyReport(
    tenants=(
        TenantResult("a", (ItemResult("update", "X", "stale", reason="moved", key=3),)),
        TenantResult("b", (ItemResult("create", "Y", "skipped", reason="refused"),), error="refused"),
    )
)
FINDINGS = Report(
    diagnostics=[
        Diagnostic("d/a.yaml", 2, 3, "$.max_attempts", "must be at least 1", "minimum"),
        Diagnostic("d/a.yaml", 4, 1, "$.batch_size", "no effect", "batch-size-without-parallel", "warning"),
    ],
    files=1,
)


def test_every_format_renders_every_kind() -> None:
    assert tuple(RENDERERS) == FORMATS == ("text", "markdown", "json", "github")
    for fmt in FORMATS:
        for text in (
            render_plan(sample_plan(), fmt),
            render_apply(REPORT, fmt),
            render_diagnostics(FINDINGS, fmt),
        ):
            assert text.endswith("\n") and text.strip(), fmt
        assert render_plan(sample_plan(), fmt) == render_plan(sample_plan(), fmt)


def test_apply_reports_in_each_format() -> None:
    assert json.loads(render_apply(REPORT, "json"))["counts"]["stale"] == 1
    md = render_apply(REPORT, "markdown")
    assert md.startswith("## integration-sync apply\n\n```\n") and 'STALE: update "X" (key 3)' in md
    github = render_apply(REPORT, "github").splitlines()
    assert "::warning title=integration-sync apply::tenant a: stale update 'X': moved" in github
    assert "::error title=integration-sync apply::tenant b: not applied: refused" in github


def test_diagnostics_as_a_markdown_comment() -> None:
    md = render_diagnostics(FINDINGS, "markdown")
    assert md.startswith(
        "## integration-sync: the definitions are not valid\n\n**invalid: 1 error, 1 warning"
    )
    assert "- ❌ `d/a.yaml:2:3` error: must be at least 1 (minimum)" in md
    assert "- ⚠️ `d/a.yaml:4:1` warning: no effect (batch-size-without-parallel)" in md


@pytest.mark.parametrize("fmt", ["yaml", "TEXT"])
def test_an_unknown_format_is_not_rendered(fmt: str) -> None:
    with pytest.raises(KeyError):
        render_plan(sample_plan(), fmt)


@pytest.mark.slow
def test_no_message_of_the_package_writes_a_plural_as_s_in_parentheses() -> None:
    """Every count is said with its proper plural (``render.plural`` or a choice of two words), never
    "file(s)", "tenant(s)" or "switch(es)": each string literal of the package is checked."""
    import ast
    import re
    from pathlib import Path

    import integration_sync

    pattern = re.compile(r"(?<=[A-Za-z])(?<!http)\((?:s|es)\)")  # "http(s)" is a scheme, not a count
    found = []
    for path in sorted(Path(integration_sync.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and pattern.search(node.value):
                found.append(f"{path.name}:{node.lineno}: {node.value!r}")
    assert found == []
