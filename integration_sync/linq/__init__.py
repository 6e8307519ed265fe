"""The ``filter`` checker: Dynamic LINQ syntax, judged before anything reaches a tenant.

Interface used by validation (``integration_sync.validate``):

    check_filter(text) -> list[FilterIssue]

Each issue has a 0-based ``offset`` into ``text`` (the library's own ``ParseException.Position``), a
message, a rule id and a severity. ``integration_sync.linq.yamlpos.offset_to_linecol`` maps the offset
back into the YAML file for every scalar style.

INTERIM: the parser lands with the filter-checker issue; until then only an empty filter is caught.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class FilterIssue:
    offset: int
    message: str
    rule: str = "filter-syntax"
    severity: Severity = "error"
    hint: str | None = None


def check_filter(text: str, *, continuous: bool = False) -> list[FilterIssue]:
    """Syntax problems of one filter expression (errors) and doubtful constructs (warnings)."""
    if not text.strip():
        return [FilterIssue(len(text), "Expression expected", "filter-syntax")]
    return []
