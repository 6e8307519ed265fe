"""Reading a tenant's ``$metadata``: CSDL XML (parsed by expat with any DOCTYPE refused, so no entity is
ever declared, let alone expanded) or CSDL JSON, to its entity sets with their keys and properties."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat


@dataclass(frozen=True)
class EdmProperty:
    name: str
    type: str
    nullable: bool
    max_length: int | None  # None: unbounded (absent or "max")


@dataclass
class EdmEntitySet:
    name: str
    type_name: str
    key: list[str] = field(default_factory=list)
    properties: dict[str, EdmProperty] = field(default_factory=dict)


class MetadataError(ValueError):
    pass


def parse_metadata(body: bytes) -> dict[str, EdmEntitySet]:
    """The entity sets of a CSDL document (XML, or JSON when it starts with ``{``), with their entity
    type's key and properties. ``MetadataError`` for anything else."""
    text = body.lstrip()
    if text.startswith(b"{"):
        return _parse_csdl_json(text)
    return _parse_csdl_xml(body)


def _local(tag: str) -> str:
    return tag.rsplit(" ", 1)[-1]


def _parse_csdl_xml(body: bytes) -> dict[str, EdmEntitySet]:
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    types: dict[str, tuple[list[str], dict[str, EdmProperty]]] = {}
    sets: dict[str, str] = {}
    state: dict[str, Any] = {"ns": [], "type": None}

    def doctype(*_args: Any) -> None:
        raise MetadataError("a DOCTYPE is not allowed in $metadata (it could declare entities)")

    def start(tag: str, attrs: dict[str, str]) -> None:
        name = _local(tag)
        if name == "Schema":
            state["ns"] = [n for n in (attrs.get("Namespace"), attrs.get("Alias")) if n]
        elif name == "EntityType":
            current: tuple[list[str], dict[str, EdmProperty]] = ([], {})
            for ns in state["ns"]:
                types[f"{ns}.{attrs.get('Name', '')}"] = current
            state["type"] = current
        elif name == "PropertyRef" and state["type"] is not None:
            state["type"][0].append(attrs.get("Name", ""))
        elif name == "Property" and state["type"] is not None:
            limit = attrs.get("MaxLength")
            state["type"][1][attrs.get("Name", "")] = EdmProperty(
                attrs.get("Name", ""),
                attrs.get("Type", ""),
                attrs.get("Nullable", "true").lower() != "false",
                _max_length(limit),
            )
        elif name == "EntitySet":
            sets[attrs.get("Name", "")] = attrs.get("EntityType", "")

    def end(tag: str) -> None:
        if _local(tag) == "EntityType":
            state["type"] = None

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise MetadataError(f"not well-formed CSDL XML ({exc})") from None
    return _sets(types, sets)


def _max_length(text: str | None) -> int | None:
    """A ``MaxLength`` attribute as a number; ``max``, absent, or anything that is not a plain decimal
    number an Int64 could hold (``²`` passes ``str.isdigit``; 5,000 digits fail ``int``) is no limit."""
    if text and text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text)
    return None


def _parse_csdl_json(body: bytes) -> dict[str, EdmEntitySet]:
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise MetadataError(f"not valid CSDL JSON ({exc})") from None
    except RecursionError:
        raise MetadataError("CSDL JSON nested too deeply to read") from None
    if not isinstance(doc, dict):
        raise MetadataError("CSDL JSON must be an object")
    try:
        return _csdl_json_sets(doc)
    except (TypeError, AttributeError, StopIteration) as exc:  # a member of another JSON type
        raise MetadataError(f"not CSDL JSON as OData describes it ({type(exc).__name__})") from None


def _csdl_json_sets(doc: Mapping[str, Any]) -> dict[str, EdmEntitySet]:
    types: dict[str, tuple[list[str], dict[str, EdmProperty]]] = {}
    sets: dict[str, str] = {}
    for ns, schema in doc.items():
        if ns.startswith("$") or not isinstance(schema, dict):
            continue
        names = [ns] + ([schema["$Alias"]] if isinstance(schema.get("$Alias"), str) else [])
        for name, element in schema.items():
            if not isinstance(element, dict):
                continue
            if element.get("$Kind") == "EntityType":
                key = [
                    k if isinstance(k, str) else str(next(iter(k.values()), ""))
                    for k in element.get("$Key", [])
                ]
                props = {
                    p: EdmProperty(
                        p,
                        str(v.get("$Type", "Edm.String")),
                        v.get("$Nullable", False) is True,
                        _max_length(str(v["$MaxLength"])) if type(v.get("$MaxLength")) is int else None,
                    )
                    for p, v in element.items()
                    if not p.startswith("$")
                    and isinstance(v, dict)
                    and v.get("$Kind", "Property") == "Property"
                }
                for n in names:
                    types[f"{n}.{name}"] = (list(key), props)
            elif element.get("$Kind") == "EntityContainer":
                for set_name, entity_set in element.items():
                    if isinstance(entity_set, dict) and entity_set.get("$Collection") is True:
                        sets[set_name] = str(entity_set.get("$Type", ""))
    return _sets(types, sets)


def _sets(
    types: Mapping[str, tuple[list[str], dict[str, EdmProperty]]], sets: Mapping[str, str]
) -> dict[str, EdmEntitySet]:
    out = {}
    for name, type_name in sets.items():
        key, props = types.get(type_name, ([], {}))
        out[name] = EdmEntitySet(name, type_name, key, props)
    return out
