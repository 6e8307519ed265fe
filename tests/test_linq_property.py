"""Property: random filters built from the grammar of docs/linq.md parse, and printing the tree back gives text
that parses to the same tree."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from linq_printer import to_text

from integration_sync.linq import check_filter
from integration_sync.linq.parser import parse

NAMES = st.sampled_from(["Status", "Amount", "Customer", "Lines", "IsActive", "_x", "Due2", "Größe"])
BINARY = st.sampled_from(
    [
        *["||", "OR", "&&", "and", "&", "|", "==", "=", "eq", "!=", "<>", "<", "<=", ">", "ge", "<<", ">>"],
        *["+", "-", "*", "/", "%", "mod", "??"],
    ]
)
INTEGERS = st.integers(min_value=0, max_value=2**40).map(str)
SUFFIXED = st.tuples(st.integers(0, 10**6), st.sampled_from(["U", "L", "UL", "m", "f", "d"])).map(
    lambda t: f"{t[0]}{t[1]}"
)
REALS = st.tuples(st.integers(0, 999), st.integers(0, 999), st.sampled_from(["", "e5", "E-2", "m", "F"])).map(
    lambda t: f"{t[0]}.{t[1]}{t[2]}"
)
STRING_CHARS = st.sampled_from([*"abc XYZ-_.:/'%", "\\\\", '\\"', "\\n", "\\t", "\\x41", "\\u00e9"])
STRINGS = st.lists(STRING_CHARS, max_size=6).map(lambda cs: '"' + "".join(cs) + '"')
CHARS = st.sampled_from(["'a'", "'Z'", "'\\n'", "'\"'", "'\\\\'"])
HEX = st.integers(0, 2**32).map(lambda v: f"0x{v:X}")


def _leaf() -> st.SearchStrategy[str]:
    return st.one_of(
        NAMES,
        INTEGERS,
        SUFFIXED,
        REALS,
        STRINGS,
        CHARS,
        HEX,
        st.sampled_from(["true", "False", "null", "it", "DateTime.UtcNow", "Lines.Count()"]),
        NAMES.map(lambda n: f"Customer.{n}"),
    )


def _guard(e: str) -> str:
    """An operand of a binary operator, parenthesised when it holds an ``in`` list or a lambda: ``in``
    binds looser than ``&``, comparisons and arithmetic (``Status in (0) & X`` is an error in DLC), and a
    lambda's body runs to the end of the expression."""
    return f"({e})" if " in (" in e or "=>" in e else e


def _compound(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    paren = inner.map(lambda e: f"({e})")
    operand = st.one_of(inner, paren).map(_guard)
    return st.one_of(
        st.tuples(operand, BINARY, operand).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
        st.tuples(st.sampled_from(["-", "!", "not "]), paren).map(lambda t: t[0] + t[1]),
        st.tuples(paren, paren, paren).map(lambda t: f"{t[0]} ? {t[1]} : {t[2]}"),
        st.tuples(paren, paren, paren).map(lambda t: f"iif({t[0]}, {t[1]}, {t[2]})"),
        st.tuples(NAMES, inner).map(lambda t: f"isnull({t[0]}, {t[1]})"),
        st.tuples(NAMES, NAMES).map(lambda t: f"np({t[0]}.{t[1]})"),
        st.tuples(NAMES, st.lists(st.one_of(INTEGERS, STRINGS, NAMES), min_size=1, max_size=3)).map(
            lambda t: f"{t[0]} in ({', '.join(t[1])})"
        ),
        st.tuples(NAMES, NAMES, paren).map(lambda t: f"{t[0]}.Any(l => l.{t[1]} > {t[2]})"),
        st.tuples(NAMES, st.lists(inner, max_size=3)).map(lambda t: f"{t[0]}.Method({', '.join(t[1])})"),
        st.tuples(paren, INTEGERS).map(lambda t: f"{t[0]}[{t[1]}]"),
        paren.map(lambda e: f"{e}.Member"),
        # A parameter name per nesting depth: re-declaring one in scope is an error in DLC.
        inner.map(lambda e: f"p{len(e)} => p{len(e)}.A == ({e})"),
        st.tuples(INTEGERS, INTEGERS).map(lambda t: f"DateTime({t[0]}, {t[1]}, 1)"),
    )


EXPRESSIONS = st.recursive(_leaf(), _compound, max_leaves=12)


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(EXPRESSIONS)
def test_generated_filters_parse_and_print_back_to_the_same_tree(text: str) -> None:
    tree, _ = parse(text)
    printed = to_text(tree)
    assert parse(printed)[0] == tree, printed
    assert [i for i in check_filter(printed) if i.severity == "error"] == []
