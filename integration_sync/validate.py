"""Validation: load every definition file, then check each definition for each tenant it goes to.

One ``Report`` holds every error and warning of every file (a file that does not parse is a result,
not an abort). Per definition:

* unknown keys (with the nearest known one), YAML 1.1 traps (``consent_type: no`` is a boolean);
* ``sync.tenants`` selectors against the config (unknown tenant: error; tag no tenant has: warning,
  or an error when deletes are allowed, which would delete the integration it was meant for);
* the JSON Schema, on each selected tenant's *resolved* document (``${var}`` replaced), with the
  cross-field rules of the schema's ``allOf`` reported under their ``x-rule`` names;
* soft rules (warnings; ``strict`` makes them errors): ``batch_size`` above 1 with ``parallel: false``,
  a continuous integration without a filter (it needs an expiry);
* the ``filter`` syntax (``integration_sync.linq``), located in the file;
* across files: names used twice (case-insensitively) and ``previous_names`` that are another
  definition's name, each reported at both places.
"""

from __future__ import annotations

import difflib
import errno
import gc
import logging
import math
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from integration_sync import fields
from integration_sync.config import Config, TenantConfig
from integration_sync.diagnostics import Diagnostic, JsonPath, Severity, json_path_text
from integration_sync.errors import DefinitionError
from integration_sync.fsutil import resolved as resolved_path
from integration_sync.linq import FilterIssue, check_filter
from integration_sync.linq.yamlpos import offset_to_linecol
from integration_sync.loader import Definition, YamlDoc, definition_files, display_path, load_definitions
from integration_sync.resolve import (
    has_placeholders,
    placeholder_problems,
    resolve_doc,
    selected_tenants,
    selection_problems,
    variables_key,
    variables_used,
    whole_placeholder,
)
from integration_sync.schemacheck import Unsupported, compile_schema

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

log = logging.getLogger(__name__)

__all__ = ["Diagnostic", "InvalidDefinitions", "Report", "load_valid", "validate", "validate_definitions"]

_TAG = "tag:yaml.org,2002:"
_SYNC_LIST_OF_STRINGS = ("tenants", "previous_names", "ignore_changes", "accept")
_TRAP_KINDS = {_TAG + "bool": "the boolean", _TAG + "int": "the number", _TAG + "float": "the number"}


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


# ---------------------------------------------------------------------------------------------------
# One definition


def _diag(
    d: Definition,
    path: JsonPath,
    message: str,
    rule: str,
    severity: Severity = "error",
    *,
    key: bool = False,
    pos: tuple[int, int] | None = None,
) -> Diagnostic:
    line, col = pos or d.pos(path, key=key)
    return Diagnostic(d.file, line, col, json_path_text(path), message, rule, severity)


class Finding(NamedTuple):
    """A diagnostic before it is placed: ``pos`` overrides the position of ``path`` (a filter error
    points inside the scalar)."""

    path: JsonPath
    message: str
    rule: str
    severity: Severity = "error"
    pos: tuple[int, int] | None = None

    def at(self, d: Definition, message: str | None = None) -> Diagnostic:
        return _diag(d, self.path, message or self.message, self.rule, self.severity, pos=self.pos)


def _where(path: JsonPath) -> str:
    return json_path_text(path)[2:]


def _check_one(config: Config, d: Definition, deletes: bool = False) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    skip: set[JsonPath] = set()
    out.extend(_unknown_keys(d))
    for path, message in _quoting_traps(d):
        skip.add(path)
        out.append(_diag(d, path, message, "yaml-quote"))
    for p in selection_problems(config, d, deletes=deletes):
        out.append(_diag(d, p.path, f"{_where(p.path)}: {p.message}", p.rule, _severity(p.severity)))
    for bad in placeholder_problems(d.data):
        skip.add(bad.path)  # its type is the placeholder's fault: say that once
        mark = d.scalar(bad.path)
        pos = offset_to_linecol(d.source, mark.index, mark.style, bad.offset) if mark else None
        out.append(_diag(d, bad.path, f"{_where(bad.path)}: {bad.message}", "bad-placeholder", pos=pos))

    tenants = selected_tenants(config, d)
    if has_placeholders(d.data) and tenants:
        out.extend(_check_per_tenant(d, tenants, skip))
    else:
        published = has_placeholders(d.data)  # no tenant to resolve it for: placeholders allowed
        out.extend(f.at(d) for f in _doc_findings(d, d.data, published, skip))
    out.extend(_tenant_lengths(d, tenants))
    return _accepted(d, out)


def acceptable_rules() -> frozenset[str]:
    """The rules a definition may accept (``sync.accept``): rules between fields, soft rules and filter
    rules, as the schema lists them."""
    return frozenset(_accept_enum())


@cache
def _accept_enum() -> tuple[str, ...]:
    sync = fields.load_schema()["properties"][fields.SYNC_KEY]["properties"]
    return tuple(sync["accept"]["items"]["enum"])


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


def _tenant_lengths(d: Definition, tenants: list[TenantConfig]) -> list[Diagnostic]:
    """Text longer than a tenant's narrower ``MaxLength`` (the config's ``max_lengths``, which
    ``integration-sync doctor`` proposes): the tenant would refuse the write."""
    out: dict[tuple[str, int, str], list[str]] = {}
    for tenant in tenants:
        if not tenant.max_lengths:
            continue
        doc, _ = resolve_doc(d.data, tenant)
        for key, limit in tenant.max_lengths.items():
            value = doc.get(key)
            if isinstance(value, str) and fields.text_length(value) > limit:
                out.setdefault((key, limit, value), []).append(tenant.name)
    return [
        _diag(
            d,
            (key,),
            f"tenant {', '.join(names)}: {key}: {_length(value)}, more than the {limit} the tenant takes "
            "(max_lengths in the config)",
            "tenant-max-length",
        )
        for (key, limit, value), names in out.items()
    ]


def _severity(value: str) -> Severity:
    return "warning" if value == "warning" else "error"


def _check_per_tenant(d: Definition, tenants: list[TenantConfig], skip: set[JsonPath]) -> list[Diagnostic]:
    """Validate each tenant's resolved document; a finding common to all tenants is said once. Tenants
    with the same values for the definition's variables share one resolved document: it is checked once."""
    seen: dict[Finding, list[str]] = {}
    used = variables_used(d.data)
    groups: dict[Hashable, list[TenantConfig]] = {}
    for tenant in tenants:
        groups.setdefault(variables_key(used, tenant), []).append(tenant)
    for group in groups.values():
        doc, problems = resolve_doc(d.data, group[0])
        if problems:  # an undefined variable names its tenant: say it for each
            for tenant in group:
                for p in resolve_doc(d.data, tenant)[1]:
                    seen.setdefault(Finding(p.path, p.message, p.rule), []).append(tenant.name)
        missing = {p.path for p in problems}
        for finding in _doc_findings(d, doc, False, skip | missing):
            seen.setdefault(finding, []).extend(t.name for t in group)
    order = {t.name: i for i, t in enumerate(tenants)}
    out = []
    for finding, names in seen.items():
        names.sort(key=order.__getitem__)  # in the config's order, as the tenants were checked
        message = finding.message
        variable = whole_placeholder(_get(d.data, finding.path))
        if variable and finding.rule != "undefined-variable":  # the fix is in the config, not here
            message += f" (the value of ${{{variable}}}, from the tenant's vars in the config)"
        if len(names) < len(tenants) and finding.rule != "undefined-variable":
            message = f"tenant {', '.join(names)}: {message}"
        out.append(finding.at(d, message))
    return out


def _get(data: Any, path: JsonPath) -> Any:
    """The value at ``path``, or None where there is none."""
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _doc_findings(d: Definition, doc: dict[str, Any], published: bool, skip: set[JsonPath]) -> list[Finding]:
    out = _schema_findings(doc, published, skip)
    out.extend(_blank_required(doc))
    out.extend(_soft_rules(doc))
    out.extend(_filter_findings(d, doc))
    return out


# --- the schema -------------------------------------------------------------------------------------


def _integer(checker: Any, instance: Any) -> bool:
    """JSON Schema calls 2.0 an integer; a tenant's Int32 property would not take it."""
    return isinstance(instance, int) and not isinstance(instance, bool)


def _validator_class() -> Any:
    import jsonschema  # only when a document is invalid: the fast check answers the rest

    base = jsonschema.Draft202012Validator
    return jsonschema.validators.extend(
        base,
        validators=fields.length_keywords(),
        type_checker=base.TYPE_CHECKER.redefine("integer", _integer),
    )


@cache
def _validator(published: bool) -> Any:
    """The validator of a resolved document (no placeholders left), or of the published schema
    (placeholders allowed) for a definition that no tenant selects."""
    return _validator_class()(fields.load_schema() if published else fields.resolved_schema())


@cache
def _fast_check(published: bool) -> Callable[[Any], bool] | None:
    """The schema compiled to a yes/no check (``schemacheck``); None when it uses a keyword the
    compiler does not know, and then jsonschema does all the work."""
    try:
        return compile_schema(fields.load_schema() if published else fields.resolved_schema())
    except Unsupported as exc:
        log.debug("schema not compiled (%s): using jsonschema only", exc)
        return None


@cache
def _rules() -> list[dict[str, Any]]:
    return list(fields.load_schema().get("allOf", []))


def _schema_findings(doc: dict[str, Any], published: bool, skip: set[JsonPath]) -> list[Finding]:
    fast = _fast_check(published)
    if fast is not None and fast(doc):
        return []
    validator = _validator(published)
    out: list[Finding] = []
    by_rule: dict[int, list[ValidationError]] = defaultdict(list)
    for err in validator.iter_errors(doc):
        rel = list(err.relative_schema_path)
        if rel and rel[0] == "allOf" and len(rel) > 1 and isinstance(rel[1], int):
            by_rule[rel[1]].append(err)
            continue
        if err.validator == "additionalProperties":
            continue  # reported by _unknown_keys, with a suggestion
        path: JsonPath = tuple(err.absolute_path)
        if path in skip:
            continue
        if isinstance(err.instance, float) and not math.isfinite(err.instance):
            # .inf / .nan break every numeric keyword at once (type, maximum, ...): say it once
            skip.add(path)
            text = (
                f"{_show(err.instance)} is not a number a definition can hold (JSON has no infinity or NaN)"
            )
            out.append(Finding(path, f"{_where(path)}: {text}" if path else text, "schema-type"))
            continue
        out.append(Finding(path, _message(err, path), f"schema-{err.validator}"))
    for index, errs in sorted(by_rule.items()):
        out.append(_rule_finding(_rules()[index], errs))
    return out


def _message(err: ValidationError, path: JsonPath) -> str:
    v, inst = err.validator, err.instance
    if v == "maxLength":
        text = f"{_length(inst)}, more than the maximum of {err.validator_value}"
    elif v == "minLength" and err.validator_value == 1:
        text = "must not be empty"
    elif v == "minLength":
        text = f"{_length(inst)}, less than the minimum of {err.validator_value}"
    elif v == "enum":
        text = err.message
        if isinstance(inst, str):
            options = [o for o in err.validator_value if isinstance(o, str)]
            folded = [o for o in options if o.casefold() == inst.casefold()]
            close = folded or difflib.get_close_matches(inst, options, n=1, cutoff=0.6)
            if close and path[:2] != (fields.SYNC_KEY, "accept"):
                text += f" (did you mean {close[0]!r}?)"
            elif path[:2] == (fields.SYNC_KEY, "accept"):
                text = (
                    f"{_show(inst)} is not a rule that can be accepted (did you mean {close[0]!r}?)"
                    if close
                    else f"{_show(inst)} cannot be accepted: only rules between fields, soft rules and "
                    f"filter rules can ({', '.join(options)}); types, required keys, bounds and "
                    "duplicate names cannot"
                )
            elif path[:2] == (fields.SYNC_KEY, "ignore_changes") and inst == "name":
                text = (
                    "'name' cannot be ignored: it is how a definition finds its live integration "
                    "(to rename one, list its old name in sync.previous_names)"
                )
    elif v == "type":
        types = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
        text = f"{_show(inst)} is not of type {', '.join(repr(t) for t in types)}"
        text += _type_hint(inst, err.validator_value)
    elif v == "maximum" and err.validator_value == 2147483647:
        text = err.message + " (an Int32)"
    else:
        text = err.message
    return f"{_where(path)}: {text}" if path else text


def _length(text: str) -> str:
    """A length as the tenant counts it, saying so when it is not the number of characters."""
    units = fields.text_length(text)
    if units == len(text):
        return f"is {units} characters long"
    return (
        f"is {units} UTF-16 code units long ({len(text)} characters; the tenant counts each character "
        "beyond U+FFFF, such as an emoji, as 2)"
    )


def _blank_required(doc: dict[str, Any]) -> list[Finding]:
    """A required string of only whitespace: the tenant refuses it as missing."""
    return [
        Finding((key,), f"{key}: must not be blank (it holds only whitespace)", "schema-blank")
        for key in fields.required_yaml()
        if fields.blank(doc.get(key)) and doc.get(key) != ""
    ]


def _type_hint(inst: Any, expected: Any) -> str:
    wanted = expected if isinstance(expected, list) else [expected]
    if inst is None:
        return "; write a value (YAML reads a key with nothing after it as null)"
    if isinstance(inst, str):
        if "boolean" in wanted and inst.strip().lower() in ("true", "false"):
            return f"; write {inst.strip().lower()} without quotes"
        if "integer" in wanted:
            try:
                int(inst)
            except ValueError:
                if inst.startswith("${"):
                    return "; a variable must be the whole value, e.g. ${system_id}"
            else:
                return "; write the number without quotes"
        if "array" in wanted:
            item = f'"{inst}"' if inst == "*" or ":" in inst or inst[:1] in "\"'[{&*!|>%@`#," else inst
            return f"; write a list, even of one: [{item}]"
    return ""


def _rule_finding(rule: dict[str, Any], errs: list[ValidationError]) -> Finding:
    trigger = rule.get("if", {}).get("required", [])
    at: JsonPath = (trigger[0],) if trigger else ()
    details = []
    for err in errs:
        if err.validator == "required":
            missing = err.message.split("'")[1] if "'" in err.message else err.message
            details.append(f"{missing} is not set")
        elif err.absolute_path:
            key = err.absolute_path[-1]
            details.append(f"{key} is {_show(err.instance)}")
    text = rule.get("description", "a rule between fields is broken").rstrip(".")
    if details:
        text += f": here {', '.join(details)}"
    return Finding(at, text, str(rule.get("x-rule", "schema-rule")))


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    return repr(value) if isinstance(value, str) else str(value)


# --- keys and YAML traps ------------------------------------------------------------------------------


def _unknown_keys(d: Definition) -> list[Diagnostic]:
    out = []
    top = _top_keys()
    for key in d.data:
        if key not in top:
            out.append(_diag(d, (key,), _unknown(key, fields.yaml_keys()), "unknown-key", key=True))
    sync = d.data.get(fields.SYNC_KEY)
    if isinstance(sync, dict):
        known = _sync_keys()
        for key in sync:
            if key not in known:
                msg = _unknown(key, known, "sync.")
                out.append(_diag(d, (fields.SYNC_KEY, key), msg, "unknown-key", key=True))
    return out


@cache
def _top_keys() -> frozenset[str]:
    return frozenset(fields.yaml_keys())


@cache
def _string_fields() -> tuple[str, ...]:
    return tuple(f.yaml for f in fields.fields() if "string" in f.types)


@cache
def _sync_keys() -> list[str]:
    return list(fields.load_schema()["properties"][fields.SYNC_KEY]["properties"])


def _unknown(key: str, known: list[str], prefix: str = "") -> str:
    folded = {k.casefold().replace("-", "_"): k for k in known}
    close = [folded[key.casefold().replace("-", "_")]] if key.casefold().replace("-", "_") in folded else []
    close = close or difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}?" if close else f"known keys: {', '.join(known)}"
    return f"unknown key {prefix}{key} ({hint})"


def _string_paths(data: dict[str, Any]) -> Iterable[JsonPath]:
    """Where the schema expects a string: the string fields and the sync lists' items."""
    for key in _string_fields():
        if key in data:
            yield (key,)
    sync = data.get(fields.SYNC_KEY)
    if isinstance(sync, dict):
        for key in _SYNC_LIST_OF_STRINGS:
            items = sync.get(key)
            if isinstance(items, list):
                for i in range(len(items)):
                    yield (fields.SYNC_KEY, key, i)


class QuotingTrap(NamedTuple):
    """An unquoted scalar where the schema expects text, read by YAML as something else."""

    path: JsonPath
    raw: str  # the text as written: what the value should be, quoted
    kind: str  # "the boolean" or "the number"
    value: Any  # what YAML reads


def quoting_traps(doc: YamlDoc) -> list[QuotingTrap]:
    """An unquoted ``no``/``yes``/``on``/``off`` (or number, ``0755``, ``12:30``) where a string is
    expected: YAML 1.1 reads it as a boolean (or number). The one rule for validate's ``yaml-quote``
    (which says to quote it) and ``fmt`` (which quotes it)."""
    out: list[QuotingTrap] = []
    if not isinstance(doc.data, dict):
        return out
    for path in _string_paths(doc.data):
        value = _get(doc.data, path)
        if not isinstance(value, bool | int | float):
            continue  # text (quoted or not), null, or a list/mapping the schema reports
        m = doc.scalar(path)
        kind = _TRAP_KINDS.get(m.tag or "") if m is not None and m.style is None else None
        if m is None or kind is None or m.raw is None:
            continue
        out.append(QuotingTrap(path, m.raw, kind, value))
    return out


def _quoting_traps(d: Definition) -> list[tuple[JsonPath, str]]:
    out = []
    for trap in quoting_traps(d.doc):
        key = _where(trap.path)
        value = _show(trap.value)
        msg = f'{key}: unquoted {trap.raw} is read by YAML as {trap.kind} {value}, not text; quote it: "{trap.raw}"'
        out.append((trap.path, msg))
    return out


# --- soft rules and the filter ------------------------------------------------------------------------


def _soft_rules(doc: dict[str, Any]) -> list[Finding]:
    out: list[Finding] = []
    batch = doc.get("batch_size")
    if doc.get("parallel") is False and isinstance(batch, int) and not isinstance(batch, bool) and batch > 1:
        msg = f"batch_size: {batch} has no effect with parallel: false (items are processed one at a time)"
        out.append(Finding(("batch_size",), msg, "batch-size-without-parallel", "warning"))
    # a filter that is there is judged by check_filter (does it compare a date?); here: no filter at all
    if doc.get("continuous") is True and not isinstance(doc.get("filter"), str):
        msg = "continuous: a continuous integration should have a filter with an expiry (e.g. a date comparison)"
        out.append(Finding(("continuous",), msg, "continuous-expiry", "warning"))
    return out


@lru_cache(maxsize=4096)
def _check_filter(text: str, continuous: bool) -> tuple[FilterIssue, ...]:
    """``check_filter`` is pure: a filter met again (the same definition for another tenant, a
    filter shared by several definitions) is not parsed again."""
    return tuple(check_filter(text, continuous=continuous))


def _filter_findings(d: Definition, doc: dict[str, Any]) -> list[Finding]:
    text = doc.get("filter")
    if not isinstance(text, str):
        return []
    mark = d.scalar(("filter",))
    exact = mark is not None and mark.raw is not None and d.data.get("filter") == text
    out: list[Finding] = []
    for issue in _check_filter(text, doc.get("continuous") is True):
        message = f"filter: {issue.message}" + (f" ({issue.hint})" if issue.hint else "")
        pos = None
        if exact and mark is not None:
            pos = offset_to_linecol(d.source, mark.index, mark.style, issue.offset)
        out.append(Finding(("filter",), message, issue.rule, _severity(issue.severity), pos))
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
        out.append(_diag(d, ("name",), msg, "duplicate-name"))
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
                out.append(_diag(d, ("name",), msg, "duplicate-name"))
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
                    _diag(
                        d, at, f"{_where(at)}: {old!r} is this definition's own name", "previous-name-clash"
                    )
                )
                continue
            claimed[old.casefold()].append((d, i))
            for o in by_name.get(old.casefold(), []):
                if o is d or not overlap(d, o):
                    continue
                msg = f"{_where(at)}: {old!r} is the name of the definition at {o.location}; a rename would take it over"
                out.append(_diag(d, at, msg, "previous-name-clash"))
                msg = f"name: {o.name!r} is listed in sync.previous_names of the definition at {d.location}"
                out.append(_diag(o, ("name",), msg, "previous-name-clash"))
    for group2 in claimed.values():
        for d, i in group2:
            others = [o.location for o, _ in group2 if o is not d and overlap(d, o)]
            if others:
                at = (fields.SYNC_KEY, "previous_names", i)
                msg = f"{_where(at)}: {d.data['sync']['previous_names'][i]!r} is also a previous name of the definition at {', '.join(others)}"
                out.append(_diag(d, at, msg, "previous-name-clash"))
    return out
