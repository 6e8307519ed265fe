"""Fault injection, reproducible from a seed: each tenant request draws the same number of random
numbers whatever the configuration, so a given seed and request sequence always fault the same way."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FAULT_KEYS = (
    "latency_ms",
    "p429",
    "p503",
    "p500",
    "p_drop",
    "p_commit_drop",
    "retry_after",
    "retry_after_http_date",
    "seed",
    "count",
    "methods",
)
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


@dataclass
class Faults:
    """One tenant's (or every tenant's, ``"*"``) fault configuration and its random stream."""

    latency_ms: int = 0
    p429: float = 0.0
    p503: float = 0.0
    p500: float = 0.0
    p_drop: float = 0.0
    p_commit_drop: float = 0.0
    retry_after: int = 1
    retry_after_http_date: bool = False
    seed: int = 0
    count: int | None = None  # faults left to inject; None: no limit
    methods: frozenset[str] = frozenset()  # empty: every method (latency too)
    rng: random.Random = field(default_factory=random.Random, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Faults:
        unknown = sorted(set(data) - set(FAULT_KEYS))
        if unknown:
            raise ValueError(
                f"unknown fault {'setting' if len(unknown) == 1 else 'settings'}: {', '.join(unknown)}; "
                f"known: {', '.join(FAULT_KEYS)}"
            )
        out = cls()
        for key in ("p429", "p503", "p500", "p_drop", "p_commit_drop"):
            if key in data:
                value = data[key]
                if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                    raise ValueError(f"{key} must be a probability between 0 and 1, not {value!r}")
                setattr(out, key, float(value))
        for key in ("latency_ms", "retry_after", "seed"):
            if key in data:
                value = data[key]
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"{key} must be a non-negative integer, not {value!r}")
                setattr(out, key, value)
        if "count" in data and data["count"] is not None:
            value = data["count"]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"count must be a non-negative integer or null, not {value!r}")
            out.count = value
        if "retry_after_http_date" in data:
            if not isinstance(data["retry_after_http_date"], bool):
                raise ValueError("retry_after_http_date must be true or false")
            out.retry_after_http_date = data["retry_after_http_date"]
        if "methods" in data:
            methods = data["methods"]
            if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
                raise ValueError("methods must be a list of HTTP method names")
            out.methods = frozenset(m.upper() for m in methods)
        out.rng = random.Random(out.seed)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "p429": self.p429,
            "p503": self.p503,
            "p500": self.p500,
            "p_drop": self.p_drop,
            "p_commit_drop": self.p_commit_drop,
            "retry_after": self.retry_after,
            "retry_after_http_date": self.retry_after_http_date,
            "seed": self.seed,
            "count": self.count,
            "methods": sorted(self.methods),
        }

    def draw(self, method: str) -> str | None:
        """The fault to inject before processing this request: ``drop``, ``429``, ``503``, ``500``,
        ``commit_drop`` (inject after processing), or None."""
        rolls = [self.rng.random() for _ in range(5)]
        if self.methods and method not in self.methods:
            return None
        if self.count is not None and self.count <= 0:
            return None
        chosen: str | None = None
        if rolls[0] < self.p_drop:
            chosen = "drop"
        elif rolls[1] < self.p429:
            chosen = "429"
        elif rolls[2] < self.p503:
            chosen = "503"
        elif rolls[3] < self.p500:
            chosen = "500"
        elif rolls[4] < self.p_commit_drop and method in WRITE_METHODS:
            chosen = "commit_drop"
        if chosen is not None and self.count is not None:
            self.count -= 1
        return chosen
