"""What ``doctor`` finds about one tenant: each check with its verdict, and the tenant's report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

OK: Final = "ok"
DIFFERS: Final = "differs"
UNSUPPORTED: Final = "unsupported"
NOT_CHECKED: Final = "not checked"


@dataclass(frozen=True)
class Check:
    check: str
    expected: str
    found: str
    verdict: str
    action: str
    blocking: bool = False


@dataclass
class TenantReport:
    tenant: str
    url: str
    checks: list[Check] = field(default_factory=list)
    #: One line when the tenant could not be examined (``$metadata`` unreadable, no reply).
    error: str | None = None
    #: Config entries that make the tool use the tenant as it is: ``odata_names``, ``max_lengths``.
    config: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def blocking(self) -> bool:
        return self.error is not None or any(c.blocking for c in self.checks)

    def add(self, *args: Any, **kwargs: Any) -> None:
        self.checks.append(Check(*args, **kwargs))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.tenant,
            "url": self.url,
            "ok": not self.blocking,
            "error": self.error,
            "checks": [c.__dict__ for c in self.checks],
            "config": self.config,
        }
