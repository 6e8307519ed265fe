"""The planner: desired definitions and live integrations in, a ``TenantPlan`` out. Pure: no I/O.

Rules (the README's "plan" section; the result's JSON form is ``docs/plan-format.md``):

- Live integrations are matched to definitions by name, case-insensitively. A definition whose exact
  name is live wins over another definition's ``sync.previous_names``; a definition with no live match
  claims an unclaimed live integration under one of its previous names (a rename, not delete + create).
  A match whose name differs only in case is a rename too (the name is a managed value).
- Only the fields a definition manages are compared: a key left out (``UNSET``) is not managed, an
  explicit ``None`` is (it clears the value), and ``sync.ignore_changes`` fields are compared never
  (but sent on create). Values are compared with ``plan.equal``, strictly: ``1`` is not ``True``, and a
  property the tenant leaves out equals only an explicit ``None``.
- A live integration with no definition is deleted only when deletes are allowed, the plan is not
  partial, and the integration is ``IsManaged``; when deletes are not allowed it is listed as an orphan.
  Client-owned integrations (``IsManaged`` false) are never touched unless a definition names them.
- Safety thresholds are computed over ``plan.safety_base`` of the live listing (see ``SafetyVerdict``).
"""

from __future__ import annotations

import itertools
import logging
import operator
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from integration_sync import fields
from integration_sync.config import Safety, TenantConfig
from integration_sync.errors import DefinitionError
from integration_sync.fields import UNSET
from integration_sync.plan import (
    SCALARS,
    Ambiguity,
    Candidate,
    Change,
    Create,
    Delete,
    DeletePermission,
    FieldChange,
    Key,
    LiveLike,
    Rename,
    SafetyVerdict,
    TenantPlan,
    Update,
    Values,
    counts_for_safety,
    delete_permission,
    equal,
    form_position,
    form_values,
    live_form,
    mapped_digest,
    usable_name,
)

log = logging.getLogger(__name__)


class DesiredLike(Protocol):
    """What the planner needs of a resolved definition (``resolve.Desired``)."""

    @property
    def name(self) -> str: ...
    @property
    def doc(self) -> Mapping[str, Any]: ...
    @property
    def previous_names(self) -> Sequence[str]: ...
    @property
    def ignore_changes(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class PlanOptions:
    """How to plan one tenant. ``partial``: only some definitions were selected (``--integration``).
    ``delete_permission`` says who allows deletes (``allow_delete`` True alone means ``--allow-delete``);
    ``known_names``: every name and previous name of the repository's definitions, casefolded, for the
    safety denominator (``plan.safety_base``; the desired definitions' own names are always in it)."""

    tenant: str = ""
    url: str = ""
    allow_delete: bool = False
    partial: bool = False
    safety: Safety = field(default_factory=Safety)
    delete_permission: DeletePermission | None = None
    known_names: frozenset[str] = frozenset()

    @property
    def permission(self) -> DeletePermission:
        if self.delete_permission is not None:
            return self.delete_permission
        return "flag" if self.allow_delete else "none"

    @classmethod
    def for_tenant(
        cls,
        tenant: TenantConfig,
        *,
        allow_delete: bool | None = None,
        partial: bool = False,
        url: str | None = None,
        known_names: frozenset[str] = frozenset(),
    ) -> PlanOptions:
        """Options from a ``config.TenantConfig`` (its effective ``safety``); ``allow_delete`` given on the
        command line wins over the config (``plan.delete_permission``)."""
        permission = delete_permission(allow_delete, tenant.safety.allow_delete)
        return cls(
            tenant=tenant.name,
            url=url if url is not None else tenant.url,
            allow_delete=permission != "none",
            partial=partial,
            safety=tenant.safety,
            delete_permission=permission,
            known_names=known_names,
        )


class _Live:
    """A live integration as the planner reads it. Made for every live integration of every tenant, so a
    plain class with slots: ``form`` is its ``plan.live_form`` (a tuple of values for a complete entity),
    ``values`` the same under YAML keys, made only when something asks for them (most integrations of a
    tenant are matched and found unchanged without it)."""

    __slots__ = ("_values", "etag", "form", "key", "managed", "name", "named")

    def __init__(self, key: Key, etag: str | None, entity: Mapping[str, Any]) -> None:
        self.key = key
        self.etag = etag
        self._values: dict[str, Any] | None = None
        form = self.form = live_form(entity)
        if type(form) is tuple:
            name, managed = form[_NAME_AT], form[_MANAGED_AT]
        else:
            name, managed = form.get("name"), form.get("managed")
        #: The live name, or "" when the entity has none that is text (never a stringified value).
        self.name: str = name if isinstance(name, str) else ""
        #: Whether the entity has a usable name (``plan.usable_name``).
        self.named = usable_name(self.name) is not None
        self.managed = managed is True

    @property
    def values(self) -> dict[str, Any]:
        """Its mapped values under YAML keys, in sorted key order."""
        if self._values is None:
            self._values = form_values(self.form)
        return self._values


_NAME_AT: Final = form_position("name")
_MANAGED_AT: Final = form_position("managed")


def managed_values(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The values a definition manages, in canonical field order: schema keys that are not ``UNSET``."""
    return {f.yaml: doc[f.yaml] for f in fields.catalogue() if f.yaml in doc and doc[f.yaml] is not UNSET}


@dataclass(frozen=True)
class _Prepared:
    """What planning needs of one definition, worked out once: its managed values (name included, in
    field order), those it compares, and for the quick check of an unchanged integration the compared
    keys, their values and their types (``flat``: every compared value a plain scalar)."""

    ordered: dict[str, Any]
    compared: dict[str, Any]
    keys: tuple[str, ...]
    values: tuple[Any, ...]
    types: tuple[type, ...]
    flat: bool
    #: The compared values of a complete entity's ``live_form``, as a tuple (by their positions).
    pick: Callable[[tuple[Any, ...]], tuple[Any, ...]]

    def unchanged(self, live: _Live) -> bool:
        """True when ``live`` holds every compared value, equal by ``plan.equal`` (plain scalars, compared
        as tuples at C speed); False when that is not settled so quickly (``_compare`` decides)."""
        if not self.flat:
            return False
        form = live.form
        if type(form) is tuple:
            got = self.pick(form)
        else:
            got = tuple(map(form.get, self.keys, itertools.repeat(_ABSENT)))
        return got == self.values and tuple(map(type, got)) == self.types


_ABSENT = object()

#: ``_Prepared`` by the ``id`` of a definition object kept alive here: a fleet's tenants share
#: ``Desired`` objects (``resolve.desired_for_each``), so each is prepared once, not once per tenant.
#: A memo, bounded.
_PREPARED: dict[int, tuple[DesiredLike, _Prepared]] = {}
_PREPARED_MAX = 8192


def _prepared(d: DesiredLike) -> _Prepared:
    hit = _PREPARED.get(id(d))
    if hit is not None and hit[0] is d:
        return hit[1]
    body = managed_values(d.doc)
    body["name"] = d.name
    ordered = {f.yaml: body[f.yaml] for f in fields.catalogue() if f.yaml in body}
    ignored = set(d.ignore_changes)
    compared = {k: v for k, v in ordered.items() if k not in ignored and k != "name"}
    values = tuple(compared.values())
    prepared = _Prepared(
        ordered=ordered,
        compared=compared,
        keys=tuple(compared),
        values=values,
        types=tuple(map(type, values)),
        flat=all(type(v) in SCALARS for v in values),
        pick=_picker(tuple(form_position(k) for k in compared)),
    )
    if len(_PREPARED) >= _PREPARED_MAX:
        _PREPARED.clear()
    _PREPARED[id(d)] = (d, prepared)
    return prepared


def _picker(positions: tuple[int, ...]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """A tuple of the items at ``positions`` (``itemgetter``, which returns a bare item for one)."""
    if len(positions) > 1:
        return operator.itemgetter(*positions)
    return lambda row: tuple(row[i] for i in positions)


def plan_tenant(desired: Sequence[DesiredLike], live: Sequence[LiveLike], options: PlanOptions) -> TenantPlan:
    """The changes that would make ``live`` match ``desired`` on one tenant."""
    lives = [_Live(i.key, i.etag, i.values) for i in live]
    wanted = sorted(desired, key=lambda d: (d.name.casefold(), d.name))
    for a, b in itertools.pairwise(wanted):
        if a.name.casefold() == b.name.casefold():  # validation reports this first; never plan two creates
            where = " and ".join(str(getattr(d, "source", "?")) for d in (a, b))
            raise DefinitionError(f"tenant {options.tenant}: two definitions are named {b.name!r} ({where})")

    by_name: dict[str, list[int]] = {}  # casefolded name -> live indexes, by exact name, then key
    for idx, item in enumerate(lives):
        if item.named:
            by_name.setdefault(item.name.casefold(), []).append(idx)
    for twins in by_name.values():
        if len(twins) > 1:
            twins.sort(key=lambda i: (lives[i].name, str(lives[i].key)))

    claimed: set[int] = set()  # matched to a definition, or held back by an ambiguity
    match: dict[int, int] = {}  # desired index -> live index
    ambiguous: list[Ambiguity] = []

    def choose(di: int, name: str, preferred: Sequence[str]) -> None:
        found = by_name.get(name.casefold())
        if found is None:
            return
        if len(found) == 1:  # the usual case: one live integration of that name, claimed if free
            if found[0] not in claimed:
                match[di] = found[0]
                claimed.add(found[0])
            return
        candidates = [i for i in found if i not in claimed]
        chosen = _choose(lives, candidates, name, preferred)
        if isinstance(chosen, int):
            match[di] = chosen
            claimed.add(chosen)
        elif chosen:
            ambiguous.append(
                Ambiguity(
                    wanted[di].name,
                    tuple(Candidate(lives[i].key, lives[i].name, lives[i].managed) for i in chosen),
                )
            )
            claimed.update(chosen)

    # Pass 1: current names (an exact-case match first, when a case-sensitive tenant has several).
    for di, d in enumerate(wanted):
        choose(di, d.name, d.previous_names)
    # Pass 2: previous names, for definitions still unmatched.
    failed = {a.name for a in ambiguous}
    for di, d in enumerate(wanted):
        for old in d.previous_names:
            if di in match or d.name in failed:
                break
            choose(di, old, d.previous_names)
            failed = {a.name for a in ambiguous}

    changes: list[Change] = []
    unchanged = 0
    for di, d in enumerate(wanted):
        prepared = _prepared(d)
        if d.name in failed:
            continue
        if di not in match:
            ordered = prepared.ordered
            changes.append(Create(name=d.name, body=tuple(ordered.items()), notes=create_notes(ordered)))
            continue
        item = lives[match[di]]
        if item.name == d.name and prepared.unchanged(item):
            unchanged += 1  # the common case, settled without building what a change needs
            continue
        change = _compare(d, prepared.ordered, item)
        if change is None:
            unchanged += 1
        else:
            changes.append(change)

    orphans: list[str] = []
    if not options.partial:
        for idx, item in enumerate(lives):
            if idx in claimed or not item.managed or not item.named:
                continue
            if options.permission != "none":
                changes.append(
                    Delete(name=item.name, key=item.key, etag=item.etag, before=_snapshot(item.values))
                )
            else:
                orphans.append(item.name)

    renames = _possible_renames(
        changes, [item for idx, item in enumerate(lives) if idx not in claimed and item.named]
    )

    known = _known_names(options.known_names, desired)
    verdict = SafetyVerdict.assess(
        changes, sum(1 for i in lives if counts_for_safety(i.name, i.managed, known)), options.safety
    )
    plan = TenantPlan(
        tenant=options.tenant,
        url=options.url,
        live_digest=mapped_digest((i.key, i.etag, i.form) for i in lives),
        changes=tuple(changes),
        unchanged=unchanged,
        orphans=tuple(orphans),
        possible_renames=renames,
        partial=options.partial,
        safety=verdict,
        delete_permission=options.permission,
        ambiguous=tuple(ambiguous),
        unnamed=tuple(item.key for item in lives if not item.named),
    )
    log.debug("planned tenant %s: %s", options.tenant, plan.counts())
    return plan


def _choose(
    lives: Sequence[_Live], candidates: list[int], name: str, preferred: Sequence[str]
) -> int | list[int]:
    """Which of the unclaimed live integrations ``candidates`` (named ``name`` case-insensitively) a
    definition claims: the index, or the candidates when it cannot tell (an empty list: none).

    An exact-case match wins; a single candidate is claimed whatever its case (a ``managed: false``
    definition may fix the case of its own integration). Among several that differ only in case,
    the one the tool manages wins: ``IsManaged``, or named exactly by a ``sync.previous_names`` entry.
    A client-owned integration is never taken by such a match; when no single one wins, none is."""
    exact = [i for i in candidates if lives[i].name == name]
    if len(exact) == 1:
        return exact[0]
    if len(candidates) <= 1:
        return candidates[0] if candidates else []
    pool = exact or candidates
    ours = [i for i in pool if lives[i].managed or lives[i].name in preferred]
    return ours[0] if len(ours) == 1 else pool


#: ``int32`` fields with a minimum of 1 that a tenant may store as 0 when a create leaves them out.
_COUNTERS: Final = tuple(
    f.yaml
    for f in fields.catalogue()
    if f.is_int and fields.resolved_schema()["properties"][f.yaml].get("minimum") == 1
)


def create_notes(body: Mapping[str, Any]) -> tuple[str, ...]:
    """What a create should say about the fields it leaves out: a counter with a minimum of 1 that the
    tenant may store as 0 (an ``int32`` column's default), which breaks that minimum."""
    return tuple(
        f"{key} is left out: the tenant may store 0, below its minimum of 1 (state it to be sure)"
        for key in _COUNTERS
        if key not in body
    )


def _compare(d: DesiredLike, desired: dict[str, Any], item: _Live) -> Change | None:
    ignored = set(d.ignore_changes)
    compared = {k: v for k, v in desired.items() if k not in ignored and k != "name"}
    before = {k: item.values.get(k, UNSET) for k in ("name", *compared)}
    changed = tuple(
        FieldChange(field=k, before=before[k], after=v)
        for k, v in compared.items()
        if not equal(before[k], v)
    )
    snapshot: Values = tuple((k, v) for k, v in before.items() if v is not UNSET)
    if item.name != d.name:
        return Rename(
            from_name=item.name,
            to_name=d.name,
            key=item.key,
            etag=item.etag,
            fields=changed,
            before=snapshot,
        )
    if changed:
        return Update(name=d.name, key=item.key, etag=item.etag, fields=changed, before=snapshot)
    return None


#: What must be equal for a create to look like a rename of a live integration, and the share of the
#: create's other fields that must be equal too.
_RENAME_SAME = ("direction", "entity")
_RENAME_SHARE = 0.8


def _has_same(item: _Live, body: Mapping[str, Any], key: str) -> bool:
    return key in body and key in item.values and equal(item.values[key], body[key])


def _token(value: Any) -> Hashable:
    """A hashable stand-in for ``value``: equal tokens for values ``plan.equal`` sees as equal (types
    kept, so ``1``, ``True`` and ``1.0`` differ). Only to find candidates; ``plan.equal`` decides."""
    kind = type(value)
    if kind in SCALARS:
        return (kind, value)
    if isinstance(value, dict):
        return (dict, tuple(sorted((str(k), _token(v)) for k, v in value.items())))
    if isinstance(value, list | tuple):
        return (type(value), tuple(_token(v) for v in value))
    try:
        hash(value)
    except TypeError:
        return (type(value), id(value))
    return (type(value), value)


def _mismatches_allowed(count: int) -> int:
    """How many of ``count`` fields may differ with the share of equal ones still at ``_RENAME_SHARE``."""
    allowed = 0
    while allowed < count and (count - allowed - 1) / count >= _RENAME_SHARE:
        allowed += 1
    return allowed


def _groups(keys: Sequence[str], parts: int) -> list[tuple[str, ...]]:
    """``keys`` in ``parts`` groups of near-equal size (in order)."""
    size, extra = divmod(len(keys), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        out.append(tuple(keys[start:end]))
        start = end
    return [g for g in out if g]


def _possible_renames(changes: Sequence[Change], unclaimed: Sequence[_Live]) -> tuple[tuple[str, str], ...]:
    """Creates that resemble a live integration no definition claims: the same direction and entity and
    at least 80% of the create's other fields equal. Each live integration is offered once, to the
    create it resembles most.

    Near-linear rather than every create against every live integration: the live ones are indexed by
    direction and entity, then by groups of fields. A create with ``m`` other fields may differ in at
    most ``d`` of them (``_mismatches_allowed``); split into ``d + 1`` groups, at least one group is
    then equal throughout (pigeonhole), so only live integrations equal to the create on a whole group
    are candidates, and ``plan.equal`` scores each candidate as before.
    """
    creates = [c for c in changes if isinstance(c, Create)]
    if not creates or not unclaimed:
        return ()
    by_kind: dict[tuple[Hashable, ...], list[int]] = {}
    for idx, item in enumerate(unclaimed):
        if all(k in item.values for k in _RENAME_SAME):
            by_kind.setdefault(tuple(_token(item.values[k]) for k in _RENAME_SAME), []).append(idx)
    # (group of keys, direction and entity) -> tokens of those keys -> live indexes; built on first use
    indexes: dict[tuple[tuple[str, ...], tuple[Hashable, ...]], dict[tuple[Hashable, ...], list[int]]] = {}

    def index(group: tuple[str, ...], kind: tuple[Hashable, ...]) -> dict[tuple[Hashable, ...], list[int]]:
        built = indexes.get((group, kind))
        if built is None:
            built = {}
            for idx in by_kind[kind]:
                values = unclaimed[idx].values
                if all(k in values for k in group):
                    built.setdefault(tuple(_token(values[k]) for k in group), []).append(idx)
            indexes[(group, kind)] = built
        return built

    scored: list[tuple[float, str, str]] = []
    for change in creates:
        body = dict(change.body)
        if not all(k in body for k in _RENAME_SAME):
            continue
        kind = tuple(_token(body[k]) for k in _RENAME_SAME)
        if kind not in by_kind:
            continue
        others = [k for k in body if k not in ("name", *_RENAME_SAME)]
        if others:
            candidates: set[int] = set()
            for group in _groups(others, _mismatches_allowed(len(others)) + 1):
                candidates.update(index(group, kind).get(tuple(_token(body[k]) for k in group), ()))
        else:
            candidates = set(by_kind[kind])
        for idx in sorted(candidates):
            item = unclaimed[idx]
            if not all(_has_same(item, body, k) for k in _RENAME_SAME):
                continue
            share = sum(1 for k in others if _has_same(item, body, k)) / len(others) if others else 1.0
            if share >= _RENAME_SHARE:
                scored.append((share, change.name, item.name))
    found: list[tuple[str, str]] = []
    offered, claimed = set(), set()  # definition names, live names: each in one pair at most
    for _share, name, live_name in sorted(scored, key=lambda s: (-s[0], s[1].casefold(), s[2].casefold())):
        if name not in offered and live_name not in claimed:
            found.append((name, live_name))
            offered.add(name)
            claimed.add(live_name)
    return tuple(found)


def _snapshot(values: Mapping[str, Any]) -> Values:
    return tuple(values.items())


def _known_names(known: frozenset[str], desired: Sequence[DesiredLike]) -> frozenset[str]:
    """``known`` with the names of ``desired``: a fleet's tenants share definition lists
    (``resolve.desired_for_each``), so each list's names are worked out once, not once per tenant."""
    hit = _NAMES.get(id(desired))
    if hit is None or hit[0] is not desired:
        if len(_NAMES) >= _PREPARED_MAX:
            _NAMES.clear()
        hit = _NAMES[id(desired)] = (desired, names_of(desired))
    return known if hit[1] <= known else known | hit[1]


#: ``names_of`` by the ``id`` of a definition list kept alive here (a memo, bounded like ``_PREPARED``).
_NAMES: dict[int, tuple[Sequence[DesiredLike], frozenset[str]]] = {}


def names_of(definitions: Iterable[DesiredLike]) -> frozenset[str]:
    """Every name and previous name of ``definitions``, casefolded: what the safety denominator counts
    client-owned integrations by (``plan.safety_base``)."""
    out: set[str] = set()
    for d in definitions:
        out.add(d.name.casefold())
        out.update(n.casefold() for n in d.previous_names)
    return frozenset(out)
