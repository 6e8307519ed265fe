"""Validation: load every definition file, then check each definition for each tenant it goes to.

One ``Report`` holds every error and warning of every file (a file that does not parse is a result,
not an abort). Per definition: the ``sync.tenants`` selectors against the config, the placeholders, and
the checks of one document (``definition_checks``) on each selected tenant's resolved document
(``resolve.resolve_for``); across files: names used twice (case-insensitively) and ``previous_names``
that are another definition's name, each reported at both places.
"""

from __future__ import annotations

import errno
import gc
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from integration_sync import fields
from integration_sync.config import Config, TenantConfig
from integration_sync.definition_checks import (
    Finding,
    acceptable_rules,
    definition_quoting_traps,
    diagnostic,
    doc_findings,
    length_text,
    path_text,
    severity_of,
    unknown_keys,
    value_at,
)
from integration_sync.diagnostics import Diagnostic, JsonPath
from integration_sync.errors import DefinitionError
from integration_sync.fsutil import resolved as resolved_path
from integration_sync.linq.yamlpos import offset_to_linecol
from integration_sync.loader import Definition, definition_files, display_path, load_definitions
from integration_sync.resolve import (
    UNDEFINED_VARIABLE,
    Resolved,
    has_placeholders,
    placeholder_problems,
    resolve_doc,
    resolve_for,
    selected_tenants,
    selection_problems,
    whole_placeholder,
)

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

__all__ = [
    "Diagnostic",
    "InvalidDefinitions",
    "Report",
    "acceptable_rules",
    "load_valid",
    "validate",
    "validate_definitions",
]


@dataclass
class Report:
    """Everything validation found, sorted by file, line and column."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: int = 0
    definitions: list[Definition] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors


class InvalidDefinitions(DefinitionError):
    """Raised by ``load_valid``: the definitions have errors. ``report`` holds all of them; the
    message is the first one (located) and how many more there are."""

    def __init__(self, report: Report):
        first = report.errors[0]
        more = len(report.errors) - 1
        tail = (
            f" (and {more} more error{'s' if more != 1 else ''}; run integration-sync validate)"
            if more
            else ""
        )
        super().__init__(f"{first.message} [{first.rule}]{tail}", first.file, first.line, first.col)
        self.report = report


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while thousands of files are parsed: every definition keeps
    its YAML nodes (for positions), and the collector would re-scan that growing heap again and again
    (two thirds of the time on 3,000 files). Whatever cycles are left are collected afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def validate(
    config: Config, paths: Sequence[Path] | None = None, strict: bool = False, *, deletes: bool | None = None
) -> Report:
    """Load and check every definition under ``paths`` (default: the config's definitions folder).
    ``deletes``: whether this run may delete (see ``deletes_allowed``; default: the config says)."""
    with _gc_paused():
        return _validate(config, paths, strict, deletes)


def deletes_allowed(config: Config, tenants: Iterable[TenantConfig] | None = None) -> bool:
    """Whether the config allows deletes for any of ``tenants`` (default: any tenant at all)."""
    return any(t.safety.allow_delete for t in (config.tenants if tenants is None else tenants))


def _validate(config: Config, paths: Sequence[Path] | None, strict: bool, deletes: bool | None) -> Report:
    roots = list(paths) if paths else [config.definitions]
    report = Report()
    files: list[Path] = []
    for root in roots:
        try:
            root.stat()
        except OSError as exc:  # missing, or a symlink loop
            missing = exc.errno == errno.ENOENT
            text = "no such file or folder" if missing else f"cannot read: {exc.strerror or exc}"
            rule = "file-not-found" if missing else "file-unreadable"
            report.diagnostics.append(Diagnostic(display_path(root), 1, 1, "", text, rule))
        else:
            files.extend(definition_files([root]))
    unique = {resolved_path(p): p for p in reversed(files)}  # a file named twice is read once
    files = [p for p in files if unique.get(resolved_path(p)) is p]
    report.files = len(files)
    definitions: list[Definition] = []
    for path in files:
        defs, diags = load_definitions(path)
        definitions.extend(defs)
        report.diagnostics.extend(diags)
    report.definitions = definitions
    context = _context_definitions(config, files) if paths else []
    report.diagnostics.extend(validate_definitions(config, definitions, context=context, deletes=deletes))
    if strict:  # an accepted rule break stays the warning its definition asked for
        report.diagnostics = [d if d.accepted else replace(d, severity="error") for d in report.diagnostics]
    report.diagnostics.sort(key=lambda d: (d.file, d.line, d.col, d.rule, d.message))
    log.info("validated %d definitions in %d files", len(definitions), len(files))
    return report


def load_valid(
    config: Config, paths: Sequence[Path] | None = None, strict: bool = False, *, deletes: bool | None = None
) -> list[Definition]:
    """The definitions, when they are valid; else ``InvalidDefinitions`` carrying the whole report.
    Warnings do not stop it (unless ``strict``); they are logged."""
    report = validate(config, paths, strict, deletes=deletes)
    if not report.ok:
        raise InvalidDefinitions(report)
    for w in report.warnings:
        log.warning("%s:%d:%d: %s [%s]", w.file, w.line, w.col, w.message, w.rule)
    return report.definitions


def validate_definitions(
    config: Config,
    definitions: Sequence[Definition],
    *,
    context: Sequence[Definition] = (),
    deletes: bool | None = None,
) -> list[Diagnostic]:
    """The checks of one definition at a time, then those across definitions. ``context`` holds the
    project's other definitions: they count for the checks across definitions (a name taken by a file
    not being validated is still taken), but only ``definitions`` are reported on."""
    out: list[Diagnostic] = []
    deletes = deletes_allowed(config) if deletes is None else deletes
    for d in definitions:
        out.extend(_check_one(config, d, deletes))
    mine = {d.file for d in definitions}
    out.extend(diag for diag in _check_names(config, [*definitions, *context]) if diag.file in mine)
    return out


def _context_definitions(config: Config, files: Sequence[Path]) -> list[Definition]:
    """The definitions of the project's folder that ``files`` leave out, when ``files`` lie inside it
    (a pre-commit hook passes only the changed files). Files that fail to load add nothing."""
    folder = config.definitions.resolve()
    if not folder.is_dir() or not all(p.resolve().is_relative_to(folder) for p in files):
        return []
    given = {p.resolve() for p in files}
    context: list[Definition] = []
    for path in definition_files([folder]):
        if path.resolve() not in given:
            context.extend(load_definitions(path)[0])
    return context


def _check_one(config: Config, d: Definition, deletes: bool = False) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    skip: set[JsonPath] = set()
    out.extend(unknown_keys(d))
    for path, message in definition_quoting_traps(d):
        skip.add(path)
        out.append(diagnostic(d, path, message, "yaml-quote"))
    for p in selection_problems(config, d, deletes=deletes):
        out.append(
            diagnostic(d, p.path, f"{path_text(p.path)}: {p.message}", p.rule, severity_of(p.severity))
        )
    for bad in placeholder_problems(d.data):
        skip.add(bad.path)  # its type is the placeholder's fault: say that once
        mark = d.scalar(bad.path)
        pos = offset_to_linecol(d.source, mark.index, mark.style, bad.offset) if mark else None
        out.append(
            diagnostic(d, bad.path, f"{path_text(bad.path)}: {bad.message}", "bad-placeholder", pos=pos)
        )

    tenants = selected_tenants(config, d)
    placeholders = has_placeholders(d.data)
    resolved = resolve_for(d.data, tenants) if placeholders or any(t.max_lengths for t in tenants) else []
    if placeholders and tenants:
        out.extend(_check_per_tenant(d, tenants, resolved, skip))
    else:
        # no tenant to resolve it for: placeholders allowed
        out.extend(f.at(d) for f in doc_findings(d, d.data, placeholders, skip))
    out.extend(_tenant_lengths(d, tenants, resolved))
    return _accepted(d, out)


def _accepted(d: Definition, found: list[Diagnostic]) -> list[Diagnostic]:
    """The definition's findings with the rules it accepts turned into warnings of its own."""
    sync = d.data.get(fields.SYNC_KEY)
    accept = sync.get("accept") if isinstance(sync, dict) else None
    if not isinstance(accept, list) or not accept:
        return found
    rules = {r for r in accept if isinstance(r, str)} & acceptable_rules()
    return [
        replace(f, severity="warning", accepted=True, message=f"{f.message} (accepted: sync.accept)")
        if f.rule in rules
        else f
        for f in found
    ]


def _tenant_lengths(d: Definition, tenants: list[TenantConfig], resolved: list[Resolved]) -> list[Diagnostic]:
    """Text longer than a tenant's narrower ``MaxLength`` (the config's ``max_lengths``, which
    ``integration-sync doctor`` proposes): the tenant would refuse the write."""
    doc_of = {id(t): r.doc for r in resolved for t in r.tenants}
    out: dict[tuple[str, int, str], list[str]] = {}
    for tenant in tenants:
        if not tenant.max_lengths:
            continue
        doc = doc_of[id(tenant)]
        for key, limit in tenant.max_lengths.items():
            value = doc.get(key)
            if isinstance(value, str) and fields.text_length(value) > limit:
                out.setdefault((key, limit, value), []).append(tenant.name)
    return [
        diagnostic(
            d,
            (key,),
            f"tenant {', '.join(names)}: {key}: {length_text(value)}, more than the {limit} the tenant takes "
            "(max_lengths in the config)",
            "tenant-max-length",
        )
        for (key, limit, value), names in out.items()
    ]


def _check_per_tenant(
    d: Definition, tenants: list[TenantConfig], resolved: list[Resolved], skip: set[JsonPath]
) -> list[Diagnostic]:
    """Validate each tenant's resolved document; a finding common to all tenants is said once. Tenants
    with the same values for the definition's variables share one resolved document: it is checked once."""
    seen: dict[Finding, list[str]] = {}
    for group in resolved:
        for tenant, p in group.problems:  # an undefined variable names its tenant: say it for each
            seen.setdefault(Finding(p.path, p.message, p.rule), []).append(tenant.name)
        missing = {p.path for _t, p in group.problems}
        for finding in doc_findings(d, group.doc, False, skip | missing):
            seen.setdefault(finding, []).extend(t.name for t in group.tenants)
    order = {t.name: i for i, t in enumerate(tenants)}
    out = []
    for finding, names in seen.items():
        names.sort(key=order.__getitem__)  # in the config's order, as the tenants were checked
        message = finding.message
        variable = whole_placeholder(value_at(d.data, finding.path))
        undefined = finding.rule == UNDEFINED_VARIABLE  # its message names its tenant already
        if variable and not undefined:  # the fix is in the config, not here
            message += f" (the value of ${{{variable}}}, from the tenant's vars in the config)"
        if len(names) < len(tenants) and not undefined:
            message = f"tenant {', '.join(names)}: {message}"
        out.append(finding.at(d, message))
    return out


# ---------------------------------------------------------------------------------------------------
# Across definitions


def _resolved_name_clashes(
    config: Config, definitions: Sequence[Definition], tenants_of: dict[int, set[str]]
) -> list[Diagnostic]:
    """Names that differ as written but not once a tenant's variables are in (``Export ${region}``
    and ``Export UK`` for the tenant whose region is UK): the tenant would get two integrations of
    one name. Names equal as written are the caller's."""
    if not any(d.name is not None and "${" in d.name for d in definitions):
        return []
    by_tenant = {t.name: t for t in config.tenants}
    groups: dict[tuple[str, str], list[tuple[Definition, str]]] = defaultdict(list)
    for d in definitions:
        if d.name is None:
            continue
        for tenant in sorted(tenants_of[id(d)]):
            doc, problems = resolve_doc({"name": d.name}, by_tenant[tenant])
            if not problems and isinstance(doc["name"], str):
                groups[(tenant, doc["name"].casefold())].append((d, doc["name"]))
    clashes: dict[tuple[int, int], tuple[Definition, str, Definition, list[str]]] = {}
    for (tenant, _), group in groups.items():
        for d, resolved in group:
            for o, _other in group:
                # names equal as written are reported by the caller, for every tenant at once
                if o is not d and str(o.name).casefold() != str(d.name).casefold():
                    clashes.setdefault((id(d), id(o)), (d, resolved, o, []))[3].append(tenant)
    out = []
    for d, resolved, o, tenants in clashes.values():
        assert d.name is not None
        where = f"tenant {', '.join(tenants)}"
        if resolved != d.name:
            msg = f"name: {d.name!r} is {resolved!r} for {where}, also the name of the definition at {o.location}"
        else:
            msg = f"name: {d.name!r} is also the name of the definition at {o.location} for {where}, once its variables are replaced"
        msg += " (names compare case-insensitively)"
        out.append(diagnostic(d, ("name",), msg, "duplicate-name"))
    return out


def _check_names(config: Config, definitions: Sequence[Definition]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    tenants_of = {id(d): {t.name for t in selected_tenants(config, d)} for d in definitions}

    def overlap(a: Definition, b: Definition) -> bool:
        ta, tb = tenants_of[id(a)], tenants_of[id(b)]
        return bool(ta & tb) or (not ta and not tb)

    by_name: dict[str, list[Definition]] = defaultdict(list)
    for d in definitions:
        if d.name is not None:
            by_name[d.name.casefold()].append(d)
    for group in by_name.values():
        for d in group:
            others = [o.location for o in group if o is not d and overlap(d, o)]
            if others:
                msg = f"name: {d.name!r} is also the name of the definition at {', '.join(others)} (names compare case-insensitively)"
                out.append(diagnostic(d, ("name",), msg, "duplicate-name"))
    out.extend(_resolved_name_clashes(config, definitions, tenants_of))

    claimed: dict[str, list[tuple[Definition, int]]] = defaultdict(list)
    for d in definitions:
        prev = d.data.get(fields.SYNC_KEY, {})
        prev = prev.get("previous_names") if isinstance(prev, dict) else None
        if not isinstance(prev, list):
            continue
        for i, old in enumerate(prev):
            if not isinstance(old, str):
                continue
            at: JsonPath = (fields.SYNC_KEY, "previous_names", i)
            if d.name is not None and old.casefold() == d.name.casefold():
                out.append(
                    diagnostic(
                        d,
                        at,
                        f"{path_text(at)}: {old!r} is this definition's own name",
                        "previous-name-clash",
                    )
                )
                continue
            claimed[old.casefold()].append((d, i))
            for o in by_name.get(old.casefold(), []):
                if o is d or not overlap(d, o):
                    continue
                msg = f"{path_text(at)}: {old!r} is the name of the definition at {o.location}; a rename would take it over"
                out.append(diagnostic(d, at, msg, "previous-name-clash"))
                msg = f"name: {o.name!r} is listed in sync.previous_names of the definition at {d.location}"
                out.append(diagnostic(o, ("name",), msg, "previous-name-clash"))
    for group2 in claimed.values():
        for d, i in group2:
            others = [o.location for o, _ in group2 if o is not d and overlap(d, o)]
            if others:
                at = (fields.SYNC_KEY, "previous_names", i)
                msg = f"{path_text(at)}: {d.data['sync']['previous_names'][i]!r} is also a previous name of the definition at {', '.join(others)}"
                out.append(diagnostic(d, at, msg, "previous-name-clash"))
    return out
