"""The change kinds of a plan: each a small frozen dataclass, with its JSON form.

Every change that touches a live integration carries what it was planned against, so that ``apply`` can
refuse an item whose live state moved: the live ``key``, its ``etag`` (``None`` when the tenant sends
none), and ``before``, a snapshot of the live values of every field the change manages (the fields the
definition manages, the name included, for update and rename; every mapped field for delete). When etags
are absent, apply re-reads the item and compares its values with ``before`` right before writing.

A rename may carry field changes as well (``Rename.fields``): the definition was renamed *and* edited.
It is applied as one PATCH of ``Name`` plus those fields, and counted once, as a rename. An
``Ambiguity`` (several live integrations that a definition matches only by case) is an error, not a change.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal

from integration_sync import fields
from integration_sync.errors import PlanFileError
from integration_sync.fields import UNSET
from integration_sync.plan.format import as_list, as_object, required, string
from integration_sync.plan.values import Key, Values, freeze, key_text, sort_name, thaw

#: The order of change kinds inside a tenant (and of the counts in every summary).
ACTIONS: Final = ("create", "update", "rename", "delete")
Action = Literal["create", "update", "rename", "delete"]


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
        d = as_object(data, where)
        return cls(
            field=string(d, "field", where),
            before=d.get("before", UNSET),
            after=required(d, "after", where),
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
    return (ACTIONS.index(change.action), *sort_name(change.name))


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
    d = as_object(data, where)
    action = d.get("action")
    name = string(d, "name", where)
    if action == "create":
        body = as_object(required(d, "body", where), f"{where}.body")
        _known(body, f"{where}.body")
        if body.get("name") != name:
            raise PlanFileError(
                f"{where}.body.name: expected {name!r} (the change's name), got {body.get('name')!r}"
            )
        notes = as_list(d.get("notes", []), f"{where}.notes")
        if not all(isinstance(n, str) for n in notes):
            raise PlanFileError(f"{where}.notes: expected a list of strings")
        return Create(name=name, body=freeze(body), notes=tuple(notes))
    if action not in ("update", "rename", "delete"):
        raise PlanFileError(f"{where}.action: expected one of {', '.join(ACTIONS)}, got {action!r}")
    key = required(d, "key", where)
    if not isinstance(key, int | str) or isinstance(key, bool):
        raise PlanFileError(f"{where}.key: expected an integer or a string, got {key!r}")
    etag = d.get("etag")
    if etag is not None and not isinstance(etag, str):
        raise PlanFileError(f"{where}.etag: expected a string or null, got {etag!r}")
    before_ = as_object(d.get("before", {}), f"{where}.before")
    _known(before_, f"{where}.before")
    before = freeze(before_)
    if action == "delete":
        return Delete(name=name, key=key, etag=etag, before=before)
    changes = tuple(
        FieldChange.from_dict(fc, f"{where}.fields[{i}]")
        for i, fc in enumerate(as_list(d.get("fields", []), f"{where}.fields"))
    )
    for i, fc in enumerate(changes):
        _known([fc.field], f"{where}.fields[{i}].field", name=False)
    if action == "update":
        return Update(name=name, key=key, etag=etag, fields=changes, before=before)
    return Rename(
        from_name=string(d, "from_name", where),
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
        d = as_object(data, where)
        key = required(d, "key", where)
        if not isinstance(key, int | str) or isinstance(key, bool):
            raise PlanFileError(f"{where}.key: expected an integer or a string, got {key!r}")
        managed = required(d, "managed", where)
        if not isinstance(managed, bool):
            raise PlanFileError(f"{where}.managed: expected true or false, got {managed!r}")
        return cls(key=key, name=string(d, "name", where), managed=managed)


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
        d = as_object(data, where)
        return cls(
            name=string(d, "name", where),
            candidates=tuple(
                Candidate.from_dict(c, f"{where}.candidates[{i}]")
                for i, c in enumerate(as_list(required(d, "candidates", where), f"{where}.candidates"))
            ),
        )
