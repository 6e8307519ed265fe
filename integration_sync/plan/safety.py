"""Who may delete, and when a tenant's plan is too large to apply without ``--force``."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from integration_sync.config import Safety
from integration_sync.plan.format import as_object, integer, number

if TYPE_CHECKING:
    from integration_sync.plan.changes import Change


#: Who allowed a tenant's deletes when it was planned: ``flag`` (``--allow-delete``), ``config`` (the
#: tenant's effective ``safety.allow_delete``), or ``none`` (not allowed: orphans are kept).
DeletePermission = Literal["flag", "config", "none"]


def delete_permission(flag: bool | None, config_allows: bool) -> DeletePermission:
    """The one precedence rule for deletes: ``--allow-delete`` wins over ``safety.allow_delete``."""
    if flag:
        return "flag"
    return "config" if config_allows else "none"


def deletes_permitted(recorded: DeletePermission, flag: bool | None, config_allows: bool) -> bool:
    """Whether apply may run a tenant's planned deletes: the reviewed plan is the approval when
    ``--allow-delete`` allowed them; one the config allowed needs the config to allow them still (or
    ``--allow-delete`` now); ``none`` (a plan edited by hand) needs ``--allow-delete`` now."""
    if flag or recorded == "flag":
        return True
    return recorded == "config" and config_allows


def usable_name(name: Any) -> str | None:
    """A live integration's name when it can be matched: a string that is not blank. ``None`` (missing,
    null, not a string, only whitespace): never matched, deleted or counted, only noted."""
    return name if isinstance(name, str) and name.strip() else None


def safety_base(live: Iterable[Mapping[str, Any]], names: Collection[str]) -> int:
    """The denominator of the safety percentages, from a live listing (values under YAML keys): the
    integrations the tool manages (``IsManaged``) plus the client-owned ones that a definition of the
    repository matches (``names``: every definition's name and previous names, casefolded). The same for
    a full and a partial plan, and recomputed by apply from the listing it reads. An integration without
    a usable name (``usable_name``) is never counted: no plan can touch it, so it must not dilute the
    percentages of those a plan does touch."""
    return sum(1 for values in live if counts_for_safety(values.get("name"), values.get("managed"), names))


def counts_for_safety(name: Any, managed: Any, names: Collection[str]) -> bool:
    """Whether one live integration, by its name and ``managed`` value, is in ``safety_base``."""
    usable = usable_name(name)
    return usable is not None and (managed is True or usable.casefold() in names)


@dataclass(frozen=True)
class SafetyVerdict:
    """The thresholds applied to one tenant's plan.

    ``managed`` is the denominator (``safety_base``). ``change_pct`` is updates + renames + deletes over
    ``managed``, ``delete_pct`` deletes over ``managed`` (both 0 when nothing is managed yet: creates
    alone never endanger existing integrations). A percentage strictly above its maximum makes the
    tenant ``unsafe``, but only from ``min_existing`` managed integrations on (a floor, as octoDNS has:
    one delete of three is not a mass deletion); apply refuses an unsafe tenant without ``--force``.
    The limits' defaults are the config's (``config.Safety``).
    """

    managed: int = 0
    change_pct: float = 0.0
    delete_pct: float = 0.0
    max_change_pct: float = Safety.max_change_pct
    max_delete_pct: float = Safety.max_delete_pct
    min_existing: int = Safety.min_existing

    def __post_init__(self) -> None:
        for name in ("change_pct", "delete_pct", "max_change_pct", "max_delete_pct"):
            object.__setattr__(self, name, float(getattr(self, name)))

    @classmethod
    def assess(cls, changes: Iterable[Change], managed: int, limits: Safety) -> SafetyVerdict:
        """The verdict on ``changes`` over ``managed`` integrations, with the limits of ``limits``."""
        touched = deletes = 0
        for change in changes:
            if change.action != "create":
                touched += 1
                deletes += change.action == "delete"
        return cls(
            managed=managed,
            change_pct=_percent(touched, managed),
            delete_pct=_percent(deletes, managed),
            max_change_pct=limits.max_change_pct,
            max_delete_pct=limits.max_delete_pct,
            min_existing=limits.min_existing,
        )

    @property
    def applies(self) -> bool:
        """Whether the percentages are judged at all (``managed`` reaches ``min_existing``)."""
        return self.managed >= self.min_existing

    @property
    def unsafe(self) -> bool:
        return bool(self.reasons)

    @property
    def reasons(self) -> tuple[str, ...]:
        if not self.applies:
            return ()
        out = []
        if self.change_pct > self.max_change_pct:
            out.append(
                f"changes {_pct(self.change_pct)} of {self.managed} managed integrations "
                f"(max_change_pct {_pct(self.max_change_pct)})"
            )
        if self.delete_pct > self.max_delete_pct:
            out.append(
                f"deletes {_pct(self.delete_pct)} of {self.managed} managed integrations "
                f"(max_delete_pct {_pct(self.max_delete_pct)})"
            )
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        return {
            "managed": self.managed,
            "change_pct": self.change_pct,
            "delete_pct": self.delete_pct,
            "max_change_pct": self.max_change_pct,
            "max_delete_pct": self.max_delete_pct,
            "min_existing": self.min_existing,
            "unsafe": self.unsafe,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> SafetyVerdict:
        d = as_object(data, where)
        return cls(
            managed=integer(d, "managed", where),
            change_pct=number(d, "change_pct", where),
            delete_pct=number(d, "delete_pct", where),
            max_change_pct=number(d, "max_change_pct", where),
            max_delete_pct=number(d, "max_delete_pct", where),
            min_existing=integer(d, "min_existing", where),
        )


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def _pct(value: float) -> str:
    return f"{value:g}%"
