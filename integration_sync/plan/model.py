"""The plan model: what would change on each tenant (``TenantPlan``) and on every selected tenant
(``Plan``), as plain immutable values, with their JSON form (``docs/plan-format.md``).

A ``TenantPlan`` holds one tenant's changes in a deterministic order (action, then name) and a ``Plan``
holds the tenants in name order. Values are kept under their YAML keys (``fields.by_yaml``); apply maps
them to OData names with ``fields.to_odata``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from integration_sync.diagnostics import Diagnostic
from integration_sync.errors import PlanFileError
from integration_sync.plan.changes import ACTIONS, Ambiguity, Change, change_from_dict, sort_changes
from integration_sync.plan.format import (
    FORMAT_VERSION,
    MAX_DEPTH,
    as_list,
    as_object,
    check_shape,
    check_version,
    integer,
    required,
    string,
    too_deep,
)
from integration_sync.plan.safety import DeletePermission, SafetyVerdict
from integration_sync.plan.values import Key, escape_surrogates, sort_name


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
        object.__setattr__(self, "ambiguous", tuple(sorted(self.ambiguous, key=lambda a: sort_name(a.name))))
        object.__setattr__(
            self, "unnamed", tuple(sorted(self.unnamed, key=lambda k: (isinstance(k, str), str(k))))
        )
        object.__setattr__(self, "orphans", tuple(sorted(self.orphans, key=sort_name)))
        object.__setattr__(
            self, "possible_renames", tuple(sorted(self.possible_renames, key=lambda p: sort_name(p[0])))
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
        d = as_object(data, where)
        digest_ = d.get("live_digest")
        error = d.get("error")
        orphans = as_list(d.get("orphans", []), f"{where}.orphans")
        if not all(isinstance(o, str) for o in orphans):
            raise PlanFileError(f"{where}.orphans: expected a list of names")
        renames = as_list(d.get("possible_renames", []), f"{where}.possible_renames")
        if not all(
            isinstance(r, dict) and isinstance(r.get("name"), str) and isinstance(r.get("live_name"), str)
            for r in renames
        ):
            raise PlanFileError(f"{where}.possible_renames: expected a list of {{name, live_name}} objects")
        unnamed = as_list(d.get("unnamed", []), f"{where}.unnamed")
        if not all(isinstance(k, int | str) and not isinstance(k, bool) for k in unnamed):
            raise PlanFileError(f"{where}.unnamed: expected a list of keys")
        return cls(
            tenant=string(d, "name", where),
            url=string(d, "url", where),
            live_digest=digest_ if isinstance(digest_, str) else None,
            changes=tuple(
                change_from_dict(c, f"{where}.changes[{i}]")
                for i, c in enumerate(as_list(d.get("changes", []), f"{where}.changes"))
            ),
            unchanged=integer(d, "unchanged", where, default=0),
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
                for i, a in enumerate(as_list(d.get("ambiguous", []), f"{where}.ambiguous"))
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
        object.__setattr__(self, "tenants", tuple(sorted(self.tenants, key=lambda t: sort_name(t.tenant))))
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
        d = as_object(data, "plan")
        if "format_version" not in d and ("report_version" in d or "plan_definitions_digest" in d):
            raise PlanFileError(
                "this is an apply report (integration-sync apply --report), not a plan: "
                "give the file that plan --out wrote"
            )
        check_version(d.get("format_version"))
        check_shape(d)
        tenants = tuple(
            TenantPlan.from_dict(t, f"tenants[{i}]")
            for i, t in enumerate(as_list(required(d, "tenants", "plan"), "plan.tenants"))
        )
        seen: set[str] = set()
        for i, t in enumerate(tenants):
            if t.tenant.casefold() in seen:
                raise PlanFileError(f"tenants[{i}].name: tenant {t.tenant!r} is in the plan twice")
            seen.add(t.tenant.casefold())
        return cls(
            tool_version=string(d, "tool_version", "plan"),
            definitions_digest=string(d, "definitions_digest", "plan"),
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
        if too_deep(data):  # every later step (schema, rendering, writing) would recurse through it
            raise PlanFileError(f"not a plan file: JSON nested more than {MAX_DEPTH} deep")
        return cls.from_dict(data)
