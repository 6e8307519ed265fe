"""Values as the plan holds them, and what makes two of them equal: the one equality of the tool
(``equal``), canonical digests (``digest``, ``mapped_digest``) and how a live key is shown (``key_text``).

A value absent from the live entity is ``UNSET`` in memory, never confused with ``None``.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import Any, Final, Protocol

from integration_sync import fields
from integration_sync.diagnostics import json_path_text
from integration_sync.fields import UNSET

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
    if ta is type(b) and ta in SCALARS:
        if ta is float and a != a:  # NaN is the same value as NaN (a YAML .nan read twice)
            return bool(b != b)
        return bool(a == b)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return _equal_maps(a, b, absent_is_null)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(
            equal(x, y, absent_is_null=absent_is_null) for x, y in zip(a, b, strict=True)
        )
    if absent_is_null and ((a is UNSET and b is None) or (a is None and b is UNSET)):
        return True
    return ta is type(b) and ta not in SCALARS and bool(a == b)  # dates and other YAML scalars


def first_difference(a: Any, b: Any) -> str | None:
    """Where two values that ``equal`` told apart differ, for a message: ``$[0].sync.previous_names[1]:
    "b" became "c"``, ``$[0].notes: only in the first (...)``. DeepDiff walks the nested values and names
    the path; it explains, it never judges (it takes ``1`` and ``True`` for the same value, which
    ``equal`` does not): ``None`` when it finds nothing to show."""
    from deepdiff import DeepDiff
    from deepdiff.helper import notpresent

    tree = DeepDiff(a, b, view="tree")
    levels = [level for report in tree.values() for level in report]
    if not levels:
        return None
    level = min(levels, key=lambda lv: json_path_text(lv.path(output_format="list")))
    where = json_path_text(level.path(output_format="list"))
    if level.t1 is notpresent:
        return f"{where}: only in the second ({_shown(level.t2)})"
    if level.t2 is notpresent:
        return f"{where}: only in the first ({_shown(level.t1)})"
    return f"{where}: {_shown(level.t1)} became {_shown(level.t2)}"


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= 60 else text[:59] + "…"


#: Types whose values compare exactly with ``==`` once their types are the same.
SCALARS: Final = frozenset({str, int, float, bool, type(None)})


def _equal_maps(a: Mapping[Any, Any], b: Mapping[Any, Any], absent_is_null: bool) -> bool:
    if not absent_is_null and a.keys() != b.keys():
        return False
    for key in a.keys() | b.keys():
        if not equal(a.get(key, UNSET), b.get(key, UNSET), absent_is_null=absent_is_null):
            return False
    return True


def digest(data: Any) -> str:
    """``sha256:<hex>`` of ``data``'s canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    # surrogatepass: a lone surrogate (broken UTF-16 from a .NET tenant) is hashed, not a crash
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def key_text(key: Key) -> str:
    """A live key as every message and rendering shows it: an integer as it is, a string quoted and
    escaped as JSON (``"1"`` is not the integer ``1``; a key from the tenant never breaks a line)."""
    return str(key) if isinstance(key, int) else json.dumps(key, ensure_ascii=False)


def sort_name(name: str) -> tuple[str, str]:
    return (name.casefold(), name)


def live_form(entity: Mapping[str, Any]) -> Any:
    """A live entity's mapped values as the live digest takes them (``mapped_digest``): the values
    alone, a tuple in the YAML names' sorted order (``form_position``), when the entity has every
    mapped property; else the mapping of those it has, in that order (a property left out is not a
    null). A complete entity is read at C speed."""
    odata, yaml, get = _sorted_fields()
    try:
        return get(entity)
    except KeyError:  # a property left out (a tenant that omits nulls): only those it sent
        return {y: entity[o] for o, y in zip(odata, yaml, strict=True) if o in entity}


def form_values(form: Any) -> dict[str, Any]:
    """The values of a ``live_form`` under their YAML keys (``fields.from_odata``, keys sorted)."""
    return dict(zip(_sorted_fields()[1], form, strict=True)) if type(form) is tuple else form


def form_position(yaml_key: str) -> int:
    """Where a field's value is in the tuple ``live_form`` makes of a complete entity."""
    return _sorted_fields()[1].index(yaml_key)


@cache
def _sorted_fields() -> tuple[
    tuple[str, ...], tuple[str, ...], Callable[[Mapping[str, Any]], tuple[Any, ...]]
]:
    """The mapped fields' OData and YAML names, by YAML name; and a getter of an entity's values in
    that order (a tuple: there are always several fields)."""
    pairs = sorted((f.yaml, f.odata) for f in fields.catalogue())
    odata = tuple(o for _y, o in pairs)
    assert len(odata) > 1, "itemgetter of one name returns the value, not a tuple"
    return odata, tuple(y for y, _o in pairs), operator.itemgetter(*odata)


class LiveLike(Protocol):
    """A live integration (``client.LiveIntegration``): ``values`` is the entity as the tenant sent it,
    under OData names."""

    @property
    def key(self) -> Key: ...
    @property
    def etag(self) -> str | None: ...
    @property
    def values(self) -> Mapping[str, Any]: ...


def mapped_digest(live: Iterable[tuple[Key, str | None, Any]]) -> str:
    """The live digest of a plan (``TenantPlan.live_digest``, which apply computes again from its own
    listing): of ``(key, etag, form)`` rows, ``form`` as ``live_form`` made it, the ``digest`` of
    ``[key as text, etag, form]`` rows sorted by key text. A complete entity's form is its values
    alone, in one fixed order (the YAML names sorted): every field's name would otherwise be encoded
    again in every row, which made the text three times longer and the digest three times slower (it
    is made for every tenant of a plan)."""
    return digest(sorted(((str(k), e, form) for k, e, form in live), key=_first))


_first = operator.itemgetter(0)
