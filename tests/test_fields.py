"""The field catalogue read from the schema: names, order, the UNSET sentinel, the resolved view."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys

import jsonschema
import pytest

from integration_sync import fields
from integration_sync.fields import UNSET


def test_schema_passes_the_draft_2020_12_metaschema() -> None:
    jsonschema.Draft202012Validator.check_schema(fields.load_schema())


def test_every_property_but_sync_has_an_odata_name_and_a_description() -> None:
    props = fields.load_schema()["properties"]
    for key, prop in props.items():
        assert prop.get("description"), key
        assert ("x-odata-name" in prop) == (key != "sync"), key


def test_every_key_has_a_description_and_examples_valid_for_it() -> None:
    """README, Editor support: "every key has a description and examples" (hover documentation), the
    sync block and its keys included; each example passes the key's own schema."""
    schema = fields.load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    props = schema["properties"]
    keys = list(props.items())
    keys += [(f"sync.{k}", p) for k, p in props["sync"]["properties"].items()]
    for key, prop in keys:
        assert prop.get("description") and prop.get("examples"), key
        for example in prop["examples"]:
            sub = {**prop, "$defs": schema.get("$defs", {})}
            assert validator.evolve(schema=sub).is_valid(example), (key, example)


def test_mapping_round_trips_and_ignores_unmapped_properties() -> None:
    live = {
        "Id": 4,
        "@odata.etag": 'W/"1"',
        "Name": "A",
        "IsManaged": True,
        "ModifiedAt": "2026-01-01",
        "Filter": None,
    }
    doc = fields.from_odata(live)
    assert doc == {"name": "A", "filter": None, "managed": True}
    assert list(doc) == ["name", "filter", "managed"]  # canonical order, not the reply's
    assert fields.to_odata(doc) == {"Name": "A", "Filter": None, "IsManaged": True}


def test_to_odata_drops_sync_and_unset_but_keeps_explicit_null() -> None:
    body = fields.to_odata({"name": "A", "notes": None, "filter": UNSET, "sync": {"tenants": ["*"]}})
    assert body == {"Name": "A", "Notes": None}


def test_unset_is_a_falsy_singleton_distinct_from_none() -> None:
    assert UNSET is not None
    assert not UNSET
    assert copy.deepcopy(UNSET) is UNSET
    assert pickle.loads(pickle.dumps(UNSET)) is UNSET


def test_resolved_schema_rejects_placeholders_the_published_one_allows() -> None:
    doc = {
        "name": "A",
        "direction": "Outbound",
        "entity": "Invoice",
        "consent_type": "None",
        "system_id": "${x}",
    }
    jsonschema.Draft202012Validator(fields.load_schema()).validate(doc)
    with pytest.raises(jsonschema.ValidationError, match="is not of type 'integer'"):
        jsonschema.Draft202012Validator(fields.resolved_schema()).validate(doc)


def test_field_types() -> None:
    assert fields.by_yaml()["action_id"].nullable and fields.by_yaml()["action_id"].is_int
    assert fields.by_yaml()["managed"].is_bool and not fields.by_yaml()["managed"].nullable
    assert fields.yaml_keys()[-1] == "sync"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "integration_sync", *args], capture_output=True, text=True)


@pytest.mark.slow
def test_cli_version_and_schema() -> None:
    assert _run("--version").stdout.strip().endswith(__import__("integration_sync").__version__)
    out = _run("schema")
    assert out.returncode == 0
    assert out.stdout == fields.schema_text()


@pytest.mark.slow
def test_cli_usage_error_exits_1_not_2() -> None:
    out = _run("no-such-command")
    assert out.returncode == 1
    assert "No such command" in out.stderr
    assert "Traceback" not in out.stderr
