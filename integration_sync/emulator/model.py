"""The emulated entity, derived from the schema (``fields.py``): property names, EDM types, nullability,
lengths, ranges and defaults. Nothing here spells an OData property name, except the server-owned ones
(``Id`` from ``fields.ODATA_KEY`` and the audit stamps that the ``extra_properties`` switch adds)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

import jsonschema

from integration_sync import fields

KEY: Final = fields.ODATA_KEY
#: Unmapped audit stamps a real tenant may return (the ``extra_properties`` switch).
AUDIT_PROPS: Final = ("CreatedAt", "ModifiedAt")
INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Prop:
    """One property of the emulated ``Integration`` entity."""

    name: str  # the OData name
    yaml: str
    kind: str  # "string" | "integer" | "boolean"
    nullable: bool
    required: bool
    schema: dict[str, Any]  # the resolved JSON Schema of the property

    @property
    def edm_type(self) -> str:
        return {"string": "Edm.String", "integer": "Edm.Int32", "boolean": "Edm.Boolean"}[self.kind]

    @property
    def max_length(self) -> int | None:
        value = self.schema.get("maxLength")
        return int(value) if value is not None else None

    def default(self) -> Any:
        """The value a new entity gets when the POST leaves this property out."""
        if "default" in self.schema:
            return self.schema["default"]
        if self.nullable:
            return None
        if self.kind == "boolean":
            return False
        if self.kind == "integer":
            return max(0, int(self.schema.get("minimum", 0)))
        return ""

    def validate(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable for this property, or None."""
        if value is None:
            return None if self.nullable else f"The property '{self.name}' cannot be null."
        if self.kind == "boolean" and not isinstance(value, bool):
            return f"Cannot convert the literal '{value}' to the expected type 'Edm.Boolean'."
        if self.kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                return f"Cannot convert the literal '{value}' to the expected type 'Edm.Int32'."
            if not INT32_MIN <= value <= INT32_MAX:
                return f"The value '{value}' of property '{self.name}' is out of the range of Edm.Int32."
        if self.kind == "string" and not isinstance(value, str):
            return f"Cannot convert the literal '{value}' to the expected type 'Edm.String'."
        if self.required and fields.blank(value):
            return f"The {self.name} field is required."
        error = jsonschema.exceptions.best_match(_validator(self.yaml).iter_errors(value))
        if error is not None:
            return f"The field {self.name} is invalid: {error.message}."
        return None


@cache
def _validator(yaml_key: str) -> jsonschema.protocols.Validator:
    schema = fields.resolved_schema()["properties"][yaml_key]
    cls = jsonschema.validators.extend(jsonschema.Draft202012Validator, validators=fields.length_keywords())
    return cls(schema)


@cache
def props() -> tuple[Prop, ...]:
    resolved = fields.resolved_schema()
    required = set(resolved.get("required", []))
    out = []
    for f in fields.catalogue():
        if not _IDENT.match(f.odata):
            raise ValueError(f"x-odata-name {f.odata!r} is not an identifier")
        kind = "boolean" if f.is_bool else "integer" if f.is_int else "string"
        out.append(
            Prop(
                name=f.odata,
                yaml=f.yaml,
                kind=kind,
                nullable=f.nullable,
                required=f.yaml in required,
                schema=resolved["properties"][f.yaml],
            )
        )
    return tuple(out)


@cache
def by_name() -> dict[str, Prop]:
    return {p.name: p for p in props()}


def name_prop() -> str:
    return fields.name_property()


def rule_errors(entity: dict[str, Any]) -> list[str]:
    """The cross-field rules (the schema's ``allOf``, ``docs/odata.md``) that ``entity`` breaks."""
    doc = fields.from_odata(entity)
    out = []
    for rule in fields.resolved_schema().get("allOf", []):
        if not jsonschema.Draft202012Validator(rule).is_valid(doc):
            out.append(str(rule.get("description", rule.get("x-rule", "a rule"))))
    return out
