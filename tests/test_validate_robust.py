"""Whatever the bytes, validation answers with located diagnostics, never an exception."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integration_sync.config import Config, TenantConfig
from integration_sync.diagnostics import Diagnostic
from integration_sync.loader import Definition, decode, parse
from integration_sync.loader import load_definitions as _load
from integration_sync.validate import validate_definitions

REPO = Path(__file__).resolve().parent.parent
SOURCES = sorted((REPO / "definitions").glob("*.yaml")) + sorted(
    (REPO / "tests/examples/valid").glob("*.yaml")
)
TEXTS = [p.read_bytes() for p in SOURCES]
ALPHABET = [*b":-[]{}&*!|>'\"#%@`,? \n\t$\\0a", 0xC3, 0xE9, 0xFF, 0x00]
CONFIG = Config(
    path=REPO / "integration-sync.yaml",
    root=REPO,
    definitions=REPO / "definitions",
    tenants=(
        TenantConfig("local", "emulator:local", vars={"xero_system_id": 7, "hubspot_system_id": 1}),
        TenantConfig("acme", "https://a.example/OData/", tags=("uk",), vars={"schedule": 2}),
    ),
)

edits = st.lists(
    st.tuples(st.sampled_from(["replace", "insert", "delete"]), st.floats(0, 1), st.sampled_from(ALPHABET)),
    min_size=1,
    max_size=5,
)


def _mutate(raw: bytes, ops: list[tuple[str, float, int]]) -> bytes:
    data = bytearray(raw)
    for op, where, byte in ops:
        i = min(int(where * len(data)), max(len(data) - 1, 0))
        if op == "insert" or not data:
            data.insert(i, byte)
        elif op == "replace":
            data[i] = byte
        else:
            del data[i]
    return bytes(data)


def _check(diags: list[Diagnostic], lines: int) -> None:
    for d in diags:
        assert 1 <= d.line <= lines + 1, d
        assert d.col >= 1, d
        assert d.message and d.rule, d


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(TEXTS))), edits)
def test_random_edits_give_located_diagnostics(index: int, ops: list[tuple[str, float, int]]) -> None:
    raw = _mutate(TEXTS[index], ops)
    text, diags = decode(raw, "x.yaml")
    # YAML (and editors) also break lines at a lone CR: "a\r:b" is two lines
    lines = len(re.split(rb"\r\n|\r|\n|\xc2\x85|\xe2\x80[\xa8\xa9]", raw))
    _check(diags, lines)
    if text is None:
        return
    docs, diags = parse(text, "x.yaml")
    _check(diags, lines)
    defs = [
        Definition(path=Path("x.yaml"), file="x.yaml", doc_index=i, data=d.data, source=text, doc=d)
        for i, d in enumerate(docs)
        if isinstance(d.data, dict)
    ]
    _check(validate_definitions(CONFIG, defs), lines)


def test_the_sources_are_valid_to_begin_with() -> None:
    defs = [d for p in SOURCES for d in _load(p, p.name)[0]]
    assert len(defs) >= len(SOURCES)
    errors = [d for d in validate_definitions(CONFIG, defs) if d.severity == "error"]
    # the examples' variables and tenant names are those of their own configs: only those may fail
    assert {d.rule for d in errors} <= {"undefined-variable", "unknown-tenant", "duplicate-name"}
