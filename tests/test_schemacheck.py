"""The compiled yes/no schema check agrees with jsonschema on every document it is given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integration_sync import fields
from integration_sync.definition_checks import schema_validator
from integration_sync.loader import load_definitions
from integration_sync.schemacheck import Unsupported, compile_schema, json_equal

EXAMPLES = Path(__file__).resolve().parent / "examples"
FAST = compile_schema(fields.resolved_schema())
PUBLISHED = compile_schema(fields.load_schema())


def _agrees(doc: Any) -> None:
    assert FAST(doc) == schema_validator(False).is_valid(doc), doc
    assert PUBLISHED(doc) == schema_validator(True).is_valid(doc), doc


def _example_docs() -> list[Any]:
    docs: list[Any] = []
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        defs, _ = load_definitions(path, path.name)
        docs.extend(d.data for d in defs)
    return docs


def test_agrees_on_every_example_document() -> None:
    docs = _example_docs()
    assert len(docs) > 40
    verdicts = set()
    for doc in docs:
        _agrees(doc)
        verdicts.add(FAST(doc))
    assert verdicts == {True, False}


BASE = {"name": "A", "direction": "Outbound", "entity": "Invoice", "consent_type": "OAuth"}
KEYS = [*fields.yaml_keys(), "nope"]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([0, 1, 2, -1, 2147483647, 2147483648, -2147483648, -2147483649, 1.0, 2.5]),
    st.sampled_from(["", "x", "Inbound", "Outbound", "20", "true", "${v}", "${v", "a" * 129, "*", "tag:uk"]),
    st.sampled_from(["schedule_id", "name", "notes"]),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(
        st.sampled_from(["tenants", "previous_names", "ignore_changes", "other"]),
        st.lists(scalars, max_size=3),
        max_size=3,
    ),
)


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=6), st.sets(st.sampled_from(list(BASE))))
def test_agrees_on_generated_documents(changes: dict[str, Any], dropped: set[str]) -> None:
    doc = {k: v for k, v in BASE.items() if k not in dropped}
    doc.update(changes)
    _agrees(doc)


@settings(max_examples=100, deadline=None)
@given(st.booleans(), st.booleans(), st.booleans(), st.sampled_from(["Inbound", "Outbound", None]))
def test_agrees_on_the_rules_between_fields(
    updates: bool, continuous: bool, active: bool, direction: Any
) -> None:
    doc: dict[str, Any] = {**BASE, "include_updates": updates, "continuous": continuous, "active": active}
    if direction is None:
        del doc["direction"]
    else:
        doc["direction"] = direction
    _agrees(doc)


def test_unknown_keywords_are_refused_not_ignored() -> None:
    with pytest.raises(Unsupported):
        compile_schema({"type": "object", "dependentRequired": {"a": ["b"]}})
    with pytest.raises(Unsupported):
        compile_schema({"$ref": "https://example.com/other.json"})


def test_json_equality() -> None:
    assert not json_equal(True, 1)
    assert json_equal(1, 1.0)
    assert json_equal([1, {"a": None}], [1.0, {"a": None}])
    assert not json_equal({"a": 1}, {"a": True})
    assert not json_equal("1", 1)
