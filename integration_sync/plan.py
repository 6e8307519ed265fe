"""The plan model: what would change on each tenant, as plain immutable values.

A plan is data. Each change kind is a small frozen dataclass; a ``TenantPlan`` holds one tenant's changes
in a deterministic order (action, then name) and a ``Plan`` holds the tenants in name order. Values are
kept under their YAML keys (``fields.by_yaml``); apply maps them to OData names with ``fields.to_odata``.

Every change that touches a live integration carries what it was planned against, so that ``apply`` can
refuse an item whose live state moved: the live ``key``, its ``etag`` (``None`` when the tenant sends
none), and ``before``, a snapshot of the live values of every field the change manages (the fields the
definition manages, the name included, for update and rename; every mapped field for delete). When etags
are absent, apply re-reads the item and compares its values with ``before`` right before writing.

A rename may carry field changes as well (``Rename.fields``): the definition was renamed *and* edited.
It is applied as one PATCH of ``Name`` plus those fields, and counted once, as a rename.

The JSON form (``Plan.to_json`` / ``Plan.from_json``) is versioned by ``format_version`` and documented in
``docs/plan-format.md``. A value absent from the live entity is ``UNSET`` in memory and a missing key in
JSON (``before`` left out), never confused with ``null``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Final, Literal

from integration_sync import fields
from integration_sync.config import Safety
from integration_sync.diagnostics import Diagnostic
from integration_sync.errors import PlanFileError
from integration_sync.fields import UNSET
from integration_sync.fsutil import NotRegularFile, TooLarge, read_regular

FORMAT_VERSION: Final = 2

#: The order of change kinds inside a tenant (and of the counts in every summary).
ACTIONS: Final = ("create", "update", "rename", "delete")
Action = Literal["create", "update", "rename", "delete"]

#: Field values as an immutable, ordered sequence of ``(yaml_key, value)`` pairs.
Values = tuple[tuple[str, Any], ...]
#: A live integration's key: Int32 on FinanceKey, but OData allows strings and GUIDs.
Key = int | str


def freeze(values: Mapping[str, Any] | Values) -> Values:
    """Values in canonical order (the schema's field order, then any other key by name), without
    ``UNSET`` entries: two equal sets of values are always equal ``Values``."""
    pairs = values.items() if isinstance(values, Mapping) else values
    order = _field_order()
    return tuple(
        sorted(
            ((k, v) for k, v in pairs if v is not UNSET), key=lambda kv: (order.get(kv[0], len(order)), kv[0])
        )
    )


@cache
def _field_order() -> dict[str, int]:
    return {k: i for i, k in enumerate(fields.yaml_keys())}


def thaw(values: Values) -> dict[str, Any]:
    return dict(values)


_SURROGATE = re.compile("[\ud800-\udfff]")


def escape_surrogates(json_text: str) -> str:
    """JSON text with each lone surrogate (which UTF-8 cannot hold) written as its ``\\uXXXX`` escape,
    as JSON allows: the file stays UTF-8 and reads back to the same string."""
    if not _SURROGATE.search(json_text):
        return json_text
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", json_text)


def equal(a: Any, b: Any, *, absent_is_null: bool = True) -> bool:
    """Whether two values are the same value: the one equality of the tool (the planner, the applier,
    the client and fmt's round-trip check all judge with it).

    Exact and type-strict: ``1`` is not ``True`` nor ``1.0``, ``"1"`` is not ``1``. Mappings and lists
    are compared item by item with the same rule. ``UNSET`` (a property the tenant did not return)
    equals only an explicit ``None`` (OData servers may leave out null properties), and inside a
    mapping a missing key equals a key whose value is ``None``. ``absent_is_null=False`` makes a missing
    key a difference of its own: in a definition file, a key left out (not managed) and a key set to
    null (cleared) mean different things. JSON Schema's equality (``1`` equals ``1.0``) is the schema
    validator's, never this."""
    if a is b:
        return True
    ta = type(a)
    if ta is type(b) and ta in _SCALARS:
        if ta is float and a != a:  # NaN is the same value as NaN (a YAML .nan read twice)
            return b != b
        return bool(a == b)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return _equal_maps(a, b, absent_is_null)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(
            equal(x, y, absent_is_null=absent_is_null) for x, y in zip(a, b, strict=True)
        )
    if absent_is_null and ((a is UNSET and b is None) or (a is None and b is UNSET)):
        return True
    return ta is type(b) and ta not in _SCALARS and bool(a == b)  # dates and other YAML scalars


#: Types whose values compare exactly with ``==`` once their types are the same.
_SCALARS: Final = frozenset({str, int, float, bool, type(None)})


def _equal_maps(a: Mapping[Any, Any], b: Mapping[Any, Any], absent_is_null: bool) -> bool:
    if not absent_is_null and a.keys() != b.keys():
        return False
    for key in a.keys() | b.keys():
        if not equal(a.get(key, UNSET), b.get(key, UNSET), absent_is_null=absent_is_null):
            return False
    return True


def digest(data: Any, *, keys_sorted: bool = False) -> str:
    """``sha256:<hex>`` of ``data``'s canonical JSON (sorted keys, no whitespace). ``keys_sorted``: the
    caller made every mapping in ``data`` with its keys in sorted order already, so the same text comes
    without sorting them again (which costs more than the encoding itself)."""
    text = json.dumps(data, sort_keys=not keys_sorted, separators=(",", ":"), ensure_ascii=False, default=str)
    # surrogatepass: a lone surrogate (broken UTF-16 from a .NET tenant) is hashed, not a crash
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def key_text(key: Key) -> str:
    """A live key as every message and rendering shows it: an integer as it is, a string quoted and
    escaped as JSON (``"1"`` is not the integer ``1``; a key from the tenant never breaks a line)."""
    return str(key) if isinstance(key, int) else json.dumps(key, ensure_ascii=False)


def _sort_name(name: str) -> tuple[str, str]:
    return (name.casefold(), name)


# ---------------------------------------------------------------------------------------------- changes


@dataclass(frozen=True)
class FieldChange:
    """One managed field that differs: ``before`` is the live value (``UNSET`` when the tenant did not
    return the property), ``after`` the desired one (``None`` clears it)."""

    field: str
    before: Any
    after: Any

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "after": self.after}
        if self.before is not UNSET:
            out["before"] = self.before
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str) -> FieldChange:
        d = _obj(data, where)
        return cls(
            field=_str(d, "field", where),
            before=d.get("before", UNSET),
            after=_req(d, "after", where),
        )


@dataclass(frozen=True)
class Create:
    """A new integration: ``body`` is every managed value of the definition (keys left out stay out).
    ``notes`` say what the tenant may do with what the body leaves out (a counter it may store as 0)."""

    action: ClassVar[Action] = "create"
    name: str
    body: Values
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "body", freeze(self.body))
        object.__setattr__(self, "notes", tuple(self.notes))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": "create", "name": self.name, "body": thaw(self.body)}
        if self.notes:
            out["notes"] = list(self.notes)
        return out


@dataclass(frozen=True)
class Update:
    """Managed fields of a live integration that differ from the definition (only those are sent)."""

    action: ClassVar[Action] = "update"
    name: str
    key: Key
    etag: str | None
    fields: tuple[FieldChange, ...]
    before: Values = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "before", freeze(self.before))

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": "update",
            "name": self.name,
            "key": self.key,
            "etag": self.etag,
            "fields": [f.to_dict() for f in self.fields],
            "before": thaw(self.before),
        }


@dataclass(frozen=True)
class Rename:
    """A live integration claimed under an old name (``sync.previous_names``) or whose name differs only
    in case: one PATCH of the name, plus ``fields`` when the definition was also edited."""

    action: ClassVar[Action] = "rename"
    from_name: str
    to_name: str
    key: Key
    etag: str | None
    fields: tuple[FieldChange, ...] = ()
    before: Values = ()

    @property
    def name(self) -> str:
        return self.to_name

    def __post_init__(self) -> None:
        object.__setattr__(self, "before", freeze(self.before))

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": "rename",
            "name": self.to_name,
            "from_name": self.from_name,
            "key": self.key,
            "etag": self.etag,
            "fields": [f.to_dict() for f in self.fields],
            "before": thaw(self.before),
        }


@dataclass(frozen=True)
class Delete:
    """A managed (``IsManaged``) live integration with no definition, deleted because deletes are allowed."""

    action: ClassVar[Action] = "delete"
    name: str
    key: Key
    etag: str | None
    before: Values = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "before", freeze(self.before))

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": "delete",
            "name": self.name,
            "key": self.key,
            "etag": self.etag,
            "before": thaw(self.before),
        }


Change = Create | Update | Rename | Delete


def change_sort_key(change: Change) -> tuple[int, str, str]:
    return (ACTIONS.index(change.action), *_sort_name(change.name))


def sort_changes(changes: Iterable[Change]) -> tuple[Change, ...]:
    return tuple(sorted(changes, key=change_sort_key))


def _known(keys: Iterable[str], where: str, *, name: bool = True) -> None:
    """Every key a field of the schema (``name`` only where a change may carry it): a key the tool does
    not know would be dropped from the request, and the item reported done with nothing sent."""
    known = set(fields.by_yaml()) - (set() if name else {"name"})
    for key in keys:
        if key not in known:
            raise PlanFileError(f"{where}: {key!r} is not a field this integration-sync writes")


def change_from_dict(data: Any, where: str) -> Change:
    d = _obj(data, where)
    action = d.get("action")
    name = _str(d, "name", where)
    if action == "create":
        body = _obj(_req(d, "body", where), f"{where}.body")
        _known(body, f"{where}.body")
        if body.get("name") != name:
            raise PlanFileError(
                f"{where}.body.name: expected {name!r} (the change's name), got {body.get('name')!r}"
            )
        notes = _list(d.get("notes", []), f"{where}.notes")
        if not all(isinstance(n, str) for n in notes):
            raise PlanFileError(f"{where}.notes: expected a list of strings")
        return Create(name=name, body=freeze(body), notes=tuple(notes))
    if action not in ("update", "rename", "delete"):
        raise PlanFileError(f"{where}.action: expected one of {', '.join(ACTIONS)}, got {action!r}")
    key = _req(d, "key", where)
    if not isinstance(key, int | str) or isinstance(key, bool):
        raise PlanFileError(f"{where}.key: expected an integer or a string, got {key!r}")
    etag = d.get("etag")
    if etag is not None and not isinstance(etag, str):
        raise PlanFileError(f"{where}.etag: expected a string or null, got {etag!r}")
    before_ = _obj(d.get("before", {}), f"{where}.before")
    _known(before_, f"{where}.before")
    before = freeze(before_)
    if action == "delete":
        return Delete(name=name, key=key, etag=etag, before=before)
    changes = tuple(
        FieldChange.from_dict(fc, f"{where}.fields[{i}]")
        for i, fc in enumerate(_list(d.get("fields", []), f"{where}.fields"))
    )
    for i, fc in enumerate(changes):
        _known([fc.field], f"{where}.fields[{i}].field", name=False)
    if action == "update":
        return Update(name=name, key=key, etag=etag, fields=changes, before=before)
    return Rename(
        from_name=_str(d, "from_name", where),
        to_name=name,
        key=key,
        etag=etag,
        fields=changes,
        before=before,
    )


# ---------------------------------------------------------------------------------------------- matching


@dataclass(frozen=True)
class Candidate:
    """A live integration that a definition's name matches (case-insensitively)."""

    key: Key
    name: str
    managed: bool

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "managed": self.managed}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Candidate:
        d = _obj(data, where)
        key = _req(d, "key", where)
        if not isinstance(key, int | str) or isinstance(key, bool):
            raise PlanFileError(f"{where}.key: expected an integer or a string, got {key!r}")
        managed = _req(d, "managed", where)
        if not isinstance(managed, bool):
            raise PlanFileError(f"{where}.managed: expected true or false, got {managed!r}")
        return cls(key=key, name=_str(d, "name", where), managed=managed)


@dataclass(frozen=True)
class Ambiguity:
    """A definition that several live integrations match only case-insensitively, none of them the
    one the tool manages (``IsManaged``, or named by a ``sync.previous_names`` entry) alone: an error
    on the tenant's plan. Nothing is planned for the candidates; apply refuses the tenant."""

    name: str
    candidates: tuple[Candidate, ...]

    @property
    def message(self) -> str:
        shown = ", ".join(
            f"{json.dumps(c.name, ensure_ascii=False)} (key {key_text(c.key)}, {'managed' if c.managed else 'client-owned'})"
            for c in self.candidates
        )
        return (
            f"definition {json.dumps(self.name, ensure_ascii=False)} matches {len(self.candidates)} live "
            f"integrations that differ only in case: {shown}; none was touched. Give the definition one "
            "of their exact names, or remove all but one"
        )

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "candidates": [c.to_dict() for c in self.candidates]}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Ambiguity:
        d = _obj(data, where)
        return cls(
            name=_str(d, "name", where),
            candidates=tuple(
                Candidate.from_dict(c, f"{where}.candidates[{i}]")
                for i, c in enumerate(_list(_req(d, "candidates", where), f"{where}.candidates"))
            ),
        )


# ---------------------------------------------------------------------------------------------- safety


#: Who allowed a tenant's deletes when it was planned: ``flag`` (``--allow-delete``), ``config`` (the
#: tenant's effective ``safety.allow_delete``), or ``none`` (not allowed: orphans are kept).
DeletePermission = Literal["flag", "config", "none"]
DELETE_PERMISSIONS: Final[tuple[DeletePermission, ...]] = ("flag", "config", "none")


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
    count = 0
    for values in live:
        name = usable_name(values.get("name"))
        if name is not None and (values.get("managed") is True or name.casefold() in names):
            count += 1
    return count


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
            if not isinstance(change, Create):
                touched += 1
                deletes += isinstance(change, Delete)
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
        d = _obj(data, where)
        return cls(
            managed=_int(d, "managed", where),
            change_pct=_num(d, "change_pct", where),
            delete_pct=_num(d, "delete_pct", where),
            max_change_pct=_num(d, "max_change_pct", where),
            max_delete_pct=_num(d, "max_delete_pct", where),
            min_existing=_int(d, "min_existing", where),
        )


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def _pct(value: float) -> str:
    return f"{value:g}%"


# ---------------------------------------------------------------------------------------------- plans


@dataclass(frozen=True)
class TenantPlan:
    """One tenant's plan. ``error`` is set (and ``changes`` empty) when the tenant could not be planned.

    ``orphans`` names managed live integrations that have no definition and are kept because deletes are
    not allowed: a note, not a change. ``partial`` plans (``--integration``) cover only some definitions
    and never delete. ``possible_renames`` pairs a create with a live integration that no definition
    claims and that the create resembles (``(definition name, live name)``): probably a definition
    renamed without ``sync.previous_names``, which would create a second integration (or delete and
    re-create it, losing its key). A note, not a change.

    ``ambiguous`` lists definitions that several live integrations match only case-insensitively
    (``Ambiguity``): errors; the rest of the plan is shown, but the tenant counts as failed and apply
    refuses it whole. ``unnamed`` holds the keys of live integrations with no usable name (missing,
    null, not a string, blank): never matched, deleted or counted, only noted.
    """

    tenant: str
    url: str
    live_digest: str | None = None
    changes: tuple[Change, ...] = ()
    unchanged: int = 0
    orphans: tuple[str, ...] = ()
    possible_renames: tuple[tuple[str, str], ...] = ()
    partial: bool = False
    safety: SafetyVerdict = field(default_factory=SafetyVerdict)
    error: str | None = None
    delete_permission: DeletePermission = "none"
    ambiguous: tuple[Ambiguity, ...] = ()
    unnamed: tuple[Key, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "changes", sort_changes(self.changes))
        object.__setattr__(self, "ambiguous", tuple(sorted(self.ambiguous, key=lambda a: _sort_name(a.name))))
        object.__setattr__(
            self, "unnamed", tuple(sorted(self.unnamed, key=lambda k: (isinstance(k, str), str(k))))
        )
        object.__setattr__(self, "orphans", tuple(sorted(self.orphans, key=_sort_name)))
        object.__setattr__(
            self, "possible_renames", tuple(sorted(self.possible_renames, key=lambda p: _sort_name(p[0])))
        )

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    @property
    def unsafe(self) -> bool:
        return self.error is None and self.safety.unsafe

    @property
    def failed(self) -> bool:
        """The tenant could not be planned, or its plan holds errors (ambiguous matches)."""
        return self.error is not None or bool(self.ambiguous)

    @property
    def errors(self) -> tuple[str, ...]:
        """Every error of this tenant's plan, one line each."""
        return ((self.error,) if self.error is not None else ()) + tuple(a.message for a in self.ambiguous)

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)

    def counts(self) -> dict[str, int]:
        return {a: self.count(a) for a in ACTIONS}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.tenant,
            "url": self.url,
            "live_digest": self.live_digest,
            "partial": self.partial,
            "error": self.error,
            "changes": [c.to_dict() for c in self.changes],
            "unchanged": self.unchanged,
            "orphans": list(self.orphans),
            "possible_renames": [{"name": n, "live_name": o} for n, o in self.possible_renames],
            "safety": self.safety.to_dict(),
            "delete_permission": self.delete_permission,
            "ambiguous": [a.to_dict() for a in self.ambiguous],
            "unnamed": list(self.unnamed),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> TenantPlan:
        d = _obj(data, where)
        digest_ = d.get("live_digest")
        error = d.get("error")
        orphans = _list(d.get("orphans", []), f"{where}.orphans")
        if not all(isinstance(o, str) for o in orphans):
            raise PlanFileError(f"{where}.orphans: expected a list of names")
        renames = _list(d.get("possible_renames", []), f"{where}.possible_renames")
        if not all(
            isinstance(r, dict) and isinstance(r.get("name"), str) and isinstance(r.get("live_name"), str)
            for r in renames
        ):
            raise PlanFileError(f"{where}.possible_renames: expected a list of {{name, live_name}} objects")
        unnamed = _list(d.get("unnamed", []), f"{where}.unnamed")
        if not all(isinstance(k, int | str) and not isinstance(k, bool) for k in unnamed):
            raise PlanFileError(f"{where}.unnamed: expected a list of keys")
        return cls(
            tenant=_str(d, "name", where),
            url=_str(d, "url", where),
            live_digest=digest_ if isinstance(digest_, str) else None,
            changes=tuple(
                change_from_dict(c, f"{where}.changes[{i}]")
                for i, c in enumerate(_list(d.get("changes", []), f"{where}.changes"))
            ),
            unchanged=_int(d, "unchanged", where, default=0),
            orphans=tuple(orphans),
            possible_renames=tuple((r["name"], r["live_name"]) for r in renames),
            partial=bool(d.get("partial", False)),
            safety=SafetyVerdict.from_dict(d["safety"], f"{where}.safety")
            if "safety" in d
            else SafetyVerdict(),
            error=str(error) if error is not None else None,
            delete_permission=d["delete_permission"],
            ambiguous=tuple(
                Ambiguity.from_dict(a, f"{where}.ambiguous[{i}]")
                for i, a in enumerate(_list(d.get("ambiguous", []), f"{where}.ambiguous"))
            ),
            unnamed=tuple(unnamed),
        )


@dataclass(frozen=True)
class Plan:
    """Every selected tenant's plan, with what it was made from. Tenants are kept in name order."""

    tool_version: str
    definitions_digest: str
    tenants: tuple[TenantPlan, ...] = ()
    partial: bool = False
    format_version: int = FORMAT_VERSION
    #: Every name and previous name of the repository's definitions, casefolded: the safety
    #: denominator counts client-owned live integrations by them (``safety_base``), at plan and at apply.
    known_names: frozenset[str] = frozenset()
    #: ``sha256:<hex>`` of every definition of the repository as written (before any tenant's values):
    #: the same for every shard planned from the same commit, whatever the tenants selected.
    repository_digest: str = ""
    #: Validation warnings about the definitions planned (the selected tenants'): shown by every
    #: rendering, once, in its own format.
    warnings: tuple[Diagnostic, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "tenants", tuple(sorted(self.tenants, key=lambda t: _sort_name(t.tenant))))
        object.__setattr__(self, "known_names", frozenset(self.known_names))
        object.__setattr__(self, "warnings", tuple(sorted(set(self.warnings))))

    @property
    def has_changes(self) -> bool:
        return any(t.has_changes for t in self.tenants)

    @property
    def failed(self) -> tuple[TenantPlan, ...]:
        return tuple(t for t in self.tenants if t.failed)

    def counts(self) -> dict[str, int]:
        return {a: sum(t.count(a) for t in self.tenants) for a in ACTIONS}

    def tenant(self, name: str) -> TenantPlan:
        for t in self.tenants:
            if t.tenant == name:
                return t
        raise KeyError(name)

    def summary(self) -> dict[str, int]:
        """The counts a reader wants first (the JSON plan's ``summary``): changes by action, unchanged
        definitions, and tenants (all, with changes, failed, unsafe)."""
        return {
            **self.counts(),
            "unchanged": sum(t.unchanged for t in self.tenants),
            "tenants": len(self.tenants),
            "tenants_with_changes": sum(1 for t in self.tenants if t.has_changes),
            "tenants_failed": len(self.failed),
            "tenants_unsafe": sum(1 for t in self.tenants if t.unsafe),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "tool_version": self.tool_version,
            "definitions_digest": self.definitions_digest,
            "known_names": sorted(self.known_names),
            "repository_digest": self.repository_digest,
            "partial": self.partial,
            "summary": self.summary(),
            "tenants": [t.to_dict() for t in self.tenants],
            "warnings": [w.to_dict() for w in self.warnings],
        }

    def to_json(self) -> str:
        """The saved form: sorted keys, two-space indent, a final newline; byte-for-byte deterministic."""
        return "".join(self.json_chunks())

    def json_chunks(self) -> Iterator[str]:
        """``to_json`` in pieces, one tenant at a time, so that a plan of 10,000 tenants is written
        without holding its whole text (or a dict of it) at once. The pieces join to exactly the text
        ``json.dumps(self.to_dict(), sort_keys=True, indent=2, ensure_ascii=False) + "\\n"``, lone
        surrogates escaped (``escape_surrogates``)."""
        outer = replace(self, tenants=()).to_dict()
        outer["summary"] = self.summary()  # of the tenants, which are written one at a time below
        text = escape_surrogates(json.dumps(outer, sort_keys=True, indent=2, ensure_ascii=False))
        if not self.tenants:
            yield text + "\n"
            return
        # Strings are escaped, so this exact text can only be the key itself and its empty list.
        head, tail = text.split('"tenants": []')
        yield head + '"tenants": ['
        for i, tenant in enumerate(self.tenants):
            body = json.dumps(tenant.to_dict(), sort_keys=True, indent=2, ensure_ascii=False)
            # a lone surrogate from a tenant is kept, escaped, so that the file stays UTF-8
            yield ("," if i else "") + "\n    " + escape_surrogates(body).replace("\n", "\n    ")
        yield "\n  ]" + tail + "\n"

    @classmethod
    def from_dict(cls, data: Any) -> Plan:
        """A plan from its JSON form, read strictly: the version first (an integer, this one), then the
        shape against ``schemas/plan.schema.json``, then what a schema cannot say."""
        d = _obj(data, "plan")
        if "format_version" not in d and ("report_version" in d or "plan_definitions_digest" in d):
            raise PlanFileError(
                "this is an apply report (integration-sync apply --report), not a plan: "
                "give the file that plan --out wrote"
            )
        check_version(d.get("format_version"))
        check_shape(d)
        tenants = tuple(
            TenantPlan.from_dict(t, f"tenants[{i}]")
            for i, t in enumerate(_list(_req(d, "tenants", "plan"), "plan.tenants"))
        )
        seen: set[str] = set()
        for i, t in enumerate(tenants):
            if t.tenant.casefold() in seen:
                raise PlanFileError(f"tenants[{i}].name: tenant {t.tenant!r} is in the plan twice")
            seen.add(t.tenant.casefold())
        return cls(
            tool_version=_str(d, "tool_version", "plan"),
            definitions_digest=_str(d, "definitions_digest", "plan"),
            tenants=tenants,
            partial=bool(d.get("partial", False)),
            known_names=frozenset(d["known_names"]),
            repository_digest=d["repository_digest"],
            warnings=tuple(Diagnostic(**w) for w in d["warnings"]),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Plan:
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PlanFileError(f"not a plan file: invalid JSON ({exc})") from exc
        except RecursionError as exc:
            raise PlanFileError("not a plan file: its JSON is nested too deeply") from exc
        if _too_deep(data):  # every later step (schema, rendering, writing) would recurse through it
            raise PlanFileError(f"not a plan file: JSON nested more than {MAX_DEPTH} deep")
        return cls.from_dict(data)


#: How deep a plan file may nest: a plan is 8 levels deep around the values it holds.
MAX_DEPTH: Final = 64


def fits_a_plan_file(tenant: TenantPlan) -> bool:
    """Whether a plan file can hold ``tenant``'s plan: ``load_plan`` refuses a file nested more than
    ``MAX_DEPTH`` deep, and a tenant sits two levels down (a live value may nest far deeper)."""
    return not _too_deep(tenant.to_dict(), MAX_DEPTH - 2)


def _too_deep(data: Any, limit: int = MAX_DEPTH) -> bool:
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return False


def check_version(version: Any) -> None:
    """Refuse any ``format_version`` but this one, type-strictly (``true`` and ``2.0`` are not ``2``);
    an older one says to plan again."""
    if type(version) is int and version == FORMAT_VERSION:
        return
    if type(version) is int and 0 < version < FORMAT_VERSION:
        raise PlanFileError(
            f"plan format_version {version} was written by an older integration-sync and is not supported: "
            "make a new plan (integration-sync plan --out FILE) and apply that"
        )
    raise PlanFileError(
        f"plan format_version {json.dumps(version)[:40]} is not supported: this integration-sync reads "
        f"format_version {FORMAT_VERSION} (an integer); make a new plan with this version"
    )


#: The JSON Schema of the plan format, at the top of the repository for readers in other languages; the
#: wheel carries a copy (``integration_sync/_schemas``, see pyproject.toml).
PLAN_SCHEMA_FILE: Final = "plan.schema.json"


@functools.cache
def plan_schema() -> dict[str, Any]:
    from importlib import resources

    packaged = resources.files("integration_sync").joinpath("_schemas", PLAN_SCHEMA_FILE)
    if packaged.is_file():
        text = packaged.read_text(encoding="utf-8")
    else:  # a source checkout
        text = (Path(__file__).resolve().parent.parent / "schemas" / PLAN_SCHEMA_FILE).read_text(
            encoding="utf-8"
        )
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _plan_validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(plan_schema())


def check_shape(data: Any) -> None:
    """The plan's shape against its JSON Schema: the first problem (by position in the file), located."""
    from jsonschema.exceptions import best_match

    errors_ = list(_plan_validator().iter_errors(data))
    if not errors_:
        return
    error = best_match(errors_)
    where = "plan" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    message = error.message if len(error.message) <= 200 else error.message[:200] + "…"
    raise PlanFileError(f"{where}: {message}")


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


# ---------------------------------------------------------------------------------------------- checks


def _obj(data: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise PlanFileError(f"{where}: expected an object, got {type(data).__name__}")
    return data


def _list(data: Any, where: str) -> Sequence[Any]:
    if not isinstance(data, list):
        raise PlanFileError(f"{where}: expected a list, got {type(data).__name__}")
    return data


def _req(d: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in d:
        raise PlanFileError(f"{where}: missing {key!r}")
    return d[key]


def _str(d: Mapping[str, Any], key: str, where: str) -> str:
    value = _req(d, key, where)
    if not isinstance(value, str):
        raise PlanFileError(f"{where}.{key}: expected a string, got {value!r}")
    return value


def _int(d: Mapping[str, Any], key: str, where: str, default: int | None = None) -> int:
    if key not in d and default is not None:
        return default
    value = _req(d, key, where)
    if not isinstance(value, int) or isinstance(value, bool):
        raise PlanFileError(f"{where}.{key}: expected an integer, got {value!r}")
    return value


def _num(d: Mapping[str, Any], key: str, where: str) -> float:
    value = _req(d, key, where)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise PlanFileError(f"{where}.{key}: expected a number, got {value!r}")
    return float(value)
