"""One finding about one place in one file: the unit of every validation report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]
#: A JSON path as a tuple of mapping keys and list indexes, e.g. ``("sync", "tenants", 0)``.
JsonPath = tuple[str | int, ...]


def json_path_text(path: Sequence[str | int]) -> str:
    """``("sync", "tenants", 0)`` -> ``$.sync.tenants[0]``."""
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


@dataclass(frozen=True, order=True)
class Diagnostic:
    """An error or a warning at ``file:line:col`` (1-based). ``json_path`` is ``$`` for the document
    itself and empty when the file could not be parsed far enough to have one."""

    file: str
    line: int
    col: int
    json_path: str
    message: str
    rule: str
    severity: Severity = "error"
    #: A rule break the definition accepts (``sync.accept``): a warning that ``--strict`` leaves one.
    accepted: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "json_path": self.json_path,
            "message": self.message,
            "rule": self.rule,
            "severity": self.severity,
        }
        if self.accepted:
            out["accepted"] = True
        return out
