"""``fmt``: the canonical form keeps every comment and the data, is idempotent, and never rewrites a file
it cannot read."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
import yaml
from cli_run import run_cli
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from integration_sync import fields
from integration_sync.cli import cli
from integration_sync.errors import DefinitionError
from integration_sync.formatter import format_file, format_paths, format_text
from integration_sync.yaml_style import misread

MESSY = """\
# yaml-language-server: $schema=../schemas/integration.schema.json
# second header line
sync:   # about sync
  # why these tenants
  tenants: ['*']
  previous_names:
    - Old Name   # renamed in 2026
# the notes, kept with notes
notes: |  # on the block line
  line one
  # this line is content, not a comment
# the name comment
name: 'Xero Export'  # natural key
active: yes
consent_type: "No"
system_id: ${xero_system_id}
max_attempts: 0x1F
filter:
direction: Outbound
entity: Invoice # entity eol
element_id: '12'
# at the end of the document
---
# doc two
entity: Bill
name: Two
filter: >
  folded
  text
"""

CANONICAL = """\
# yaml-language-server: $schema=../schemas/integration.schema.json
# second header line
# the name comment
name: Xero Export    # natural key
direction: Outbound
entity: Invoice # entity eol
consent_type: "No"
filter: null
system_id: ${xero_system_id}
element_id: "12"
max_attempts: 31
active: true
# the notes, kept with notes
notes: |  # on the block line
  line one
  # this line is content, not a comment
sync:   # about sync
  # why these tenants
  tenants: ["*"]
  previous_names:
    - Old Name   # renamed in 2026
# at the end of the document
---
# doc two
name: Two
entity: Bill
filter: >
  folded
  text
"""


def _comments(text: str) -> list[str]:
    return sorted(
        line[line.index("#") :].strip()
        for line in text.splitlines()
        if "#" in line and "# this line is content" not in line and '"' not in line.split("#")[0][-1:]
    )


def test_canonical_form_of_a_messy_file() -> None:
    assert format_text(MESSY) == CANONICAL


def test_every_comment_survives() -> None:
    assert _comments(format_text(MESSY)) == _comments(MESSY)


def test_data_is_unchanged_as_the_loader_reads_it() -> None:
    assert list(yaml.safe_load_all(format_text(MESSY))) == list(yaml.safe_load_all(MESSY))


def test_idempotent() -> None:
    once = format_text(MESSY)
    assert format_text(once) == once


def test_keys_follow_the_schema_with_unknown_keys_before_sync() -> None:
    shuffled = "sync: {tenants: [a]}\nzeta: 1\nactive: true\nname: n\nalpha: 2\n"
    out = format_text(shuffled)
    assert [line.split(":")[0] for line in out.splitlines() if not line.startswith(" ")] == [
        "name",
        "active",
        "zeta",
        "alpha",
        "sync",
    ]
    schema_order = [k for k in fields.yaml_keys() if k in {"name", "active", "sync"}]
    assert schema_order == ["name", "active", "sync"]


def test_sync_keys_in_schema_order() -> None:
    out = format_text("name: a\nsync:\n  ignore_changes: [notes]\n  previous_names: [b]\n  tenants: [x]\n")
    assert out == "name: a\nsync:\n  tenants: [x]\n  previous_names: [b]\n  ignore_changes: [notes]\n"


@pytest.mark.parametrize("word", ["no", "No", "yes", "on", "OFF", "null", "~", "12", "0x1F", "1.5", "y", "n"])
def test_strings_that_yaml_would_misread_are_double_quoted(word: str) -> None:
    assert misread(word)
    out = format_text(f"name: '{word}'\n")
    assert out == f'name: "{word}"\n'
    assert yaml.safe_load(out) == {"name": word}


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("${xero_system_id}", "${xero_system_id}"),
        ('Status == "Approved" && DueDate >= DateTime(2026, 1, 1)', None),
        ("a: b", '"a: b"'),
        ("it's", "it's"),
        ("*star", '"*star"'),
        ("hash#inside", "hash#inside"),
        ("trailing #hash", '"trailing #hash"'),
        ("x # y", '"x # y"'),
    ],
)
def test_quoting_only_where_needed_and_always_double(value: str, written: str | None) -> None:
    out = format_text(yaml.safe_dump({"filter": value}))
    assert out == f"filter: {written or value}\n"
    assert yaml.safe_load(out) == {"filter": value}


def test_multi_line_strings_become_literal_blocks_unless_a_block_cannot_hold_them() -> None:
    for value, start in [("a\nb", "|-\n"), ("a\nb\n", "|\n"), ("a\nb\n\n", '"a'), ("a\r\nb", '"a')]:
        out = format_text(yaml.safe_dump({"notes": value}))
        assert out.startswith(f"notes: {start}"), out
        assert yaml.safe_load(out) == {"notes": value}


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("\tab\nc", '"\\tab\\nc"'),
        ("\n", '"\\n"'),
        ("\n\tx\ny", '"\\n\\tx\\ny"'),
        ("ab\n\tc", "|-\n  ab\n  \tc"),
    ],
)
def test_multi_line_strings_a_literal_block_cannot_hold_for_every_reader_are_double_quoted(
    value: str, written: str
) -> None:
    """libyaml refuses a tab where a block's indentation is read, and a value of line breaks only needs
    ``|+`` and a ``...`` marker: before, fmt refused such a file ("cannot keep this file's data") or
    added a ``...`` on every run."""
    out = format_text(yaml.safe_dump({"notes": value}))
    assert out == f"notes: {written}\n"
    assert yaml.safe_load(out) == {"notes": value}
    assert format_text(out) == out


def test_a_yaml_directive_before_the_first_document_is_kept() -> None:
    """Before: fmt formatted the directive alone and failed ("cannot read") on a file validate accepts."""
    assert format_text("%YAML 1.1\n---\nentity: b\nname: a\n") == "%YAML 1.1\n---\nname: a\nentity: b\n"


def test_long_lists_and_lists_with_comments_stay_one_item_per_line() -> None:
    long = [f"previous name number {i}" for i in range(8)]
    out = format_text(yaml.safe_dump({"name": "a", "sync": {"previous_names": long}}))
    assert "  previous_names:\n    - previous name number 0\n" in out
    commented = "name: a\nsync:\n  tenants:\n    - a   # why a\n    - b\n"
    assert format_text(commented) == commented


def test_windows_line_ends_are_kept_and_the_bom_dropped() -> None:
    """A Windows checkout (``core.autocrlf``) has CRLF files: they are canonical as they are, so
    ``fmt --check`` in a pre-commit hook does not flag every file there."""
    assert format_text("\ufeffentity: b\r\nname: a\r\n") == "name: a\r\nentity: b\r\n"
    crlf = "name: a\r\nfilter: |-\r\n  x\r\n  y\r\nnotes: >-\r\n  one\r\n  two\r\n"
    assert format_text(crlf) == crlf
    assert yaml.safe_load(format_text(crlf)) == {"name": "a", "filter": "x\ny", "notes": "one two"}
    assert format_text("name: a\nentity: b\r\n") == "name: a\nentity: b\n"  # the first line decides


def test_cli_check_passes_a_canonical_crlf_file(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_bytes(b"# c\r\nname: a\r\nentity: b\r\n")
    result = CliRunner().invoke(cli, ["fmt", "--check", str(path)])
    assert result.exit_code == 0, result.output
    path.write_bytes(b"entity: b\r\nname: a\r\n")
    assert CliRunner().invoke(cli, ["fmt", str(path)]).exit_code == 0
    assert path.read_bytes() == b"name: a\r\nentity: b\r\n"


@pytest.mark.parametrize(
    ("text", "line", "col"),
    [
        ("name: a\n  b: [\n", 2, 4),
        ("name: a\nname: b\n", 2, 1),
        ("name: a\nentity: [x\n", 3, 1),
    ],
)
def test_unreadable_yaml_is_an_error_with_a_place(text: str, line: int, col: int) -> None:
    with pytest.raises(DefinitionError) as info:
        format_text(text, "defs/x.yaml")
    assert (info.value.path, info.value.line, info.value.col) == ("defs/x.yaml", line, col)


def _write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")


@pytest.mark.slow
def test_cli_check_lists_files_and_exits_1_then_fmt_rewrites_then_check_is_clean(tmp_path: Path) -> None:
    _write(tmp_path, {"messy.yaml": MESSY, "clean.yaml": CANONICAL})
    runner = CliRunner()
    check = runner.invoke(cli, ["fmt", "--check", str(tmp_path)])
    assert check.exit_code == 1
    assert "would reformat" in check.stdout and "messy.yaml" in check.stdout
    assert "clean.yaml" not in check.stdout
    assert (tmp_path / "messy.yaml").read_text() == MESSY  # --check changes nothing

    run = runner.invoke(cli, ["fmt", str(tmp_path)])
    assert run.exit_code == 0, run.output
    assert (tmp_path / "messy.yaml").read_text() == CANONICAL
    again = runner.invoke(cli, ["fmt", "--check", str(tmp_path)])
    assert again.exit_code == 0
    assert again.stdout == ""


def test_cli_reports_an_unparseable_file_and_leaves_it_alone(tmp_path: Path) -> None:
    broken = "name: a\n  entity: [\n"
    _write(tmp_path, {"broken.yaml": broken, "messy.yaml": MESSY})
    out = CliRunner().invoke(cli, ["fmt", str(tmp_path)])
    assert out.exit_code == 1
    assert "broken.yaml:2:9:" in out.stderr
    assert "Traceback" not in out.output
    assert (tmp_path / "broken.yaml").read_text() == broken
    assert (tmp_path / "messy.yaml").read_text() == CANONICAL  # the good file is still formatted


def test_cli_reports_a_file_it_cannot_write_and_formats_the_others(tmp_path: Path) -> None:
    # The temporary file beside it gets a name over the file system's limit of 255 bytes.
    long_name = "x" * 245 + ".yaml"
    _write(tmp_path, {long_name: MESSY, "messy.yaml": MESSY})
    out = CliRunner().invoke(cli, ["fmt", str(tmp_path)])
    assert out.exit_code == 1 and not isinstance(out.exception, OSError), out.exception
    assert f"{long_name}: cannot write it: " in out.stderr
    assert "1 file reformatted, 0 unchanged, 1 with errors" in out.stderr
    assert (tmp_path / long_name).read_text() == MESSY
    assert (tmp_path / "messy.yaml").read_text() == CANONICAL


def test_cli_defaults_to_the_config_definitions_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "defs").mkdir()
    _write(tmp_path / "defs", {"a.yaml": "entity: b\nname: a\n"})
    (tmp_path / "integration-sync.yaml").write_text(
        "definitions: defs\ntenants:\n  - {name: local, url: 'emulator:local'}\n"
    )
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(cli, ["fmt"])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "defs" / "a.yaml").read_text() == "name: a\nentity: b\n"


def test_anchors_aliases_and_merge_keys_are_kept_and_the_order_stays() -> None:
    text = "name: a\nsync:\n  tenants: [x]\nnotes: &n hi\nentity: *n\n"
    assert format_text(text) == text
    merged = "name: a\nsync:\n  <<: {tenants: [acme]}\n  ignore_changes: [notes]\n"
    assert format_text(merged) == merged


EXAMPLES = Path(__file__).parent / "examples"


@pytest.mark.parametrize("path", sorted(EXAMPLES.rglob("*.yaml")), ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_example_file_is_formatted_faithfully_or_reported(path: Path) -> None:
    result = format_file(path)
    if result.error is not None:
        assert result.error.path and result.error.line is not None, result.error
        assert "cannot keep" not in str(result.error)
        return
    assert result.formatted is not None
    assert format_text(result.formatted) == result.formatted
    assert _comments(result.formatted) == _comments(result.original.replace("\ufeff", ""))


_TRICKY = st.sampled_from(
    [
        "no",
        "Yes",
        "on",
        "null",
        "~",
        "12",
        "0o17",
        "1e3",
        "${v}",
        "a: b",
        "- x",
        "#x",
        "x #y",
        "'q'",
        '"d"',
        "",
    ]
)
_STRINGS = st.one_of(_TRICKY, st.text(max_size=30))
_VALUES = st.one_of(_STRINGS, st.integers(-(2**31), 2**31 - 1), st.booleans(), st.none())


def _as_written(data: dict[str, object]) -> dict[str, object]:
    """The data fmt keeps: a string field that YAML reads as a boolean or number becomes the text
    written (safe_dump's spelling), everything else as read."""
    strings = {f.yaml for f in fields.catalogue() if "string" in f.types}
    return {
        k: (str(v).lower() if isinstance(v, bool) else str(v))
        if k in strings and isinstance(v, bool | int | float)
        else v
        for k, v in data.items()
    }


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(
    doc=st.dictionaries(st.sampled_from(fields.yaml_keys()[:-1]), _VALUES, min_size=1),
    sync=st.dictionaries(
        st.sampled_from(["ignore_changes", "previous_names", "tenants"]), st.lists(_STRINGS, max_size=4)
    ),
    seed=st.randoms(use_true_random=False),
)
def test_any_definition_keeps_its_data_and_formats_idempotently(
    doc: dict[str, object], sync: dict[str, object], seed: random.Random
) -> None:
    items = list(doc.items()) + ([("sync", sync)] if sync else [])
    seed.shuffle(items)
    text = yaml.safe_dump(dict(items), sort_keys=False, allow_unicode=True)
    out = format_text(text)
    assert yaml.safe_load(out) == _as_written(yaml.safe_load(text))
    assert format_text(out) == out
    keys = [k for k in yaml.safe_load(out)]
    assert keys == [k for k in fields.yaml_keys() if k in keys]


def test_the_repository_definitions_are_canonical() -> None:
    folder = Path(__file__).parent.parent / "definitions"
    results = format_paths([folder], write=False)
    assert results and not [r.path for r in results if r.changed or r.error]


@pytest.mark.parametrize("style", [">-", "|-", ">"])
def test_a_block_scalar_keeps_its_lines(style: str) -> None:
    text = f"name: a\nfilter: {style}\n  Status\n  && x\n"
    out = format_text(text)
    assert yaml.safe_load(out) == yaml.safe_load(text)
    assert out == text


@pytest.mark.parametrize("style", [">-", ">", "|-"])
def test_a_block_scalar_that_holds_one_line_becomes_plain(style: str) -> None:
    out = format_text(f"name: a\nfilter: {style}\n  Status && x\n")
    assert out == (
        "name: a\nfilter: Status && x\n" if style != ">" else "name: a\nfilter: |\n  Status && x\n"
    )


LONG_FILTER = 'Status == "Approved" && DueDate >= DateTime(2026, 1, 1) && Amount > 100'


@pytest.mark.parametrize(
    "written",
    [
        'filter: Status == "Approved"\n  && DueDate >= DateTime(2026, 1, 1)\n      && Amount > 100\n',
        "filter: 'Status == \"Approved\"\n  && DueDate >= DateTime(2026, 1, 1)\n  && Amount > 100'\n",
        'filter: >-\n  Status == "Approved"\n  && DueDate >= DateTime(2026, 1, 1)\n  && Amount > 100\n\n\n',
        'filter: "Status == \\"Approved\\"\n  && DueDate >= DateTime(2026, 1, 1)\n  && Amount > 100"\n',
    ],
    ids=["plain", "single-quoted", "folded-trailing-blank", "double-quoted-with-escapes"],
)
def test_a_string_written_over_several_lines_keeps_its_line_breaks(written: str) -> None:
    """A long filter the author broke over lines is a folded block broken at the same places (a pull
    request then shows the one line that changed), not one long joined line."""
    text = f"name: a\n{written}"
    out = format_text(text)
    assert out == (
        'name: a\nfilter: >-\n  Status == "Approved"\n  && DueDate >= DateTime(2026, 1, 1)\n  && Amount > 100\n'
    )
    assert yaml.safe_load(out) == yaml.safe_load(text) == {"name": "a", "filter": LONG_FILTER}
    assert format_text(out) == out


@pytest.mark.parametrize("quote", ["", '"'])
@pytest.mark.parametrize("gap", ["", "\n"])
def test_a_comment_after_a_string_that_becomes_a_block_gets_no_blank_line(quote: str, gap: str) -> None:
    """A flow scalar over several lines followed by a comment (above the next key, or at the end)
    becomes a folded block; the comment follows it as written, with no blank line that was not there
    (the author's own blank line stays one)."""
    text = f"name: a\nfilter: {quote}A == 1\n  && B == 2{quote}\n{gap}# about active\nactive: true\n# end\n"
    out = format_text(text)
    assert out == f"name: a\nfilter: >-\n  A == 1\n  && B == 2\n{gap}# about active\nactive: true\n# end\n"
    assert format_text(out) == out
    last = f"name: a\nfilter: {quote}A == 1\n  && B == 2{quote}\n# end\n"
    assert format_text(last) == "name: a\nfilter: >-\n  A == 1\n  && B == 2\n# end\n"


def test_a_long_one_line_filter_stays_one_line() -> None:
    text = f"name: a\nfilter: {LONG_FILTER} && {LONG_FILTER}\n"
    assert format_text(text) == text


def test_line_breaks_a_folded_block_cannot_reproduce_are_joined_and_folded_items_leave_brackets() -> None:
    # an escape in a double-quoted scalar: one line, as before; a list item broken over lines: a
    # folded item, so the list is one item per line (a block cannot sit inside [...])
    text = 'name: a\nnotes: "x\\t\n  y"\nsync:\n  previous_names: [a, "b\n    c"]\n'
    out = format_text(text)
    assert out == 'name: a\nnotes: "x\\t y"\nsync:\n  previous_names:\n    - a\n    - >-\n      b\n      c\n'
    assert yaml.safe_load(out) == yaml.safe_load(text)
    assert format_text(out) == out


def test_a_folded_filter_keeps_its_error_positions_after_fmt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (
        "name: a\ndirection: Inbound\nentity: b\nconsent_type: c\nfilter: Status == 1 &&\n    Amount =< 3\n"
    )
    (tmp_path / "a.yaml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(cli, ["validate", "a.yaml"]).output.startswith("a.yaml:6:13: error: filter:")
    assert runner.invoke(cli, ["fmt", "a.yaml"]).exit_code == 0
    assert (
        (tmp_path / "a.yaml")
        .read_text(encoding="utf-8")
        .endswith("filter: >-\n  Status == 1 &&\n  Amount =< 3\n")
    )
    assert runner.invoke(cli, ["validate", "a.yaml"]).output.startswith("a.yaml:7:11: error: filter:")


def test_quoted_strings_lose_needless_quotes() -> None:
    assert format_text("name: 'a'\nentity: \"b\"\nsync:\n  tenants: ['x', 'tag:uk']\n") == (
        'name: a\nentity: b\nsync:\n  tenants: [x, "tag:uk"]\n'
    )


def test_cli_diff_shows_the_change_and_writes_nothing(tmp_path: Path) -> None:
    _write(tmp_path, {"a.yaml": "entity: b\nname: a\n", "ok.yaml": "name: a\n"})
    runner = CliRunner()
    out = runner.invoke(cli, ["fmt", "--diff", str(tmp_path)])
    assert out.exit_code == 0
    assert out.stdout.splitlines()[2:] == ["@@ -1,2 +1,2 @@", "+name: a", " entity: b", "-name: a"]
    assert out.stdout.startswith("--- a/") and "a.yaml" in out.stdout.splitlines()[0]
    assert (tmp_path / "a.yaml").read_text() == "entity: b\nname: a\n"
    assert runner.invoke(cli, ["fmt", "--check", "--diff", str(tmp_path)]).exit_code == 1


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(
    doc=st.dictionaries(st.sampled_from(fields.yaml_keys()[:-1]), _VALUES, min_size=2),
    tenants=st.lists(_STRINGS, min_size=1, max_size=3),
    seed=st.randoms(use_true_random=False),
)
def test_comments_above_keys_move_with_their_keys(
    doc: dict[str, object], tenants: list[str], seed: random.Random
) -> None:
    items = [*doc.items(), ("sync", {"tenants": tenants})]
    seed.shuffle(items)
    lines = yaml.safe_dump(dict(items), sort_keys=False, allow_unicode=True, width=10_000).splitlines()
    commented: list[str] = []
    owner: dict[str, str] = {}
    for i, line in enumerate(lines):
        if i > 0 and re.match(r"[a-z_]+:", line) and seed.random() < 0.7:  # a top-level key's line
            comment = f"# about {line.split(':')[0]} {i}"
            owner[comment] = line.split(":")[0]
            commented.append(comment)
        commented.append(line)
    text = "\n".join(commented) + "\n"
    out = format_text(text)
    assert yaml.safe_load(out) == _as_written(yaml.safe_load(text))
    assert format_text(out) == out
    out_lines = out.splitlines()
    for comment, key in owner.items():
        at = out_lines.index(comment)
        following = next(ln for ln in out_lines[at + 1 :] if not ln.startswith("#"))
        assert following.split(":")[0] == key, (comment, out)


# --- text as written in string fields (through the CLI) ---------------------------------------------

_MISREAD = (
    "name: Texts\nentity: Invoice\nconsent_type: no\nelement_id: 0755\nnotes: 3.10\n"
    "sync:\n  tenants: [local]\n"
)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("consent_type: no", 'consent_type: "no"'),
        ("consent_type: On", 'consent_type: "On"'),
        ("element_id: 0755", 'element_id: "0755"'),
        ("element_id: 0x1F", 'element_id: "0x1F"'),
        ("element_id: 12:30", 'element_id: "12:30"'),
        ("notes: 3.10", 'notes: "3.10"'),
        ("notes: 1e3", 'notes: "1e3"'),
        ("notes: ~", "notes: null"),
        ("notes:", "notes: null"),
        ("notes: 2026-01-01", 'notes: "2026-01-01"'),
        ("notes: ${xero_system_id}", "notes: ${xero_system_id}"),
    ],
)
def test_fmt_keeps_the_text_of_a_string_field_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], written: str, expected: str
) -> None:
    """A value YAML would misread in a string field is written as its text, quoted (the fix validate's
    yaml-quote rule asks for); a null stays null, a date stays its text, a placeholder stays plain."""
    f = tmp_path / "d.yaml"
    f.write_text(f"name: Texts\n{written}\n")
    r = run_cli(capsys, "fmt", str(f))
    assert r.code == 0, r.err
    assert expected in f.read_text().splitlines()


def test_fmt_then_validate_has_no_quoting_finding_and_numbers_still_normalise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    defs = tmp_path / "definitions"
    defs.mkdir()
    (defs / "d.yaml").write_text(_MISREAD + "batch_size: 0x10\nactive: yes\n")
    monkeypatch.chdir(tmp_path)
    before = run_cli(capsys, "validate", str(defs))
    assert before.out.count("yaml-quote") + before.err.count("yaml-quote") == 3
    r = run_cli(capsys, "fmt", str(defs))
    assert r.code == 0 and "1 file reformatted, 0 unchanged" in r.err
    text = (defs / "d.yaml").read_text()
    assert 'consent_type: "no"' in text and 'element_id: "0755"' in text and 'notes: "3.10"' in text
    assert "batch_size: 16" in text and "active: true" in text  # non-string fields still normalise
    after = run_cli(capsys, "validate", str(defs))
    assert "yaml-quote" not in after.out + after.err
    again = run_cli(capsys, "fmt", "--check", str(defs))
    assert again.code == 0 and "0 files would be reformatted, 1 unchanged" in again.err


def test_fmt_diff_headers_are_relative_to_the_working_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "defs").mkdir()
    (tmp_path / "defs" / "a.yaml").write_text("entity: b\nname: a\n")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    r = run_cli(capsys, "fmt", "--diff", str(tmp_path / "defs"))
    assert r.out.splitlines()[:2] == ["--- a/../defs/a.yaml", "+++ b/../defs/a.yaml"]
    monkeypatch.chdir(tmp_path)
    r = run_cli(capsys, "fmt", "--diff", str(tmp_path / "defs"))
    assert r.out.splitlines()[:2] == ["--- a/defs/a.yaml", "+++ b/defs/a.yaml"]
    assert "(s)" not in r.err and "1 file would be reformatted" in r.err


@pytest.mark.parametrize(
    "text",
    [
        "name: X\n<<: {consent_type: no}\n",
        "name: X\nconsent_type: no\n<<: {notes: n}\n",
        "name: X\nsync: &s {tenants: [yes]}\nnotes: x\n",
        "name: X\nnotes: &n no\nconsent_type: *n\n",
    ],
    ids=["merged", "beside-a-merge", "anchored-mapping", "anchor-and-alias"],
)
def test_a_misread_string_that_fmt_keeps_as_written_is_left_as_it_is(text: str) -> None:
    """Anchors, aliases and merges stay as written: a misread string inside them is not quoted (and
    the file is still formatted, not refused)."""
    out = format_text(text)
    assert yaml.safe_load(out) == yaml.safe_load(text)


def test_fmt_names_a_symlink_loop_as_one_unreadable_file_not_a_missing_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loop of symlinks in the folder is one located line saying what it is, as validate says it;
    the other files are still formatted."""
    defs = tmp_path / "definitions"
    defs.mkdir()
    (defs / "a.yaml").symlink_to("b.yaml")
    (defs / "b.yaml").symlink_to("a.yaml")
    (defs / "c.yaml").write_text("entity: b\nname: c\n")
    monkeypatch.chdir(tmp_path)
    for args in (["fmt", "--check"], ["fmt"]):
        r = run_cli(capsys, *args, "definitions")
        assert r.code == 1
        errors = [line for line in r.err.splitlines() if "definitions/a.yaml" in line]
        assert len(errors) == 1 and "symbolic links" in errors[0], r.err
        assert "no such file" not in r.err and "Traceback" not in r.err
    assert (defs / "c.yaml").read_text().startswith("name: c\n")


def test_a_rewrite_that_would_change_the_data_is_refused_and_says_where(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """fmt's safety net: when its rewrite would read back differently (a bug, never the user's fault),
    the file is left as it is and the error names the first place that differs."""
    from integration_sync import formatter

    real = formatter._format_body

    def corrupting(body: str, path: str) -> tuple[str, object]:
        text, as_written = real(body, path)
        return text.replace("Old Name", "Other Name"), as_written

    monkeypatch.setattr(formatter, "_format_body", corrupting)
    text = (
        "name: Export\ndirection: Inbound\nentity: Invoice\nconsent_type: OAuth\n"
        "sync:\n  previous_names:\n    - Old Name\n"
    )
    with pytest.raises(DefinitionError) as info:
        format_text(text, "x.yaml")
    assert str(info.value).endswith(
        "fmt cannot keep this file's data exactly, so it is left as it is "
        '($[0].sync.previous_names[0]: "Old Name" became "Other Name")'
    )


@pytest.mark.parametrize(
    ("before", "after", "said"),
    [
        ({"a": [1, 2]}, {"a": [1, 3]}, "$.a[1]: 2 became 3"),
        ({"a": 1}, {"a": 1.0}, "$.a: 1 became 1.0"),
        ({"a": 1, "b": None}, {"a": 1}, "$.b: only in the first (null)"),
        ([{"n": "x"}], [{"n": "x", "m": {"k": "v"}}], '$[0].m: only in the second ({"k": "v"})'),
        ({"a": 1, "z": 1}, {"a": 2, "z": 2}, "$.a: 1 became 2"),  # the first place, in path order
        ([1], [True], None),  # DeepDiff takes these for equal: it explains, equal judges
    ],
)
def test_first_difference_names_the_path_and_both_values(
    before: object, after: object, said: str | None
) -> None:
    from integration_sync.plan import first_difference

    assert first_difference(before, after) == said
