"""Offsets in a filter's value map back to the YAML file, for every scalar style. Each case is real
YAML loaded with PyYAML: the mapped position must hold the value's character (or the escape or line
break it came from)."""

from __future__ import annotations

from typing import cast

import pytest
import yaml

from integration_sync.linq import check_filter
from integration_sync.linq.yamlpos import offset_to_linecol, source_index

DOCUMENTS = {
    "plain": 'name: x\nfilter: Status == "Open" && Amount > 5\n',
    "plain, folded over lines": 'name: x\nfilter: Status == "Open"\n  && Amount > 5\n\n  || Flag   \nnext: 1\n',
    "plain, in a flow mapping": '{filter: Status ==\n  "A", b: 1}\n',
    "plain, before a comment": "filter: A > 1 # not part of it\n",
    "single-quoted": "filter: 'Status == \"It''s\"\n  && A > 1'\n",
    "single-quoted, blank line": "filter: 'A\n\n   B'\n",
    "double-quoted": 'filter: "Status == \\"Open\\" \\x41\\u0042\\U0001F600\\t\\\\\\\n   && B\n\n  > 1"\n',
    "double-quoted, CRLF": 'filter: "a\r\n  b"\r\n',
    "literal": 'a:\n  filter: |\n    Status == "Open"\n      && A > 1\n\n    || B\n  next: 2\n',
    "literal, strip": "filter: |-\n  A > 1\n\n",
    "literal, keep, indicator": "- filter: |2+\n     Status\n    == 1\n\n- x\n",
    "literal, indicator first": "filter: |+1\n  x\n y\n",
    "literal, comment on header": "filter: | # the filter\n  A\n  B\n",
    "folded": 'a:\n  filter: >-\n    Status == "Open"\n    && A > 1\n\n      || more\n    || B\n',
    "folded, keep": "filter: >+\n  A\n  B\n\n\nnext: 1\n",
    "folded, more-indented": "filter: >\n  A\n    B\n  C\n",
}


def _filter_node(source: str) -> yaml.ScalarNode:
    def find(node: yaml.Node) -> yaml.ScalarNode | None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == "filter":
                    assert isinstance(value, yaml.ScalarNode)
                    return value
                found = find(value)
                if found:
                    return found
        if isinstance(node, yaml.SequenceNode):
            for item in node.value:
                found = find(item)
                if found:
                    return found
        return None

    node = find(cast(yaml.Node, yaml.compose(source)))
    assert node is not None
    return node


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_every_character_maps_to_where_it_was_written(name: str) -> None:
    source = DOCUMENTS[name]
    node = _filter_node(source)
    assert node.value, "the case must have a value"
    for offset, char in enumerate(node.value):
        written = source[source_index(source, node.start_mark.index, node.style, offset)]
        if char == written:
            continue
        if node.style == '"' and written == "\\":  # an escape maps to its backslash
            continue
        assert char in " \n" and written in "\r\n", (offset, char, written)  # a folded line break


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_the_end_of_the_value_maps_just_after_the_last_written_character(name: str) -> None:
    source = DOCUMENTS[name]
    node = _filter_node(source)
    end = source_index(source, node.start_mark.index, node.style, len(node.value))
    if node.style in ("'", '"'):
        assert source[end] == node.style
    else:
        assert source[end - 1] == node.value.rstrip("\n")[-1]


def _located(source: str) -> tuple[int, int, str]:
    node = _filter_node(source)
    (issue,) = [i for i in check_filter(node.value) if i.severity == "error"]
    line, col = offset_to_linecol(source, node.start_mark.index, node.style, issue.offset)
    return line, col, issue.message


def test_plain_scalar_error_column() -> None:
    assert _located("name: x\nfilter: Status == 'Open'\n") == (2, 19, _CHAR)


def test_double_quoted_scalar_error_column_counts_escapes() -> None:
    source = 'filter: "Name == \\"a\\" && Code == \'ab\'"\n'
    assert _located(source) == (1, 35, _CHAR)


def test_single_quoted_scalar_error_column_counts_doubled_quotes() -> None:
    source = "filter: 'Name == \"it''s\" && Amount =< 5'\n"
    assert _located(source)[:2] == (1, 37)


def test_literal_block_error_line_and_column() -> None:
    source = 'integration:\n  filter: |\n    Status == "Open"\n      && Amount =< 5\n'
    assert _located(source)[:2] == (4, 18)


def test_folded_block_error_line_and_column() -> None:
    source = 'filter: >\n  Status == "Open"\n  && Lines.Any(l => l.Amount =< 1)\n'
    assert _located(source)[:2] == (3, 31)


def test_error_at_the_end_of_a_block_points_after_its_last_character() -> None:
    source = "filter: |\n  (Amount > 5\nnext: 1\n"
    assert _located(source) == (2, 14, "')' or operator expected")


def test_multi_line_plain_scalar_error_on_a_continuation_line() -> None:
    source = 'filter: Status == "Open"\n  && Customer?.Name == "A"\nnext: 1\n'
    assert _located(source)[:2] == (2, 14)


@pytest.mark.parametrize(
    ("source", "where"),
    [
        ("filter: &f Status =< 1\n", (1, 20)),
        ("filter: !!str Status =< 1\n", (1, 23)),
        ("filter: &f\n  Status =< 1\n", (2, 11)),
        ("filter: &f |\n  Status =< 1\n", (2, 11)),
        ("filter: &f 'Status =< 1'\n", (1, 21)),
    ],
)
def test_an_anchor_or_tag_before_the_filter_does_not_shift_its_positions(
    source: str, where: tuple[int, int]
) -> None:
    """A node starts at its anchor or tag; the filter's characters are counted from its text."""
    assert _located(source)[:2] == where


def test_unknown_start_falls_back_to_an_estimate_instead_of_failing() -> None:
    assert offset_to_linecol("filter: A ^^ B\n", 8, None, 2) == (1, 11)


_CHAR = "Character literal must contain exactly one character"
