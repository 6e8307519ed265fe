"""Per-tenant resolution: which tenants a definition goes to (``sync.tenants``), and its values (and ``sync.previous_names``) with
``${var}`` replaced from each tenant's ``vars``.

A value that is only a placeholder (``system_id: ${xero_system_id}``) takes the variable's value and
type (an integer stays an integer); a placeholder inside a longer string is replaced by the variable's
text. ``$${`` writes a literal ``${``; any other ``${`` is an error (``placeholder_problems``). Selectors: ``*`` (every tenant), a tenant name (compared
case-insensitively, as tenant names are unique that way), or ``tag:NAME``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from integration_sync.config import Config, TenantConfig
from integration_sync.diagnostics import JsonPath, json_path_text
from integration_sync.errors import DefinitionError
from integration_sync.fields import SYNC_KEY
from integration_sync.loader import Definition

log = logging.getLogger(__name__)

# Left to right: ``$${`` (a literal ``${``), ``${name}`` (a variable), or a ``${`` that is neither (an
# error: ``${ x }``, ``${}``, ``${x-y}``, an unclosed ``${x``).
_PLACEHOLDER = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{")
_WHOLE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
ALL = "*"
TAG_PREFIX = "tag:"
#: The rule of a variable a tenant does not define: said here, where values are resolved, and only here.
UNDEFINED_VARIABLE = "undefined-variable"


@dataclass(frozen=True)
class Desired:
    """What one definition asks of one tenant: resolved managed values under their YAML keys
    (``sync`` removed; keys the definition leaves out are absent, i.e. unmanaged)."""

    name: str
    doc: dict[str, Any]
    previous_names: tuple[str, ...]
    ignore_changes: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class Problem:
    """Something wrong with a definition's sync block or variables, at ``path`` in it."""

    path: JsonPath
    message: str
    rule: str
    severity: str = "error"


def sync_block(definition: Definition) -> dict[str, Any]:
    block = definition.data.get(SYNC_KEY)
    return block if isinstance(block, dict) else {}


def selectors(definition: Definition) -> list[str]:
    """The definition's ``sync.tenants`` (default ``["*"]``); entries that are not strings are skipped
    (the schema reports them)."""
    raw = sync_block(definition).get("tenants", [ALL])
    return [s for s in raw if isinstance(s, str)] if isinstance(raw, list) else [ALL]


def selection_problems(config: Config, definition: Definition, *, deletes: bool = False) -> list[Problem]:
    """Unknown tenant names (errors) and tags no tenant carries in ``sync.tenants``: a warning, or an
    error when ``deletes`` are allowed, since the integration the selector was meant for is then an
    orphan on every tenant, deleted where it lives."""
    raw = sync_block(definition).get("tenants")
    if not isinstance(raw, list):
        return []
    names = {t.name.casefold() for t in config.tenants}
    tags = {tag for t in config.tenants for tag in t.tags}
    out = []
    for i, sel in enumerate(raw):
        if not isinstance(sel, str) or sel == ALL:
            continue
        at: JsonPath = ("sync", "tenants", i)
        if sel.startswith(TAG_PREFIX):
            tag = sel[len(TAG_PREFIX) :]
            if tag not in tags:
                known = ", ".join(sorted(tags)) or "none"
                message = f"no tenant has tag {tag!r} (tags in the config: {known})"
                if deletes:
                    message += "; deletes are allowed, so the integration it is meant for would be deleted as an orphan"
                out.append(Problem(at, message, "unknown-tag", "error" if deletes else "warning"))
        elif sel.casefold() not in names:
            out.append(Problem(at, _unknown_tenant(sel, config), "unknown-tenant"))
    return out


def _unknown_tenant(sel: str, config: Config) -> str:
    names = [t.name for t in config.tenants]
    close = config.closest_tenant(sel)
    if close:
        return f"unknown tenant {sel!r} (did you mean {close}?)"
    return f"unknown tenant {sel!r} (tenants in the config: {', '.join(names)}; a tag is written tag:NAME)"


def selects(definition: Definition, tenant: TenantConfig) -> bool:
    """Whether ``sync.tenants`` sends the definition to ``tenant``."""
    return Selection.of(definition).holds(tenant.name.casefold(), frozenset(tenant.tags))


def selected_tenants(config: Config, definition: Definition) -> list[TenantConfig]:
    selection = Selection.of(definition)
    if selection.every:
        return list(config.tenants)
    return [t for t in config.tenants if selection.holds(t.name.casefold(), frozenset(t.tags))]


def whole_placeholder(value: Any) -> str | None:
    """The variable's name when ``value`` is only a placeholder (``${name}``), else None."""
    m = _WHOLE.match(value) if isinstance(value, str) else None
    return m.group(1) if m else None


#: The one ``sync`` entry with placeholders: old names follow the templated names they were.
_RESOLVED_SYNC = "previous_names"


def _templated(data: dict[str, Any]) -> dict[str, Any]:
    """The parts of a definition that ``${var}`` applies to: its values and ``sync.previous_names``."""
    out = {k: v for k, v in data.items() if k != SYNC_KEY}
    sync = data.get(SYNC_KEY)
    if isinstance(sync, dict) and _RESOLVED_SYNC in sync:
        out[SYNC_KEY] = {_RESOLVED_SYNC: sync[_RESOLVED_SYNC]}
    return out


def has_placeholders(value: Any) -> bool:
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, dict):
        return any(has_placeholders(v) for v in _templated(value).values())
    if isinstance(value, list):
        return any(has_placeholders(v) for v in value)
    return False


def resolve_doc(data: dict[str, Any], tenant: TenantConfig) -> tuple[dict[str, Any], list[Problem]]:
    """The definition's managed values for ``tenant`` and its ``sync`` block (only ``previous_names``
    resolved: a templated name's old name is templated too), and a problem for every variable the
    tenant does not define."""
    problems: list[Problem] = []
    out = {k: (v if k == SYNC_KEY else _resolve(v, (k,), tenant, problems)) for k, v in data.items()}
    sync = out.get(SYNC_KEY)
    if isinstance(sync, dict) and _RESOLVED_SYNC in sync:
        at: JsonPath = (SYNC_KEY, _RESOLVED_SYNC)
        out[SYNC_KEY] = {**sync, _RESOLVED_SYNC: _resolve(sync[_RESOLVED_SYNC], at, tenant, problems)}
    return out, problems


def _resolve(value: Any, path: JsonPath, tenant: TenantConfig, problems: list[Problem]) -> Any:
    if isinstance(value, str):
        if "${" not in value:
            return value
        whole = _WHOLE.match(value)
        if whole:
            name = whole.group(1)
            if name in tenant.vars:
                return tenant.vars[name]
            problems.append(_missing(name, path, tenant))
            return value

        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name is None:  # $${ -> ${; a malformed ${ stays as it is (validation reports it)
                return "${" if m.group(0) == "$${" else m.group(0)
            if name not in tenant.vars:
                problems.append(_missing(name, path, tenant))
                return m.group(0)
            v = tenant.vars[name]
            return "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)

        return _PLACEHOLDER.sub(sub, value)
    if isinstance(value, dict):
        return {k: _resolve(v, (*path, k), tenant, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, (*path, i), tenant, problems) for i, v in enumerate(value)]
    return value


@dataclass(frozen=True)
class BadPlaceholder:
    """A ``${`` that starts no variable, at character ``offset`` of the string at ``path``."""

    path: JsonPath
    offset: int
    message: str


def placeholder_problems(data: dict[str, Any]) -> list[BadPlaceholder]:
    """Every ``${`` in the definition's values (and ``sync.previous_names``) that is neither ``${name}`` nor the
    escape ``$${``: a typo such as ``${ xero_system_id }`` would otherwise reach the tenant as text."""
    out: list[BadPlaceholder] = []

    def walk(value: Any, path: JsonPath) -> None:
        if isinstance(value, str) and "${" in value:
            for m in _PLACEHOLDER.finditer(value):
                if m.group(0) == "${":
                    out.append(BadPlaceholder(path, m.start(), _bad_placeholder(value, m.start())))
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, (*path, k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, (*path, i))

    for key, value in _templated(data).items():
        walk(value, (key,))
    return out


def _bad_placeholder(text: str, at: int) -> str:
    end = text.find("}", at)
    shown = text[at : end + 1] if 0 <= end - at <= 40 else text[at : at + 12] + "..."
    what = "is not closed with }" if end < 0 else "is not a variable"
    return (
        f"placeholder {shown!r} {what}: a variable is written ${{name}} (letters, digits and _, no "
        "spaces); write $${ for a literal ${"
    )


def _missing(name: str, path: JsonPath, tenant: TenantConfig) -> Problem:
    defined = ", ".join(sorted(tenant.vars)) or "none"
    msg = f"tenant {tenant.name}: variable {name!r} is not defined in its vars (defined: {defined})"
    return Problem(path, msg, UNDEFINED_VARIABLE)


def desired_for(definitions: Sequence[Definition], tenant: TenantConfig) -> list[Desired]:
    """What ``tenant`` should hold: the resolved definitions that select it, sorted by name.

    Raises ``DefinitionError`` (located) for an undefined variable; call it on validated definitions.
    """
    return desired_for_each(definitions, [tenant])[tenant.name]


def desired_for_each(
    definitions: Sequence[Definition], tenants: Sequence[TenantConfig]
) -> dict[str, list[Desired]]:
    """``desired_for`` of every tenant, each definition resolved once per distinct set of the values
    of the variables it uses (10,000 tenants usually share a few dozen): tenants with the same values
    share the same ``Desired`` objects, and tenants given the same definitions share one list. Treat
    them as read-only."""
    plans = [(d, Selection.of(d), variables_used(d.data)) for d in definitions]
    # What a tenant's definitions depend on: its name and tags (when a selection names any) and the
    # values of the variables any definition uses. Tenants alike in these get the same list.
    by_name = any(sel.names for _d, sel, _u in plans)
    by_tag = any(sel.tags for _d, sel, _u in plans)
    every_used = tuple(sorted({v for _d, _s, used in plans for v in used}))
    resolved: dict[tuple[int, Hashable], Desired] = {}
    lists: dict[tuple[tuple[int, Hashable], ...], list[Desired]] = {}
    alike: dict[Hashable, tuple[tuple[int, Hashable], ...]] = {}
    out: dict[str, list[Desired]] = {}
    for tenant in tenants:
        name, tags = tenant.name.casefold(), frozenset(tenant.tags)
        signature = (name if by_name else None, tags if by_tag else None, variables_key(every_used, tenant))
        keys = alike.get(signature)
        if keys is None:
            keys = alike[signature] = tuple(
                (i, variables_key(used, tenant))
                for i, (_d, sel, used) in enumerate(plans)
                if sel.holds(name, tags)
            )
        shared = lists.get(keys)
        if shared is None:
            items = []
            for key in keys:
                desired = resolved.get(key)
                if desired is None:
                    desired = resolved[key] = _desired(definitions[key[0]], tenant)
                items.append(desired)
            shared = lists[keys] = sorted(items, key=lambda x: (x.name.casefold(), x.name))
        out[tenant.name] = shared
    return out


def _desired(d: Definition, tenant: TenantConfig) -> Desired:
    doc, problems = resolve_doc(d.data, tenant)
    if problems:
        p = problems[0]
        line, col = d.pos(p.path)
        raise DefinitionError(f"{json_path_text(p.path)[2:]}: {p.message}", d.file, line, col)
    sync = doc.pop(SYNC_KEY, None)
    sync = sync if isinstance(sync, dict) else {}
    return Desired(
        name=doc["name"],
        doc=doc,
        previous_names=tuple(sync.get("previous_names") or ()),
        ignore_changes=tuple(sync.get("ignore_changes") or ()),
        source=d.location,
    )


@dataclass(frozen=True)
class Selection:
    """A definition's ``sync.tenants``, prepared to be asked of many tenants (``selects`` for one)."""

    every: bool
    names: frozenset[str]
    tags: frozenset[str]

    @classmethod
    def of(cls, definition: Definition) -> Selection:
        sels = selectors(definition)
        return cls(
            every=ALL in sels,
            names=frozenset(s.casefold() for s in sels if s != ALL and not s.startswith(TAG_PREFIX)),
            tags=frozenset(s[len(TAG_PREFIX) :] for s in sels if s.startswith(TAG_PREFIX)),
        )

    def holds(self, folded_name: str, tags: frozenset[str]) -> bool:
        return self.every or folded_name in self.names or not self.tags.isdisjoint(tags)


_MISSING = object()


def variables_used(data: dict[str, Any]) -> tuple[str, ...]:
    """The names of the variables a definition's values (and ``sync.previous_names``) use, sorted."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            if "${" in value:
                found.update(m.group(1) for m in _PLACEHOLDER.finditer(value) if m.group(1))
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for value in _templated(data).values():
        walk(value)
    return tuple(sorted(found))


def variables_key(used: Sequence[str], tenant: TenantConfig) -> Hashable:
    """What resolving a definition that uses ``used`` depends on in ``tenant``: each variable's type and
    value (or its absence). Two tenants with equal keys get the same resolved document."""
    if not used:
        return ()
    out = []
    for name in used:
        value = tenant.vars.get(name, _MISSING)
        out.append(
            (name, None if value is _MISSING else type(value), value if _hashable(value) else repr(value))
        )
    return tuple(out)


@dataclass(frozen=True)
class Resolved:
    """A definition's document as some tenants resolve it alike (the same values of the variables it
    uses), and each of those tenants' problems (a problem names its tenant), in the tenants' order."""

    doc: dict[str, Any]
    tenants: tuple[TenantConfig, ...]
    problems: tuple[tuple[TenantConfig, Problem], ...]


def resolve_for(data: dict[str, Any], tenants: Sequence[TenantConfig]) -> list[Resolved]:
    """``data`` resolved for each of ``tenants`` (``resolve_doc``), once per distinct set of values of
    the variables it uses, in the order the tenants first give each set."""
    used = variables_used(data)
    groups: dict[Hashable, list[TenantConfig]] = {}
    for tenant in tenants:
        groups.setdefault(variables_key(used, tenant), []).append(tenant)
    out = []
    for group in groups.values():
        doc, problems = resolve_doc(data, group[0])
        each = [(group[0], p) for p in problems]
        if problems:
            each += [(t, p) for t in group[1:] for p in resolve_doc(data, t)[1]]
        out.append(Resolved(doc, tuple(group), tuple(each)))
    return out


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
