"""Saved plans: reading a plan file (``load_plan``) and combining the plans of CI shards
(``combine``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from integration_sync.errors import PlanFileError
from integration_sync.fsutil import NotRegularFile, TooLarge, read_regular
from integration_sync.plan.model import Plan
from integration_sync.plan.values import digest


def combine(plans: Sequence[tuple[str, Plan]]) -> Plan:
    """Several saved plans (CI shards, each ``(file name, plan)``) as one plan, as if planned at once.

    Refused (``PlanFileError``) when a tenant is in two of them, or when they were not planned alike:
    another ``repository_digest`` (other definitions: shards of different commits), ``partial``
    against a full plan, or another tool version. The combined ``definitions_digest`` is the shards'
    own when there is one, else the digest of their digests (in file order)."""
    if not plans:
        raise PlanFileError("no plan files given")
    if len(plans) == 1:
        return plans[0][1]
    first_name, first = plans[0]
    owner: dict[str, tuple[int, str]] = {}
    for index, (name, plan) in enumerate(plans):
        for alike, how in (
            (
                plan.repository_digest == first.repository_digest,
                f"from other definitions (repository_digest {plan.repository_digest} vs "
                f"{first.repository_digest})",
            ),
            (
                plan.tool_version == first.tool_version,
                f"by another integration-sync version ({plan.tool_version} vs {first.tool_version})",
            ),
            (plan.partial == first.partial, "one partial (--integration), the other full"),
        ):
            if not alike:
                raise PlanFileError(
                    f"{name} and {first_name} were not planned alike: {how}; "
                    "plan every shard from the same commit with the same options"
                )
        for t in plan.tenants:
            other = owner.setdefault(t.tenant.casefold(), (index, name))
            if other[0] != index:
                raise PlanFileError(
                    f"tenant {t.tenant} is in both {other[1]} and {name}: give each shard's plan once"
                )
    return Plan(
        tool_version=first.tool_version,
        definitions_digest=digest([p.definitions_digest for _, p in plans]),
        tenants=tuple(t for _, p in plans for t in p.tenants),
        partial=first.partial,
        known_names=frozenset().union(*(p.known_names for _, p in plans)),
        repository_digest=first.repository_digest,
        warnings=tuple(w for _, p in plans for w in p.warnings),
    )


#: The most a plan file may hold: a plan carries every planned item's values, a few kB each, so this
#: is room for a fleet of many thousand tenants; a file (or a device) yielding more is refused.
MAX_PLAN_BYTES = 256 * 1024 * 1024


def load_plan(path: Path) -> Plan:
    """Read a saved plan file; every problem is a ``PlanFileError`` naming the file. Only a regular file
    is read (a FIFO would block, ``/dev/zero`` never ends), at most ``MAX_PLAN_BYTES`` of it."""
    try:
        raw = read_regular(path, MAX_PLAN_BYTES)
    except TooLarge as exc:
        raise PlanFileError(
            f"{path}: cannot read plan file: it is larger than {MAX_PLAN_BYTES} bytes"
        ) from exc
    except NotRegularFile as exc:
        raise PlanFileError(f"{path}: cannot read plan file: {exc}") from exc
    except OSError as exc:
        raise PlanFileError(f"{path}: cannot read plan file: {exc.strerror}") from exc
    try:
        return Plan.from_json(raw)
    except PlanFileError as exc:
        raise PlanFileError(f"{path}: {exc}") from exc
