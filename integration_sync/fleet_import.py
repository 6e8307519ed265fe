"""Adopting a fleet: ``import --fleet`` writes one definition per managed integration name found among
the selected tenants (names compared case-insensitively), instead of one file per tenant.

- A field equal on every tenant that has the integration is written as that value. A field that differs
  is written with the value most of those tenants have (a tie goes to the value of the tenant that
  comes first in the config), and each tenant with another value is listed in the summary, so that the
  first ``plan`` shows exactly that drift, tenant by tenant. The name is chosen the same way among its
  spellings.
- With ``vars``, a differing field becomes ``${VAR}`` (``VAR`` from the integration's slug and the
  field) and each tenant's own value goes into its ``vars`` in the config (``write_config_vars``: a
  ruamel.yaml round trip that keeps the config's comments). A field that a tenant does not return at
  all cannot be a variable there: it stays a majority value.
- ``sync.tenants`` is ``["*"]`` when every tenant in the config has the integration; otherwise
  ``["tag:T"]`` for a tag whose members are exactly those tenants; otherwise their names, in config order.
- Client-owned integrations (``managed`` not true) are left to the per-tenant import.

Tenants are read one list at a time (``FleetAggregate.add``) and only the aggregate is kept: per
integration and field, each distinct value with the config positions of the tenants that have it.
Rendering, file names and the rule-break comments are the per-tenant import's (``importer.py``).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from integration_sync import fields, importer
from integration_sync.config import Config
from integration_sync.errors import SyncError
from integration_sync.fsutil import write_text_atomic
from integration_sync.loader import display_path
from integration_sync.plan import usable_name


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@dataclass
class _Integration:
    #: Exact spellings of the name -> config positions of the tenants using it.
    names: dict[str, list[int]] = field(default_factory=dict)
    #: YAML key -> value key (JSON text) -> config positions of the tenants with it. A property a tenant
    #: leaves out is ``null`` (``plan.equal``: a missing property equals only an explicit null).
    values: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    tenants: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Drift:
    """A field whose value differs among the tenants that have the integration."""

    field: str
    written: str  # the value written (YAML-ish text), or ``${var}``
    agreeing: int
    #: (tenant, its value as text) for each tenant whose value is not the one written.
    others: tuple[tuple[str, str], ...]
    variable: str | None = None


@dataclass
class FleetFile:
    name: str
    path: Path
    text: str
    tenants: tuple[str, ...]
    drift: tuple[Drift, ...]
    breaches: tuple[str, ...] = ()


@dataclass
class FleetResult:
    files: list[FleetFile] = field(default_factory=list)
    skipped_unmanaged: int = 0
    already_defined: list[tuple[str, Path]] = field(default_factory=list)
    #: Tenant -> {variable: value}, for the config (``vars``).
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Tenants with several integrations whose names differ only in case: one was taken.
    twins: list[tuple[str, str]] = field(default_factory=list)
    #: Integrations left out because a value to be written (in the file or in a tenant's vars) cannot
    #: be (``importer.unholdable``): (name, field, the first tenant with it, why).
    unwritable: list[tuple[str, str, str, str]] = field(default_factory=list)
    #: (tenant, key) of managed live integrations with no usable name (``plan.usable_name``): left out.
    unnamed: list[tuple[str, Any]] = field(default_factory=list)


class FleetAggregate:
    """What ``import --fleet`` keeps while it reads tenants, one list at a time, in any order."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.position = {t.name: i for i, t in enumerate(config.tenants)}
        self.integrations: dict[str, _Integration] = {}
        self.skipped_unmanaged = 0
        self.twins: list[tuple[str, str]] = []
        self.unnamed: list[tuple[str, Any]] = []

    def add(self, tenant_name: str, live: Iterable[Mapping[str, Any]]) -> None:
        """Fold one tenant's integrations (OData entities under the schema's names) in."""
        at = self.position[tenant_name]
        seen: set[str] = set()
        for entity in live:
            values = fields.from_odata(entity)
            if values.get("managed") is not True:
                self.skipped_unmanaged += 1
                continue
            name = usable_name(values.get("name"))
            if name is None:  # no definition could match it: plan would create a second one
                self.unnamed.append((tenant_name, entity.get(fields.ODATA_KEY)))
                continue
            folded = name.casefold()
            if folded in seen:
                self.twins.append((tenant_name, name))
                continue
            seen.add(folded)
            agg = self.integrations.setdefault(folded, _Integration())
            agg.tenants.append(at)
            agg.names.setdefault(name, []).append(at)
            for f in fields.catalogue():
                if f.yaml == "name":
                    continue
                key = _key(values.get(f.yaml))  # left out is null, as plan compares it
                agg.values.setdefault(f.yaml, {}).setdefault(key, []).append(at)

    def result(
        self,
        directory: Path,
        *,
        use_vars: bool,
        existing: Mapping[str, tuple[Path, ...]] | None = None,
        own: Collection[Path] = (),
    ) -> FleetResult:
        """The files to write (no I/O), with their drift and the variables for the config.

        As the per-tenant import (``importer.build_import``): an integration a definition already claims
        (``existing``, by name or previous name, anywhere) is left out and listed, unless the claim is an
        earlier fleet import in the very file it would write (``own``, from ``importer.fleet_imports``);
        the rules the written values break that a definition may accept go into ``sync.accept``; each
        file carries the fleet import mark (``importer.fleet_import_mark``)."""
        out = FleetResult(
            skipped_unmanaged=self.skipped_unmanaged, twins=list(self.twins), unnamed=list(self.unnamed)
        )
        tenants = self.config.tenants
        chosen = {folded: _majority(agg.names) for folded, agg in self.integrations.items()}
        files = importer.file_names(chosen.values())
        docs: dict[Path, tuple[str, dict[str, Any], tuple[str, ...], tuple[Drift, ...]]] = {}
        for folded, agg in sorted(self.integrations.items(), key=lambda p: files[chosen[p[0]]]):
            name = chosen[folded]
            path = directory / files[name]
            owners = (existing or {}).get(folded, ())
            if owners and not (path.resolve() in owners and path.resolve() in own):
                out.already_defined.append((name, owners[0]))
                continue
            bad = self._unwritable(name, agg, use_vars)
            if bad is not None:
                out.unwritable.append((name, *bad))
                continue
            doc, drift = self._definition(name, agg, use_vars, out.variables)
            members = sorted(agg.tenants)
            doc[fields.SYNC_KEY] = {"tenants": self._targets(members)}
            docs[path] = (name, doc, tuple(tenants[i].name for i in members), drift)
        config = self._with_vars(out.variables)
        ref = importer.schema_ref(directory, self.config.root)
        marks = {path: importer.fleet_import_mark(len(m)) for path, (_, _, m, _) in docs.items()}

        def texts_of(notes: Mapping[Path, Mapping[str, list[str]]]) -> dict[Path, str]:
            return {
                path: importer.render(doc, notes.get(path, {}), ref, mark=marks[path])
                for path, (_, doc, _, _) in docs.items()
            }

        for path, rules in importer.rules_to_accept(config, texts_of({})).items():
            docs[path][1][fields.SYNC_KEY]["accept"] = rules
        notes = importer.findings(config, texts_of({}))
        # once more on the commented files: a note that names another file's line then names it right
        notes = importer.findings(config, texts_of(notes))
        for path, (name, doc, members_, drift) in docs.items():
            comments = notes.get(path, {})
            flagged = tuple(f"{k or 'document'}: {n}" for k, texts_ in comments.items() for n in texts_)
            out.files.append(
                FleetFile(
                    name,
                    path,
                    importer.render(doc, comments, ref, mark=marks[path]),
                    members_,
                    drift,
                    flagged,
                )
            )
        return out

    def _unwritable(self, name: str, agg: _Integration, use_vars: bool) -> tuple[str, str, str] | None:
        """(field, tenant, why) of the first value to be written that no file can hold: the name, a
        majority value, or with ``use_vars`` any tenant's value of a field that differs."""
        tenants = self.config.tenants
        why = importer.unholdable(name)
        if why is not None:
            return "name", tenants[min(agg.names[name])].name, why
        for key, by_value in agg.values.items():
            written = [_majority(by_value)]
            if use_vars and len(by_value) > 1:
                written = list(by_value)
            for value in written:
                why = importer.unholdable(json.loads(value))
                if why is not None:
                    return key, tenants[min(by_value[value])].name, why
        return None

    def _definition(
        self, name: str, agg: _Integration, use_vars: bool, variables: dict[str, dict[str, Any]]
    ) -> tuple[dict[str, Any], tuple[Drift, ...]]:
        tenants = self.config.tenants
        values: dict[str, Any] = {"name": name}
        drift: list[Drift] = []
        if len(agg.names) > 1:  # spellings that differ but for case: plan renames them in place
            spellings = sorted(
                (
                    (tenants[i].name, _key(n))
                    for n, members in agg.names.items()
                    if n != name
                    for i in members
                ),
                key=lambda o: self.position[o[0]],
            )
            drift.append(Drift("name", _key(name), len(agg.names[name]), tuple(spellings)))
        placeholders: dict[str, str] = {}
        for key, by_value in agg.values.items():
            written = _majority(by_value)
            values[key] = json.loads(written)
            if len(by_value) == 1:
                continue
            others = tuple(
                (tenants[i].name, v) for v, members in by_value.items() if v != written for i in members
            )
            others = tuple(sorted(others, key=lambda o: self.position[o[0]]))
            if use_vars:
                var = variable_name(name, key)
                placeholders[key] = var
                for v, members in by_value.items():
                    for i in members:
                        variables.setdefault(tenants[i].name, {})[var] = json.loads(v)
                drift.append(Drift(key, f"${{{var}}}", len(by_value[written]), others, var))
            else:
                drift.append(Drift(key, written, len(by_value[written]), others))
        doc = importer.definition(fields.to_odata(values), "")  # escapes a literal ${ in live text
        for key, var in placeholders.items():
            doc[key] = f"${{{var}}}"
        doc.pop(fields.SYNC_KEY, None)
        return doc, tuple(drift)

    def _targets(self, members: Sequence[int]) -> list[str]:
        tenants = self.config.tenants
        if len(members) == len(tenants):
            return ["*"]
        having = {tenants[i].name for i in members}
        for tag in dict.fromkeys(tag for t in tenants for tag in t.tags):
            if {t.name for t in tenants if tag in t.tags} == having:
                return [f"tag:{tag}"]
        return [tenants[i].name for i in members]

    def _with_vars(self, variables: Mapping[str, Mapping[str, Any]]) -> Config:
        """The config as it will be once the variables are written: validation resolves with them."""
        if not variables:
            return self.config
        tenants = tuple(
            replace(t, vars={**t.vars, **variables.get(t.name, {})}) if t.name in variables else t
            for t in self.config.tenants
        )
        return replace(self.config, tenants=tenants)


def _majority(votes: Mapping[str, list[int]]) -> str:
    """The value most tenants have; a tie goes to the one whose first tenant comes first in the config."""
    return min(votes, key=lambda v: (-len(votes[v]), min(votes[v])))


def variable_name(name: str, key: str) -> str:
    """``${VAR}`` for a field that differs per tenant: the integration's slug and the field, as an
    identifier (``xero_invoice_export_batch_size``)."""
    stem = re.sub(r"\W+", "_", importer.slug(name), flags=re.ASCII).strip("_") or "integration"
    if stem[0].isdigit():
        stem = f"i_{stem}"
    return f"{stem}_{key}"


# --- writing ----------------------------------------------------------------------------------------


def var_conflicts(config: Config, variables: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Variables a tenant already has with another value: overwritten only with ``--force``."""
    out = []
    for tenant in config.tenants:
        for var, value in variables.get(tenant.name, {}).items():
            if var in tenant.vars and tenant.vars[var] != value:
                out.append(f"{tenant.name}.vars.{var}")
    return out


def write_config_vars(config: Config, variables: Mapping[str, Mapping[str, Any]]) -> None:
    """Add each tenant's variables to its ``vars`` in the config file, keeping every comment."""
    if not variables:
        return
    if not config.path.is_file():
        raise SyncError(
            f"{display_path(config.path)}: --vars writes the tenants' variables into the config, "
            "and there is no config file"
        )
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 1_000_000
    text = config.path.read_text(encoding="utf-8")
    data = yaml.load(text)
    by_name: dict[str, CommentedMap] = {}
    for entry in data.get("tenants") or []:
        by_name[str(entry.get("name"))] = entry
    for tenant in config.tenants:
        wanted = variables.get(tenant.name)
        if not wanted:
            continue
        entry = by_name.get(tenant.name)
        if entry is None:  # the default tenant of a config without a tenants list
            raise SyncError(f"{display_path(config.path)}: tenant {tenant.name} is not listed under tenants")
        if not isinstance(entry.get("vars"), dict):
            entry["vars"] = CommentedMap()
        for var, value in wanted.items():
            entry["vars"][var] = value
    buf = io.StringIO()
    yaml.dump(data, buf)
    try:
        write_text_atomic(config.path, buf.getvalue())
    except OSError as exc:
        raise SyncError(f"{display_path(config.path)}: cannot write it: {exc.strerror or exc}") from exc
