"""The field catalogue: the one place that turns YAML keys into OData property names and back.

Everything is read from ``schemas/integration.schema.json`` (its ``x-odata-name`` annotations), so a
property renamed on a real tenant is a one-line change in the schema. Nothing else in the package spells
an OData property name by hand.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

SCHEMA_FILE = "integration.schema.json"
#: The OData key property and annotations the server owns; never written by the tool.
ODATA_KEY: Final = "Id"
ODATA_ETAG: Final = "@odata.etag"
#: The tool-only block of a definition: never sent to a tenant.
SYNC_KEY: Final = "sync"


class _Unset:
    """The value of a key that a definition leaves out: not managed, not sent, not compared.

    Distinct from ``None``, which is an explicit null that clears the value on the tenant.
    """

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()


@dataclass(frozen=True)
class Field:
    """One managed property of an integration."""

    yaml: str
    odata: str
    types: tuple[str, ...]
    nullable: bool
    description: str

    @property
    def is_bool(self) -> bool:
        return "boolean" in self.types

    @property
    def is_int(self) -> bool:
        return "integer" in self.types


def schema_path() -> Path:
    """Where the schema is: inside the installed wheel, else the repository's ``schemas/`` folder."""
    packaged = resources.files("integration_sync").joinpath("_schemas", SCHEMA_FILE)
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "schemas" / SCHEMA_FILE


@cache
def _schema_text() -> str:
    return schema_path().read_text(encoding="utf-8")


def load_schema() -> dict[str, Any]:
    """The schema as published (placeholders such as ``${system_id}`` allowed), for editors."""
    schema: dict[str, Any] = json.loads(_schema_text())
    return schema


def schema_text() -> str:
    """The schema file's exact text, for ``integration-sync schema``."""
    return _schema_text()


def _branch_types(prop: Mapping[str, Any]) -> tuple[str, ...]:
    branch = _strip_variable(prop)
    t = branch.get("type", "string")
    return tuple(t) if isinstance(t, list) else (t,)


def _strip_variable(prop: Mapping[str, Any]) -> dict[str, Any]:
    """A property schema without its ``${var}`` alternative."""
    out = {k: v for k, v in prop.items() if k != "anyOf"}
    for alt in prop.get("anyOf", []):
        if alt.get("$ref") != "#/$defs/variable":
            out.update(alt)
    return out


@cache
def _resolved_schema_text() -> str:
    schema = copy.deepcopy(load_schema())
    for name, prop in list(schema["properties"].items()):
        schema["properties"][name] = _strip_variable(prop)
    return json.dumps(schema)


def resolved_schema() -> dict[str, Any]:
    """The schema that a tenant's *resolved* document must pass: variables are substituted by then,
    so each property has only its real type (and errors read "'20' is not of type 'integer'")."""
    schema: dict[str, Any] = json.loads(_resolved_schema_text())
    return schema


@cache
def catalogue() -> tuple[Field, ...]:
    """Managed fields in canonical order (the schema's property order, without ``sync``)."""
    out = []
    for name, prop in load_schema()["properties"].items():
        if name == SYNC_KEY:
            continue
        types = _branch_types(prop)
        out.append(
            Field(
                yaml=name,
                odata=prop["x-odata-name"],
                types=tuple(t for t in types if t != "null"),
                nullable="null" in types,
                description=prop.get("description", ""),
            )
        )
    return tuple(out)


@cache
def by_yaml() -> dict[str, Field]:
    return {f.yaml: f for f in catalogue()}


def yaml_keys() -> list[str]:
    """All top-level keys a definition may have, in canonical order (``sync`` last)."""
    return [f.yaml for f in catalogue()] + [SYNC_KEY]


def required_yaml() -> list[str]:
    return list(load_schema()["required"])


def odata_name(yaml_key: str) -> str:
    return by_yaml()[yaml_key].odata


def name_property() -> str:
    """The OData property holding the natural key (the integration's name)."""
    return odata_name("name")


def managed_property() -> str:
    """The OData property telling whether FinanceKey manages (mirrors) the integration."""
    return odata_name("managed")


def max_length(yaml_key: str) -> int | None:
    """The schema's ``maxLength`` of a text field, or None."""
    value = resolved_schema()["properties"][yaml_key].get("maxLength")
    return int(value) if value is not None else None


def odata_names(names: Mapping[str, str] | None = None) -> dict[str, str]:
    """YAML key -> OData property: the schema's ``x-odata-name``, overridden by ``names`` (a tenant's
    ``odata_names`` from the config)."""
    if not names:
        return dict(_schema_names())
    return {f.yaml: names.get(f.yaml, f.odata) for f in catalogue()}


@cache
def _schema_names() -> dict[str, str]:
    return {f.yaml: f.odata for f in catalogue()}


def renamed(names: Mapping[str, str] | None) -> dict[str, str]:
    """The schema's OData property -> the tenant's, for each property ``names`` renames."""
    table = by_yaml()
    return {table[k].odata: v for k, v in (names or {}).items() if k in table and table[k].odata != v}


def to_odata(
    doc: Mapping[str, Any], keys: Iterable[str] | None = None, names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A definition's managed values as an OData body. Keys not in the schema (``sync``) are dropped;
    keys left out stay out (unmanaged); ``None`` stays ``None`` (clears the value). ``names``: a
    tenant's ``odata_names``."""
    wanted = set(keys) if keys is not None else None
    table = odata_names(names) if names else _schema_names()
    return {
        table[k]: v
        for k, v in doc.items()
        if k in table and v is not UNSET and (wanted is None or k in wanted)
    }


def from_odata(entity: Mapping[str, Any], names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A live entity's mapped properties under their YAML keys, in canonical order. Properties the
    schema does not map (``Id``, annotations, audit stamps) are ignored. ``names``: a tenant's
    ``odata_names``."""
    if names:
        table = odata_names(names)
        return {f.yaml: entity[table[f.yaml]] for f in catalogue() if table[f.yaml] in entity}
    odata, yaml = _odata_yaml()
    values = list(map(entity.get, odata, itertools.repeat(_ABSENT)))
    if _ABSENT not in values:  # the usual case: every property present, mapped without a Python loop
        return dict(zip(yaml, values, strict=True))
    return {y: v for y, v in zip(yaml, values, strict=True) if v is not _ABSENT}


_ABSENT = object()


@cache
def _odata_yaml() -> tuple[tuple[str, ...], tuple[str, ...]]:
    return tuple(f.odata for f in catalogue()), tuple(f.yaml for f in catalogue())


# --- text as the tenant counts it ------------------------------------------------------------------


def text_length(text: str) -> int:
    """A string's length as the tenant counts it, for every ``maxLength``/``minLength``: UTF-16 code
    units (.NET strings, SQL Server ``nvarchar``). A character outside the Basic Multilingual Plane
    (an emoji) is two; JSON Schema (and an editor reading the schema) counts it as one."""
    return len(text) + sum(1 for c in text if c > "\uffff")


def blank(value: Any) -> bool:
    """Whether a required string holds no text: empty or only whitespace (ASP.NET's ``[Required]``
    refuses both)."""
    return isinstance(value, str) and not value.strip()


def length_keywords() -> dict[str, Any]:
    """``minLength``/``maxLength`` for a jsonschema validator class (``validators.extend``), counted
    with ``text_length``: validate and the emulator judge lengths alike."""
    from jsonschema.exceptions import ValidationError

    def max_length(validator: Any, limit: int, instance: Any, schema: Any) -> Any:
        if isinstance(instance, str) and text_length(instance) > limit:
            yield ValidationError(f"{instance!r} is longer than {limit} UTF-16 code units")

    def min_length(validator: Any, limit: int, instance: Any, schema: Any) -> Any:
        if isinstance(instance, str) and text_length(instance) < limit:
            yield ValidationError(f"{instance!r} is shorter than {limit} UTF-16 code units")

    return {"maxLength": max_length, "minLength": min_length}
