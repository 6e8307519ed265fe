"""The checks of one definition document, each a ``Finding`` placed in its file: unknown keys (with
the nearest known one), YAML 1.1 quoting traps, the JSON Schema (with the cross-field rules of its
``allOf`` under their ``x-rule`` names), blank required values, soft rules and the ``filter`` syntax.
``validate`` runs them on each tenant's resolved document."""

from __future__ import annotations

import difflib
import logging
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

from integration_sync import fields
from integration_sync.diagnostics import Diagnostic, JsonPath, Severity, json_path_text
from integration_sync.linq import FilterIssue, check_filter
from integration_sync.linq.yamlpos import offset_to_linecol
from integration_sync.loader import Definition, YamlDoc
from integration_sync.schemacheck import Unsupported, compile_schema

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

log = logging.getLogger(__name__)


_TAG = "tag:yaml.org,2002:"
_SYNC_LIST_OF_STRINGS = ("tenants", "previous_names", "ignore_changes", "accept")
_TRAP_KINDS = {_TAG + "bool": "the boolean", _TAG + "int": "the number", _TAG + "float": "the number"}


# ---------------------------------------------------------------------------------------------------
# One definition


def diagnostic(
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
        return diagnostic(d, self.path, message or self.message, self.rule, self.severity, pos=self.pos)


def path_text(path: JsonPath) -> str:
    return json_path_text(path)[2:]


def acceptable_rules() -> frozenset[str]:
    """The rules a definition may accept (``sync.accept``): rules between fields, soft rules and filter
    rules, as the schema lists them."""
    return frozenset(_accept_enum())


@cache
def _accept_enum() -> tuple[str, ...]:
    sync = fields.load_schema()["properties"][fields.SYNC_KEY]["properties"]
    return tuple(sync["accept"]["items"]["enum"])


def severity_of(value: str) -> Severity:
    return "warning" if value == "warning" else "error"


def value_at(data: Any, path: JsonPath) -> Any:
    """The value at ``path``, or None where there is none."""
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def doc_findings(d: Definition, doc: dict[str, Any], published: bool, skip: set[JsonPath]) -> list[Finding]:
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
def schema_validator(published: bool) -> Any:
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
    validator = schema_validator(published)
    out: list[Finding] = []
    by_rule: dict[int, list[ValidationError]] = defaultdict(list)
    for err in validator.iter_errors(doc):
        rel = list(err.relative_schema_path)
        if rel and rel[0] == "allOf" and len(rel) > 1 and isinstance(rel[1], int):
            by_rule[rel[1]].append(err)
            continue
        if err.validator == "additionalProperties":
            continue  # reported by unknown_keys, with a suggestion
        path: JsonPath = tuple(err.absolute_path)
        if path in skip:
            continue
        if isinstance(err.instance, float) and not math.isfinite(err.instance):
            # .inf / .nan break every numeric keyword at once (type, maximum, ...): say it once
            skip.add(path)
            text = (
                f"{_show(err.instance)} is not a number a definition can hold (JSON has no infinity or NaN)"
            )
            out.append(Finding(path, f"{path_text(path)}: {text}" if path else text, "schema-type"))
            continue
        out.append(Finding(path, _message(err, path), f"schema-{err.validator}"))
    for index, errs in sorted(by_rule.items()):
        out.append(_rule_finding(_rules()[index], errs))
    return out


def _message(err: ValidationError, path: JsonPath) -> str:
    v, inst = err.validator, err.instance
    if v == "maxLength":
        text = f"{length_text(inst)}, more than the maximum of {err.validator_value}"
    elif v == "minLength" and err.validator_value == 1:
        text = "must not be empty"
    elif v == "minLength":
        text = f"{length_text(inst)}, less than the minimum of {err.validator_value}"
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
    return f"{path_text(path)}: {text}" if path else text


def length_text(text: str) -> str:
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


def unknown_keys(d: Definition) -> list[Diagnostic]:
    out = []
    top = _top_keys()
    for key in d.data:
        if key not in top:
            out.append(diagnostic(d, (key,), _unknown(key, fields.yaml_keys()), "unknown-key", key=True))
    sync = d.data.get(fields.SYNC_KEY)
    if isinstance(sync, dict):
        known = _sync_keys()
        for key in sync:
            if key not in known:
                msg = _unknown(key, known, "sync.")
                out.append(diagnostic(d, (fields.SYNC_KEY, key), msg, "unknown-key", key=True))
    return out


@cache
def _top_keys() -> frozenset[str]:
    return frozenset(fields.yaml_keys())


@cache
def _string_fields() -> tuple[str, ...]:
    return tuple(f.yaml for f in fields.catalogue() if "string" in f.types)


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
        value = value_at(doc.data, path)
        if not isinstance(value, bool | int | float):
            continue  # text (quoted or not), null, or a list/mapping the schema reports
        m = doc.scalar(path)
        kind = _TRAP_KINDS.get(m.tag or "") if m is not None and m.style is None else None
        if m is None or kind is None or m.raw is None:
            continue
        out.append(QuotingTrap(path, m.raw, kind, value))
    return out


def definition_quoting_traps(d: Definition) -> list[tuple[JsonPath, str]]:
    out = []
    for trap in quoting_traps(d.doc):
        key = path_text(trap.path)
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
        out.append(Finding(("filter",), message, issue.rule, severity_of(issue.severity), pos))
    return out
