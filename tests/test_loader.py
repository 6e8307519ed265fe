"""The loader: positions of keys and values, scalar start indexes and styles, and every failure
mode as a located diagnostic."""

from __future__ import annotations

from pathlib import Path

from integration_sync import loader
from integration_sync.loader import load_definitions, parse


def _one(text: str) -> loader.YamlDoc:
    docs, diags = parse(text, "x.yaml")
    assert diags == []
    assert len(docs) == 1
    return docs[0]


def test_positions_of_keys_values_and_list_items() -> None:
    doc = _one("name: A\nsync:\n  tenants: [local, 'tag:uk']\n")
    assert (doc.mark(("name",)).line, doc.mark(("name",)).col) == (1, 7)
    assert (doc.mark(("sync",), key=True).line, doc.mark(("sync",), key=True).col) == (2, 1)
    item = doc.mark(("sync", "tenants", 1))
    assert (item.line, item.col, item.style) == (3, 20, "'")
    # a path that does not exist falls back to its nearest ancestor
    assert doc.mark(("sync", "previous_names", 0)) == doc.mark(("sync",))


def test_scalar_index_and_style_for_the_filter_mapping() -> None:
    text = 'name: A\nfilter: "Status == \\"x\\""\nnotes: |\n  two\n  lines\n'
    doc = _one(text)
    flt = doc.mark(("filter",))
    assert text[flt.index] == '"'
    assert flt.style == '"'
    notes = doc.mark(("notes",))
    assert (notes.style, text[notes.index]) == ("|", "|")
    assert doc.data["notes"] == "two\nlines\n"
    plain = doc.mark(("name",))
    assert plain.style is None and text[plain.index] == "A"


def test_timestamps_stay_text_and_yaml_11_values_are_kept() -> None:
    doc = _one("a: 2026-01-01\nb: yes\nc: 0x10\nd: ~\n")
    assert doc.data == {"a": "2026-01-01", "b": True, "c": 16, "d": None}
    assert doc.mark(("b",)).tag == "tag:yaml.org,2002:bool"


def test_merge_keys_explicit_keys_win() -> None:
    doc = _one("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n")
    assert doc.data["m"] == {"y": 3, "x": 1}


def test_multiple_documents_and_empty_ones_between_markers() -> None:
    docs, diags = parse("---\na: 1\n---\n---\nb: 2\n...\n", "x.yaml")
    assert diags == []
    assert [d.data for d in docs] == [{"a": 1}, {"b": 2}]
    assert docs[1].start.line == 5


def test_duplicate_key_names_both_lines() -> None:
    _, diags = parse("a: 1\nb: 2\na: 3\n", "x.yaml")
    [d] = diags
    assert (d.line, d.col, d.rule) == (3, 1, "yaml-duplicate-key")
    assert "first at line 1" in d.message


def test_nested_duplicate_key_is_found_too() -> None:
    _, diags = parse("sync:\n  tenants: [a]\n  tenants: [b]\n", "x.yaml")
    assert [(d.line, d.col, d.json_path) for d in diags] == [(3, 3, "$.sync.tenants")]


def test_alias_bomb_is_rejected_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 30)]
    text = "\n".join(lines) + "\n"  # 10**30 nodes if expanded: this test would never end
    _, diags = parse(text, "bomb.yaml")
    assert [d.rule for d in diags] == ["yaml-alias-bomb"]


def test_a_value_written_as_an_alias_is_located_at_the_alias() -> None:
    text = "name: &n N\nnotes: *n\nmax_attempts: &m 0\nsync:\n  tenants: &t [a]\n  previous_names: *t\nbatch_size: *m\n"
    [doc], diags = parse(text, "x.yaml")
    assert diags == []
    assert doc.data["batch_size"] == 0 and doc.data["sync"]["previous_names"] == ["a"]
    at = {path: (doc.mark(path).line, doc.mark(path).col) for path in doc.value_nodes}
    assert at[("batch_size",)] == (7, 13)
    assert at[("max_attempts",)] == (3, 15)
    assert at[("notes",)] == (2, 8)
    assert at[("sync", "previous_names")] == (6, 19)
    assert at[("sync", "previous_names", 0)] == (5, 16)  # inside the alias: where it is written
    scalar = doc.scalar(("notes",))  # the text of an alias is the anchor's: positions inside map there
    assert scalar is not None and (scalar.line, scalar.col, scalar.raw) == (1, 7, "N")


def test_an_error_in_an_aliased_value_is_reported_at_the_alias(tmp_path: Path) -> None:
    from integration_sync.config import Config, TenantConfig
    from integration_sync.validate import validate

    (tmp_path / "a.yaml").write_text(
        "name: A\ndirection: Inbound\nentity: E\nconsent_type: C\nmax_attempts: &m 0\nbatch_size: *m\n",
        encoding="utf-8",
    )
    config = Config(tmp_path / "c.yaml", tmp_path, tmp_path, (TenantConfig("t", "emulator:t"),))
    found = sorted((d.line, d.col, d.json_path) for d in validate(config).errors)
    assert found == [(5, 15, "$.max_attempts"), (6, 13, "$.batch_size")]


def test_tabs_in_indentation_are_named() -> None:
    _, diags = parse("a:\n  b: 1\n\tc: 2\n", "x.yaml")
    assert [(d.line, d.col, d.rule) for d in diags] == [(3, 1, "yaml-tab")]


def test_syntax_error_is_located() -> None:
    _, diags = parse("a: [1, 2\nb: 3\n", "x.yaml")
    [d] = diags
    assert d.rule == "yaml-syntax"
    assert d.line == 2
    assert "flow sequence" in d.message


def test_control_character_is_located() -> None:
    _, diags = parse("a: 1\nb: x\x07y\n", "x.yaml")
    assert [(d.line, d.col, d.rule) for d in diags] == [(2, 5, "yaml-syntax")]
    assert "#x0007" in diags[0].message


def test_non_utf8_points_at_the_byte() -> None:
    text, diags = loader.decode("a: 1\nb: caf\xe9\n".encode("latin-1"), "x.yaml")
    assert text is None
    assert [(d.line, d.col, d.rule) for d in diags] == [(2, 7, "yaml-encoding")]


def test_bom_is_dropped_so_indexes_match_the_text() -> None:
    text, diags = loader.decode(b"\xef\xbb\xbfa: 1\n", "x.yaml")
    assert diags == []
    assert text == "a: 1\n"


def test_file_over_the_size_cap_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (loader.MAX_BYTES + 1))
    defs, diags = load_definitions(path, "big.yaml")
    assert defs == []
    assert [(d.line, d.col, d.rule) for d in diags] == [(1, 1, "file-too-large")]


def test_definition_positions_and_location(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("# modeline\nname: A\nmax_attempts: 3\n---\nname: B\n", encoding="utf-8")
    defs, diags = load_definitions(path, "defs/x.yaml")
    assert diags == []
    assert [d.name for d in defs] == ["A", "B"]
    assert [d.location for d in defs] == ["defs/x.yaml:2", "defs/x.yaml:5"]
    assert defs[0].pos(("max_attempts",)) == (3, 15)
    assert defs[0].pos(("max_attempts",), key=True) == (3, 1)
    mark = defs[0].scalar(("name",))
    assert mark is not None and defs[0].source[mark.index] == "A"
    assert defs[0].scalar(("nope",)) is None


def test_non_mapping_documents(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("name: A\n---\n- 1\n---\n42\n", encoding="utf-8")
    defs, diags = load_definitions(path, "x.yaml")
    assert [d.name for d in defs] == ["A"]
    assert [(d.line, d.message.split(", not ")[1]) for d in diags] == [(3, "a list"), (5, "a number")]


def test_folders_are_searched_for_yaml_files_only(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("b.yaml", "a.yml", "sub/c.yaml", "notes.txt"):
        (tmp_path / name).write_text("x: 1\n", encoding="utf-8")
    names = [p.relative_to(tmp_path).as_posix() for p in loader.definition_files([tmp_path])]
    assert names == ["a.yml", "b.yaml", "sub/c.yaml"]


def test_folder_search_skips_hidden_folders_and_does_not_follow_folder_links(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / "sub" / "a.yaml").write_text("x: 1\n", encoding="utf-8")
    (tmp_path / ".git" / "b.yaml").write_text("x: 1\n", encoding="utf-8")
    (tmp_path / "sub" / "loop").symlink_to(tmp_path, target_is_directory=True)
    names = [p.relative_to(tmp_path).as_posix() for p in loader.definition_files([tmp_path])]
    assert names == ["sub/a.yaml"]


def test_a_filter_negation_read_as_a_tag_is_explained_and_shown_short() -> None:
    _, diags = parse("filter: !!IsDeleted\nnotes: x\n", "x.yaml")
    assert [(d.line, d.col, d.rule) for d in diags] == [(1, 9, "yaml-tag")]
    assert "if the ! is part of the text, quote the whole value" in diags[0].message
    _, diags = parse("notes: " + "!" * 500 + "A\n", "x.yaml")
    assert len(diags[0].message) < 200


def test_a_variable_inside_a_flow_list_is_told_to_be_quoted() -> None:
    _, diags = parse("sync:\n  previous_names: [Export ${region}]\n", "x.yaml")
    [d] = diags
    assert (d.line, d.col, d.rule) == (2, 28, "yaml-syntax")
    assert d.message.endswith('(inside [...] a ${variable} must be quoted: ["Export ${region}"])')


def test_every_key_and_value_mistake_of_a_document_is_said_at_once() -> None:
    """Duplicate keys, keys that are not strings, tags and oversized integers do not stop the walk: each
    is a diagnostic of its own, in file order, and the document is not used (no half of it is)."""
    text = (
        "a: 1\n"
        "a: 2\n"  # duplicate
        "b: !!set {x}\n"  # a tag on a mapping
        "c:\n  d: !!binary aGk=\n  d: 3\n"  # a tag on a scalar, a nested duplicate
        "1: x\n"  # a key YAML reads as a number
        "e: " + "9" * 5000 + "\n"  # an integer past Python's limit
    )
    docs, diags = parse(text, "x.yaml")
    assert docs == []
    assert [(d.line, d.rule) for d in diags] == [
        (2, "yaml-duplicate-key"),
        (3, "yaml-tag"),
        (5, "yaml-tag"),
        (6, "yaml-duplicate-key"),
        (7, "yaml-key"),
        (8, "yaml-number"),
    ]
    assert [d.json_path for d in diags][:4] == ["$.a", "$.b", "$.c.d", "$.c.d"]


def test_a_document_with_a_mistake_does_not_hide_the_next_documents() -> None:
    docs, diags = parse("a: 1\na: 2\n---\nb: 1\n---\nc: !foo x\n", "x.yaml")
    assert [d.data for d in docs] == [{"b": 1}]
    assert [(d.line, d.rule) for d in diags] == [(2, "yaml-duplicate-key"), (6, "yaml-tag")]
