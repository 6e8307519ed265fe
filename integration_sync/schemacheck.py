"""A fast yes/no check of a document against the schema, compiled from the schema itself.

``jsonschema`` builds an error object for every keyword it descends into, which makes it the slowest
step of validating thousands of definitions that are nearly all valid. This module compiles the
subset of Draft 2020-12 that ``schemas/integration.schema.json`` uses into plain closures that only
answer "valid or not". A document that passes is valid; one that fails goes through ``jsonschema`` for
the messages. A keyword the compiler does not know raises ``Unsupported`` at compile time, and the
caller then uses ``jsonschema`` alone, so the fast path can never silently ignore a rule.

Semantics follow JSON, not Python: ``true`` is not ``1``, and an integer is an ``int`` (``2.0`` is
not an Int32 for a tenant).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from integration_sync.fields import text_length

Check = Callable[[Any], bool]

#: Keywords that never affect validity.
_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$anchor",
        "$comment",
        "$defs",
        "$vocabulary",
        "title",
        "description",
        "examples",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        # editor annotations (VS Code's YAML and JSON language servers)
        "markdownDescription",
        "defaultSnippets",
        "enumDescriptions",
        "markdownEnumDescriptions",
        "deprecationMessage",
        "doNotSuggest",
        "errorMessage",
    }
)


class Unsupported(Exception):
    """The schema uses a keyword this compiler does not implement."""


def _is_type(name: str) -> Check:
    if name == "string":
        return lambda v: isinstance(v, str)
    if name == "integer":
        return lambda v: isinstance(v, int) and not isinstance(v, bool)
    if name == "number":
        return lambda v: isinstance(v, int | float) and not isinstance(v, bool)
    if name == "boolean":
        return lambda v: isinstance(v, bool)
    if name == "null":
        return lambda v: v is None
    if name == "object":
        return lambda v: isinstance(v, dict)
    if name == "array":
        return lambda v: isinstance(v, list)
    raise Unsupported(f"type {name}")


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON Schema defines it (booleans are not numbers; 1 == 1.0)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def compile_schema(schema: Mapping[str, Any]) -> Check:
    """A function telling whether an instance is valid against ``schema`` (raises ``Unsupported``)."""
    return _Compiler(schema).compile(schema)


def fast_check(schema: Mapping[str, Any]) -> Check | None:
    """``compile_schema(schema)``, or None when the schema uses a keyword the compiler does not know:
    a quick yes for the usual, valid case, before jsonschema is asked to word what is wrong."""
    try:
        return compile_schema(schema)
    except Unsupported:
        return None


class _Compiler:
    def __init__(self, root: Mapping[str, Any]):
        self.root = root
        self.refs: dict[str, Check] = {}

    def ref(self, ref: str) -> Check:
        if not ref.startswith("#/"):
            raise Unsupported(f"$ref {ref}")
        if ref not in self.refs:
            target: Any = self.root
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            self.refs[ref] = lambda v: True  # a placeholder while compiling (recursive refs)
            self.refs[ref] = self.compile(target)
        compiled = self.refs
        return lambda v: compiled[ref](v)

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return lambda v: True
        if schema is False:
            return lambda v: False
        if not isinstance(schema, Mapping):
            raise Unsupported(f"schema {schema!r}")
        checks: list[Check] = []
        for key, value in schema.items():
            if key in _ANNOTATIONS or key.startswith("x-") or key in ("then", "else", "additionalProperties"):
                continue
            checks.append(self.keyword(key, value, schema))
        if "additionalProperties" in schema:
            checks.append(self.additional(schema))
        if len(checks) == 1:
            return checks[0]

        def every(v: Any) -> bool:
            for c in checks:  # noqa: SIM110 - a plain loop: all() with a generator is twice as slow here
                if not c(v):
                    return False
            return True

        return every

    def keyword(self, key: str, value: Any, schema: Mapping[str, Any]) -> Check:
        if key == "type":
            types = [_is_type(t) for t in (value if isinstance(value, list) else [value])]
            return types[0] if len(types) == 1 else lambda v: any(t(v) for t in types)
        if key == "enum":
            options = list(value)
            if all(isinstance(o, str) for o in options):
                strings = frozenset(options)
                return lambda v: isinstance(v, str) and v in strings
            return lambda v: any(json_equal(v, o) for o in options)
        if key == "const":
            if isinstance(value, bool):
                return lambda v: v is value
            if isinstance(value, str):
                return lambda v: isinstance(v, str) and v == value
            return lambda v: json_equal(v, value)
        if key == "minimum":
            return lambda v: not _number(v) or v >= value
        if key == "maximum":
            return lambda v: not _number(v) or v <= value
        if key == "exclusiveMinimum":
            return lambda v: not _number(v) or v > value
        if key == "exclusiveMaximum":
            return lambda v: not _number(v) or v < value
        if key == "minLength":
            return lambda v: not isinstance(v, str) or text_length(v) >= value
        if key == "maxLength":
            return lambda v: not isinstance(v, str) or text_length(v) <= value
        if key == "pattern":
            regex = re.compile(value)
            return lambda v: not isinstance(v, str) or regex.search(v) is not None
        if key == "required":
            names = frozenset(value)
            return lambda v: not isinstance(v, dict) or names <= v.keys()
        if key == "properties":
            props = {name: self.compile(sub) for name, sub in value.items()}

            def properties(v: Any) -> bool:
                if isinstance(v, dict):
                    for k, x in v.items():
                        c = props.get(k)
                        if c is not None and not c(x):
                            return False
                return True

            return properties
        if key == "items":
            item = self.compile(value)

            def items(v: Any) -> bool:
                if isinstance(v, list):
                    for x in v:
                        if not item(x):
                            return False
                return True

            return items
        if key == "propertyNames":
            name = self.compile(value)
            return lambda v: not isinstance(v, dict) or all(name(k) for k in v)
        if key == "minItems":
            return lambda v: not isinstance(v, list) or len(v) >= value
        if key == "maxItems":
            return lambda v: not isinstance(v, list) or len(v) <= value
        if key == "uniqueItems":
            return (lambda v: not isinstance(v, list) or _unique(v)) if value else (lambda v: True)
        if key == "anyOf":
            subs = [self.compile(s) for s in value]
            return lambda v: any(s(v) for s in subs)
        if key == "allOf":
            subs = [self.compile(s) for s in value]
            return lambda v: all(s(v) for s in subs)
        if key == "$ref":
            return self.ref(value)
        if key == "if":
            cond = self.compile(value)
            then = self.compile(schema.get("then", True))
            other = self.compile(schema.get("else", True))
            return lambda v: then(v) if cond(v) else other(v)
        raise Unsupported(key)

    def additional(self, schema: Mapping[str, Any]) -> Check:
        if any(k in schema for k in ("patternProperties", "unevaluatedProperties")):
            raise Unsupported("additionalProperties with patternProperties")
        known = frozenset(schema.get("properties", {}))
        extra = self.compile(schema["additionalProperties"])

        def additional(v: Any) -> bool:
            if isinstance(v, dict):
                for k, x in v.items():
                    if k not in known and not extra(x):
                        return False
            return True

        return additional


def _unique(items: list[Any]) -> bool:
    if all(isinstance(x, str) for x in items):
        return len(set(items)) == len(items)
    try:
        keys = [json.dumps(x, sort_keys=True) for x in items]
    except (TypeError, ValueError):
        return all(not json_equal(a, b) for i, a in enumerate(items) for b in items[i + 1 :])
    if len(set(keys)) == len(keys):
        return all(  # numbers that print differently may still be equal (1 and 1.0)
            not json_equal(a, b)
            for i, a in enumerate(items)
            for b in items[i + 1 :]
            if _number(a) and _number(b)
        )
    return False
