"""The importer's pure part: safe file names, faithful definitions, rule breaches as comments."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from integration_sync import fields
from integration_sync.config import Config, TenantConfig
from integration_sync.formatter import format_text
from integration_sync.importer import (
    build_import,
    existing_names,
    file_names,
    own_imports,
    slug,
    write_import,
)
from integration_sync.loader import load_definitions
from integration_sync.resolve import desired_for


def _config(root: Path, *tenants: str) -> Config:
    return Config(
        path=root / "integration-sync.yaml",
        root=root,
        definitions=root / "definitions",
        tenants=tuple(TenantConfig(name=t, url=f"emulator:{t}") for t in tenants),
    )


def _entity(name: str, **extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "Id": 7,
        "Name": name,
        "Direction": "Outbound",
        "Entity": "Invoice",
        "ConsentType": "OAuth",
        "Filter": None,
        "IsManaged": True,
        "ModifiedAt": "2026-01-01T00:00:00Z",
    }
    return {**base, **extra}


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("Xero Invoice Export", "xero-invoice-export"),
        ("../x", "x"),
        ("..", "integration"),
        ("", "integration"),
        ("a/b\\c", "a-b-c"),
        ('It\'s "quoted"', "it-s-quoted"),
        ("Überweisung Ausgang", "überweisung-ausgang"),
        ("請求書 エクスポート", "請求書-エクスポート"),
        ("CON", "con-integration"),
        ("x" * 200, "x" * 64),
    ],
)
def test_slugs_are_safe_and_readable(name: str, stem: str) -> None:
    assert slug(name) == stem
    assert "/" not in slug(name) and not slug(name).startswith(".")


def test_slug_clashes_get_a_stable_hash_of_the_exact_name() -> None:
    names = ["Invoice Export", "invoice-export", "INVOICE_EXPORT", "Other"]
    files = file_names(names)
    assert files["Other"] == "other.yaml"
    twins = [files[n] for n in names[:3]]
    assert len({f.casefold() for f in twins}) == 3
    assert all(
        f.startswith("invoice-export-") and len(f) == len("invoice-export-12345678.yaml") for f in twins
    )
    assert file_names(list(reversed(names))) == files  # order of the live list does not matter
    assert file_names(["invoice-export", "Invoice Export"])["invoice-export"] == files["invoice-export"]


def test_definition_holds_every_mapped_field_in_schema_order_and_nothing_else(tmp_path: Path) -> None:
    live = _entity("A", Notes="two\nlines", MaxAttempts=3, IsActive=True)
    result = build_import(_config(tmp_path, "acme"), "acme", [live], tmp_path / "definitions")
    (f,) = result.files
    assert f.path == tmp_path / "definitions" / "a.yaml"
    assert f.text.startswith("# yaml-language-server: $schema=../schemas/integration.schema.json\n")
    data = yaml.safe_load(f.text)
    expected = fields.from_odata(live)
    assert {k: v for k, v in data.items() if k != "sync"} == expected
    assert list(data) == [k for k in fields.yaml_keys() if k in data]
    assert data["sync"] == {"tenants": ["acme"]}
    assert "filter: null" in f.text  # explicit null: managed, so it cannot diff
    assert format_text(f.text) == f.text  # canonical
    assert not f.breaches and not result.flagged


def test_a_literal_placeholder_in_live_text_is_escaped(tmp_path: Path) -> None:
    (f,) = build_import(_config(tmp_path, "t"), "t", [_entity("Cost ${x}", Notes="$${y}")], tmp_path).files
    data = yaml.safe_load(f.text)
    assert data["name"] == "Cost $${x}"
    assert data["notes"] == "$$${y}"


@pytest.mark.parametrize("text", ["${ y }", "${}", "a ${x-y} b", "${unclosed", "$${ z }", "${a}${ b }"])
def test_every_literal_placeholder_start_is_escaped_and_resolves_back(tmp_path: Path, text: str) -> None:
    """Live text that only looks like a broken placeholder is written so that validate accepts it and
    the tenant gets it back unchanged (a plan after the import is empty)."""
    config = _config(tmp_path, "t")
    result = build_import(config, "t", [_entity("N", Notes=text)], tmp_path / "definitions")
    assert not result.flagged
    (f,) = result.files
    f.path.parent.mkdir(parents=True, exist_ok=True)
    f.path.write_text(f.text, encoding="utf-8")
    definitions, _ = load_definitions(f.path)
    [desired] = desired_for(definitions, config.tenant("t"))
    assert desired.doc["notes"] == text


def test_rule_breaches_are_written_faithfully_with_a_comment_and_accepted_where_a_rule_may_be(
    tmp_path: Path,
) -> None:
    """A rule between fields is written in sync.accept (a warning then, for this definition only); a
    bound cannot be accepted and stays an error naming the rule."""
    live = _entity("Bad", Direction="Inbound", IsActive=True, IncludeUpdates=True, BatchSize=0)
    result = build_import(_config(tmp_path, "t"), "t", [live], tmp_path)
    (f,) = result.flagged
    lines = f.text.splitlines()
    at = lines.index("include_updates: true")
    assert lines[at - 1].startswith("# accepted rule include-updates-outbound-active:")
    at = lines.index("batch_size: 0")
    assert lines[at - 1] == "# breaks rule schema-minimum: batch_size: 0 is less than the minimum of 1"
    data = yaml.safe_load(f.text)
    assert data["direction"] == "Inbound"  # as the tenant has it
    assert data["sync"] == {"tenants": ["t"], "accept": ["include-updates-outbound-active"]}
    assert len(f.breaches) == 2


def test_soft_rules_are_accepted_too(tmp_path: Path) -> None:
    live = _entity("Slow", BatchSize=20, Parallel=False)
    (f,) = build_import(_config(tmp_path, "t"), "t", [live], tmp_path).flagged
    lines = f.text.splitlines()
    assert lines[lines.index("batch_size: 20") - 1].startswith(
        "# accepted rule batch-size-without-parallel: "
    )
    assert f.breaches == (f"batch_size: {lines[lines.index('batch_size: 20') - 1][2:]}",)
    assert yaml.safe_load(f.text)["sync"]["accept"] == ["batch-size-without-parallel"]


@pytest.mark.slow
def test_case_twins_are_both_written_and_flagged(tmp_path: Path) -> None:
    result = build_import(_config(tmp_path, "t"), "t", [_entity("Export"), _entity("export")], tmp_path)
    assert len(result.files) == 2 and len({f.path for f in result.files}) == 2
    for f in result.flagged:
        assert "# breaks rule duplicate-name:" in f.text
    assert len(result.flagged) == 2


def test_managed_only(tmp_path: Path) -> None:
    live = [_entity("Mine", IsManaged=False), _entity("Theirs")]
    result = build_import(_config(tmp_path, "t"), "t", live, tmp_path, managed_only=True)
    assert [f.name for f in result.files] == ["Theirs"]
    assert result.skipped_unmanaged == 1


def test_an_existing_file_is_left_and_listed_and_the_others_are_still_written(tmp_path: Path) -> None:
    """One existing file never aborts the rest; --force writes again only this tenant's own import."""
    result = build_import(_config(tmp_path, "t"), "t", [_entity("A"), _entity("B")], tmp_path)
    (tmp_path / "b.yaml").write_text("keep me\n")
    write_import(result, force=True)  # b.yaml is no import of t: --force does not write over it
    assert [f.name for f in result.written] == ["A"] and result.existing == [tmp_path / "b.yaml"]
    assert (tmp_path / "b.yaml").read_text() == "keep me\n"
    assert yaml.safe_load((tmp_path / "a.yaml").read_text())["name"] == "A"
    again = build_import(_config(tmp_path, "t"), "t", [_entity("A", Notes="new")], tmp_path)
    write_import(again, force=False)
    assert again.existing == [tmp_path / "a.yaml"] and "new" not in (tmp_path / "a.yaml").read_text()
    own = own_imports([tmp_path], "t")
    assert own == {(tmp_path / "a.yaml").resolve()}
    write_import(again, force=True, own=own)
    assert yaml.safe_load((tmp_path / "a.yaml").read_text())["notes"] == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml", "b.yaml"]  # no temporary files left


def test_a_file_that_cannot_be_written_is_listed_and_the_others_are_written(tmp_path: Path) -> None:
    result = build_import(_config(tmp_path, "t"), "t", [_entity("A"), _entity("B"), _entity("C")], tmp_path)
    (tmp_path / "b.yaml").mkdir()
    write_import(result, force=True, own={(tmp_path / "b.yaml").resolve()})
    assert [p for p, _ in result.failed] == [tmp_path / "b.yaml"]
    assert [f.name for f in result.written] == ["A", "C"]
    assert yaml.safe_load((tmp_path / "c.yaml").read_text())["name"] == "C"


@pytest.mark.slow
def test_a_string_key_never_leads_a_file_outside_the_folder(tmp_path: Path) -> None:
    """Twins are told apart by their live key, slugged like a name: ``../../x`` stays in the folder."""
    folder = tmp_path / "a" / "b"
    live = [_entity("Twin", Id="../../x"), _entity("Twin", Id="../../X"), _entity("Twin", Id="/etc/passwd")]
    result = build_import(_config(tmp_path, "t"), "t", live, folder)
    assert len({f.path for f in result.files}) == 3
    for f in result.files:
        assert f.path.parent == folder and f.path.name.startswith("twin-key-") and "/" not in f.path.name
    folder.mkdir(parents=True)
    write_import(result, force=False)
    assert sorted(p.parent for p in tmp_path.rglob("*.yaml")) == [folder] * 3


def test_integrations_other_files_already_claim_are_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "definitions"
    folder.mkdir()
    (folder / "mine.yaml").write_text(
        "name: XERO export\ndirection: Outbound\nentity: Invoice\nconsent_type: OAuth\n"
        "sync:\n  previous_names: [Old Name]\n",
        encoding="utf-8",
    )
    (folder / "b.yaml").write_text("name: B\n", encoding="utf-8")  # the file an import of B would write
    existing = existing_names([folder, folder])
    assert existing == {
        "xero export": (folder / "mine.yaml",),
        "old name": (folder / "mine.yaml",),
        "b": (folder / "b.yaml",),
    }
    live = [_entity("Xero Export"), _entity("old name"), _entity("B"), _entity("New")]
    result = build_import(_config(tmp_path, "t"), "t", live, folder, existing=existing)
    assert sorted(f.name for f in result.files) == ["New"]
    assert sorted(result.already_defined) == [  # b.yaml is hand-written, not an import: B is defined
        ("B", folder / "b.yaml"),
        ("Xero Export", folder / "mine.yaml"),
        ("old name", folder / "mine.yaml"),
    ]


@pytest.mark.slow
def test_case_twins_are_imported_again_each_into_its_own_file(tmp_path: Path) -> None:
    """A tenant that compares names case-sensitively may hold "Invoice Export" and "invoice export";
    a second import (--force) refreshes both files instead of taking one for the other's owner."""
    folder = tmp_path / "definitions"
    config = _config(tmp_path, "t")
    live = [_entity("Invoice Export"), _entity("invoice export"), _entity("INVOICE EXPORT")]
    first = build_import(config, "t", live, folder, existing=existing_names([folder]))
    folder.mkdir()
    write_import(first, force=False)
    live = [_entity(str(e["Name"]), Notes="changed") for e in live]
    own = own_imports([folder], "t")
    again = build_import(config, "t", live, folder, existing=existing_names([folder]), own=own)
    assert again.already_defined == []
    assert sorted(f.path for f in again.files) == sorted(f.path for f in first.files)
    write_import(again, force=True, own=own)
    assert {yaml.safe_load(p.read_text(encoding="utf-8"))["notes"] for p in folder.iterdir()} == {"changed"}


LONG = (
    'Status == "Approved" && DueDate >= DateTime(2026, 1, 1) and Amount > 100'
    ' && Customer.Name == "A && B || C" && (Lines.Any(l => l.Amount > 0) || Notes != null)'
)


def test_a_long_live_filter_is_written_one_line_per_top_level_condition(tmp_path: Path) -> None:
    """A later change to one condition is then a one-line diff; the value is the same."""
    (f,) = build_import(_config(tmp_path, "t"), "t", [_entity("F", Filter=LONG)], tmp_path).files
    assert yaml.safe_load(f.text)["filter"] == LONG
    assert (
        'filter: >-\n  Status == "Approved"\n  && DueDate >= DateTime(2026, 1, 1)\n  and Amount > 100\n'
        '  && Customer.Name == "A && B || C"\n  && (Lines.Any(l => l.Amount > 0) || Notes != null)\n'
    ) in f.text
    assert format_text(f.text) == f.text
    assert not f.breaches


@pytest.mark.parametrize(
    "text",
    [
        'Status == "Approved" && Amount > 100',  # short: one line
        "A == 1  && B == 2" + " && C == 3" * 12,  # two spaces before the first: no fold there
        "(" + " && ".join(f"F{i} == {i}" for i in range(20)) + ")",  # all inside parentheses
        "Status == \"Open' && " + "x" * 100,  # does not lex: as it is
    ],
)
def test_a_filter_is_folded_only_where_the_fold_reads_back_as_one_space(tmp_path: Path, text: str) -> None:
    (f,) = build_import(_config(tmp_path, "t"), "t", [_entity("F", Filter=text)], tmp_path).files
    assert yaml.safe_load(f.text)["filter"] == text
    lines = f.text.splitlines()
    if len(text) <= 100 or not text.startswith("A"):
        assert "filter: >-" not in lines
    else:
        assert "  A == 1  && B == 2" in lines and "  && C == 3" in lines


def test_live_integrations_with_the_same_name_each_get_a_file_and_those_without_a_name_are_listed(
    tmp_path: Path,
) -> None:
    """Before: they shared one file name and all but one were silently left out of the import. One with
    no usable name (empty, null, blank, not a string) gets no file, which plan could never match to it
    (it would create a second integration): its key is listed instead."""
    live = [
        _entity("", Id=1, MaxAttempts=0),
        {**_entity("", Id=2), "Name": None},
        _entity("Twin", Id=3, Notes="first"),
        _entity("Twin", Id=4, Notes="second"),
        _entity("Single", Id=5),
        {**_entity("", Id=6), "Name": 7},
        _entity("  ", Id=8),
    ]
    result = build_import(_config(tmp_path, "t"), "t", live, tmp_path)
    assert sorted(f.path.name for f in result.files) == ["single.yaml", "twin-key-3.yaml", "twin-key-4.yaml"]
    assert result.unnamed == [1, 2, 6, 8]
    notes = {f.path.name: yaml.safe_load(f.text).get("notes") for f in result.files}
    assert (notes["twin-key-3.yaml"], notes["twin-key-4.yaml"]) == ("first", "second")
    flagged = {f.path.name for f in result.flagged}
    assert "twin-key-3.yaml" in flagged
