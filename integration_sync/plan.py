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

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Final, Literal

from integration_sync import fields
from integration_sync.errors import PlanFileError
from integration_sync.fields import UNSET

FORMAT_VERSION: Final = 1

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


def digest(data: Any, *, keys_sorted: bool = False) -> str:
    """``sha256:<hex>`` of ``data``'s canonical JSON (sorted keys, no whitespace). ``keys_sorted``: the
    caller made every mapping in ``data`` with its keys in sorted order already, so the same text comes
    without sorting them again (which costs more than the encoding itself)."""
    text = json.dumps(data, sort_keys=not keys_sorted, separators=(",", ":"), ensure_ascii=False, default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


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
    """A new integration: ``body`` is every managed value of the definition (keys left out stay out)."""

    action: ClassVar[Action] = "create"
    name: str
    body: Values

    def __post_init__(self) -> None:
        object.__setattr__(self, "body", freeze(self.body))

    def to_dict(self) -> dict[str, Any]:
        return {"action": "create", "name": self.name, "body": thaw(self.body)}


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
        return Create(name=name, body=freeze(body))
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


# ---------------------------------------------------------------------------------------------- safety


@dataclass(frozen=True)
class SafetyVerdict:
    """The thresholds applied to one tenant's plan.

    ``managed`` is the number of live integrations the tool manages on the tenant (those a definition
    matches, plus ``IsManaged`` ones without a definition). ``change_pct`` is updates + renames + deletes
    over ``managed``, ``delete_pct`` deletes over ``managed`` (both 0 when nothing is managed yet: creates
    alone never endanger existing integrations). A percentage strictly above its maximum makes the
    tenant ``unsafe``; apply refuses it without ``--force``.
    """

    managed: int = 0
    change_pct: float = 0.0
    delete_pct: float = 0.0
    max_change_pct: float = 100.0
    max_delete_pct: float = 100.0

    def __post_init__(self) -> None:
        for name in ("change_pct", "delete_pct", "max_change_pct", "max_delete_pct"):
            object.__setattr__(self, name, float(getattr(self, name)))

    @property
    def unsafe(self) -> bool:
        return self.change_pct > self.max_change_pct or self.delete_pct > self.max_delete_pct

    @property
    def reasons(self) -> tuple[str, ...]:
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
        )


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "changes", sort_changes(self.changes))
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
        )


@dataclass(frozen=True)
class Plan:
    """Every selected tenant's plan, with what it was made from. Tenants are kept in name order."""

    tool_version: str
    definitions_digest: str
    tenants: tuple[TenantPlan, ...] = ()
    partial: bool = False
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "tenants", tuple(sorted(self.tenants, key=lambda t: _sort_name(t.tenant))))

    @property
    def has_changes(self) -> bool:
        return any(t.has_changes for t in self.tenants)

    @property
    def failed(self) -> tuple[TenantPlan, ...]:
        return tuple(t for t in self.tenants if t.error is not None)

    def counts(self) -> dict[str, int]:
        return {a: sum(t.count(a) for t in self.tenants) for a in ACTIONS}

    def tenant(self, name: str) -> TenantPlan:
        for t in self.tenants:
            if t.tenant == name:
                return t
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "tool_version": self.tool_version,
            "definitions_digest": self.definitions_digest,
            "partial": self.partial,
            "tenants": [t.to_dict() for t in self.tenants],
        }

    def to_json(self) -> str:
        """The saved form: sorted keys, two-space indent, a final newline; byte-for-byte deterministic."""
        return "".join(self.json_chunks())

    def json_chunks(self) -> Iterator[str]:
        """``to_json`` in pieces, one tenant at a time, so that a plan of 10,000 tenants is written
        without holding its whole text (or a dict of it) at once. The pieces join to exactly the text
        ``json.dumps(self.to_dict(), sort_keys=True, indent=2, ensure_ascii=False) + "\\n"``."""
        outer = replace(self, tenants=()).to_dict()
        text = json.dumps(outer, sort_keys=True, indent=2, ensure_ascii=False)
        if not self.tenants:
            yield text + "\n"
            return
        # Strings are escaped, so this exact text can only be the key itself and its empty list.
        head, tail = text.split('"tenants": []')
        yield head + '"tenants": ['
        for i, tenant in enumerate(self.tenants):
            body = json.dumps(tenant.to_dict(), sort_keys=True, indent=2, ensure_ascii=False)
            yield ("," if i else "") + "\n    " + body.replace("\n", "\n    ")
        yield "\n  ]" + tail + "\n"

    @classmethod
    def from_dict(cls, data: Any) -> Plan:
        d = _obj(data, "plan")
        version = d.get("format_version")
        if version != FORMAT_VERSION:
            raise PlanFileError(
                f"plan format_version {version!r} is not supported: this integration-sync reads "
                f"format_version {FORMAT_VERSION}"
            )
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
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Plan:
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PlanFileError(f"not a plan file: invalid JSON ({exc})") from exc
        return cls.from_dict(data)


def load_plan(path: Path) -> Plan:
    """Read a saved plan file; every problem is a ``PlanFileError`` naming the file."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
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
