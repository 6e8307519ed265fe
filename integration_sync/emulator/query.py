"""The OData query options the emulator understands, compiled to SQLite.

``$filter``: comparisons ``eq ne gt ge lt le`` and ``in (…)`` on strings (``'it''s'``: quotes doubled),
integers, booleans and ``null``; ``and``, ``or``, ``not``, parentheses; the functions ``tolower``, ``toupper``
(one string argument) and ``contains``, ``startswith``, ``endswith`` (two). ``$orderby``: properties with
``asc``/``desc``. ``$select``: properties or ``*``. Anything else is a ``QueryError`` (a 400).
Strings compare and sort case-insensitively (``fold``), as on SQL Server's default collation, unless the
tenant's names are case-sensitive. Paging: the ``$skiptoken`` of a next link, bound to the query it pages.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

from integration_sync.emulator import model


class QueryError(ValueError):
    """A query option the emulator cannot accept: the server answers 400."""

    def __init__(self, message: str, target: str) -> None:
        super().__init__(message)
        self.message = message
        self.target = target


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^']|'')*')
      | (?P<num>-?\d+)(?![\w.])
      | (?P<punct>[(),])
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_OPS = {"eq": "IS", "ne": "IS NOT", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_OP_NAMES = {"eq": "Equal", "ne": "NotEqual", "gt": "GreaterThan", "ge": "GreaterThanOrEqual"}
_OP_NAMES |= {"lt": "LessThan", "le": "LessThanOrEqual"}
_EDM = {"string": "Edm.String", "integer": "Edm.Int32", "boolean": "Edm.Boolean", "null": "null"}


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int


@dataclass(frozen=True)
class Sql:
    """A compiled expression: SQL text, its parameters, and its EDM kind."""

    text: str
    params: tuple[Any, ...]
    kind: str


def _tokens(src: str) -> list[_Tok]:
    out = []
    pos = 0
    while pos < len(src):
        if src[pos:].strip() == "":
            break
        m = _TOKEN.match(src, pos)
        if not m:
            raise QueryError(f"Syntax error at position {pos} in '{src}'.", "$filter")
        kind = m.lastgroup or ""
        out.append(_Tok(kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return out


def _column(name: str, names: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The SQL column of a property the client names; ``names`` maps a tenant's own names to the
    schema's (the ``renamed_properties`` switch: there a schema name that was renamed is unknown)."""
    shown = name
    if names is not None:
        name = names.get(name, name)
    if name == model.KEY:
        return f'"{model.KEY}"', "integer"
    prop = model.by_name().get(name)
    if prop is None:
        raise QueryError(
            f"Could not find a property named '{shown}' on type 'FinanceKey.Integration'.", "$filter"
        )
    return f'"{prop.name}"', prop.kind


class _Parser:
    def __init__(self, src: str, fold: bool, names: Mapping[str, str] | None = None) -> None:
        self.src = src
        self.fold = fold
        self.names = names
        self.toks = _tokens(src)
        self.i = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise QueryError(f"Expression expected at the end of '{self.src}'.", "$filter")
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.take()
        if tok.text != text:
            raise QueryError(f"'{text}' expected at position {tok.pos} in '{self.src}'.", "$filter")

    def word(self, *words: str) -> str | None:
        tok = self.peek()
        if tok is not None and tok.kind == "word" and tok.text in words:
            self.i += 1
            return tok.text
        return None

    def parse(self) -> Sql:
        out = self.or_expr()
        tok = self.peek()
        if tok is not None:
            raise QueryError(f"Syntax error at position {tok.pos} in '{self.src}'.", "$filter")
        return _boolean(out, self.src)

    def or_expr(self) -> Sql:
        left = self.and_expr()
        while self.word("or"):
            right = self.and_expr()
            left = _join(left, right, "OR", self.src)
        return left

    def and_expr(self) -> Sql:
        left = self.not_expr()
        while self.word("and"):
            right = self.not_expr()
            left = _join(left, right, "AND", self.src)
        return left

    def not_expr(self) -> Sql:
        if self.word("not"):
            inner = _boolean(self.not_expr(), self.src)
            return Sql(f"NOT ({inner.text})", inner.params, "boolean")
        return self.comparison()

    def comparison(self) -> Sql:
        left = self.value()
        if self.word("in"):
            return self.in_list(left)
        op = self.word(*_OPS)
        if op is None:
            return left
        right = self.value()
        kinds = {left.kind, right.kind} - {"null"}
        if len(kinds) > 1:
            raise QueryError(
                "A binary operator with incompatible types was detected. Found operand types "
                f"'{_EDM[left.kind]}' and '{_EDM[right.kind]}' for operator kind '{_OP_NAMES[op]}'.",
                "$filter",
            )
        if op not in ("eq", "ne") and "null" in (left.kind, right.kind):
            return Sql("0", (), "boolean")
        a, b = self.folded(left), self.folded(right)
        return Sql(f"({a}) {_OPS[op]} ({b})", left.params + right.params, "boolean")

    def in_list(self, left: Sql) -> Sql:
        """``Id in (1,2)``, ``Name in ('a','b')`` (OData 4.01, which ASP.NET Core OData 8 accepts)."""
        self.expect("(")
        items = [self.value()]
        while (tok := self.peek()) is not None and tok.text == ",":
            self.i += 1
            items.append(self.value())
        self.expect(")")
        for item in items:
            if item.kind != left.kind or item.text != "?":
                raise QueryError(
                    f"The 'in' list of '{self.src}' must hold literals of type '{_EDM[left.kind]}'.",
                    "$filter",
                )
        params = tuple(p for item in items for p in item.params)
        listed = ", ".join(self.folded(item) for item in items)
        return Sql(f"({self.folded(left)}) IN ({listed})", left.params + params, "boolean")

    def folded(self, expr: Sql) -> str:
        """A string operand as a case-insensitive collation compares it (SQL Server's default)."""
        return f"fold({expr.text})" if self.fold and expr.kind == "string" else expr.text

    def value(self) -> Sql:
        tok = self.take()
        if tok.kind == "str":
            return Sql("?", (tok.text[1:-1].replace("''", "'"),), "string")
        if tok.kind == "num":
            number = int(tok.text)
            if not -(2**63) <= number < 2**63:
                raise QueryError(f"The literal '{tok.text}' is out of the range of Edm.Int64.", "$filter")
            return Sql("?", (number,), "integer")
        if tok.text == "(":
            inner = self.or_expr()
            self.expect(")")
            return inner
        if tok.kind != "word":
            raise QueryError(f"Syntax error at position {tok.pos} in '{self.src}'.", "$filter")
        if tok.text in ("true", "false"):
            return Sql("?", (1 if tok.text == "true" else 0,), "boolean")
        if tok.text == "null":
            return Sql("NULL", (), "null")
        nxt = self.peek()
        if nxt is not None and nxt.text == "(":
            return self.call(tok)
        text, kind = _column(tok.text, self.names)
        return Sql(text, (), kind)

    def call(self, name: _Tok) -> Sql:
        self.expect("(")
        args = [self.value()]
        while (tok := self.peek()) is not None and tok.text == ",":
            self.i += 1
            args.append(self.value())
        self.expect(")")
        fn = name.text
        if fn in ("tolower", "toupper") and len(args) == 1 and args[0].kind == "string":
            sql = "lower_u" if fn == "tolower" else "upper_u"
            return Sql(f"{sql}({args[0].text})", args[0].params, "string")
        if fn in ("contains", "startswith", "endswith") and len(args) == 2:
            a, b = args
            if a.kind == "string" and b.kind == "string":
                tail = {
                    "contains": "instr(({a}), ({b})) > 0",
                    "startswith": "substr(({a}), 1, length({b})) = ({b})",
                }
                tail["endswith"] = "substr(({a}), -length({b})) = ({b})"
                text = tail[fn].format(a=self.folded(a), b=self.folded(b))
                params = a.params + b.params
                if fn != "contains":
                    params = a.params + b.params + b.params
                return Sql(f"COALESCE({text}, 0)", params, "boolean")
        raise QueryError(f"Unknown function '{fn}' or wrong arguments at position {name.pos}.", "$filter")


def _boolean(expr: Sql, src: str) -> Sql:
    if expr.kind != "boolean":
        raise QueryError(
            f"The $filter expression must evaluate to a value of type 'Edm.Boolean': '{src}'.", "$filter"
        )
    return expr


def _join(left: Sql, right: Sql, op: str, src: str) -> Sql:
    a, b = _boolean(left, src), _boolean(right, src)
    return Sql(f"({a.text}) {op} ({b.text})", a.params + b.params, "boolean")


def compile_filter(
    src: str, fold: bool = True, names: Mapping[str, str] | None = None
) -> tuple[str, tuple[Any, ...]]:
    """``$filter`` as a SQL condition and its parameters; with ``fold``, strings compare
    case-insensitively, as on SQL Server's default collation (``Name eq 'a'`` matches ``A``)."""
    sql = _Parser(src, fold, names).parse()
    return sql.text, sql.params


def compile_orderby(src: str, fold: bool = True, names: Mapping[str, str] | None = None) -> str:
    """``$orderby`` as a SQL ORDER BY list; with ``fold``, strings sort case-insensitively."""
    parts = []
    for item in src.split(","):
        words = item.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise QueryError(f"Invalid $orderby item '{item.strip()}'.", "$orderby")
        try:
            col, kind = _column(words[0], names)
        except QueryError as exc:
            raise QueryError(exc.message, "$orderby") from None
        if fold and kind == "string":
            col = f"fold({col})"
        parts.append(f"{col} {'DESC' if words[-1] == 'desc' else 'ASC'}")
    return ", ".join(parts)


def parse_select(src: str, names: Mapping[str, str] | None = None) -> list[str] | None:
    """``$select`` as a list of (schema) property names; None for every property (``*``)."""
    given = [n.strip() for n in src.split(",")]
    if "*" in given:
        return None
    known = {model.KEY, *model.by_name()}
    out = []
    for n in given:
        canonical = (names or {}).get(n, n)
        if canonical not in known:
            raise QueryError(
                f"Could not find a property named '{n}' on type 'FinanceKey.Integration'.", "$select"
            )
        out.append(canonical)
    return out


def parse_nonnegative(option: str, value: str) -> int:
    """``$top``/``$skip``: a non-negative Int32, as ASP.NET Core OData reads them."""
    if not re.fullmatch(r"\d+", value.strip()) or int(value) > model.INT32_MAX:
        raise QueryError(f"Invalid value '{value}' for {option} query option found.", option)
    return int(value)


def selected(
    entity: dict[str, Any], select: Sequence[str] | None, extra: Sequence[str] = ()
) -> dict[str, Any]:
    """The public properties of a stored entity, in schema order (key first)."""
    return {n: entity[n] for n in _selected_names(None if select is None else tuple(select), tuple(extra))}


@lru_cache(maxsize=256)
def _selected_names(select: tuple[str, ...] | None, extra: tuple[str, ...]) -> tuple[str, ...]:
    names = [model.KEY, *(p.name for p in model.props()), *extra]
    return tuple(names if select is None else [n for n in names if n in select])


# --- paging: the $skiptoken of a next link is bound to the query it pages --------------------------


def parse_query(raw: str, plus_literal: bool) -> list[tuple[str, str]]:
    if plus_literal:
        raw = raw.replace("+", "%2B")
    return parse_qsl(raw, keep_blank_values=True)


def query_digest(pairs: Iterable[tuple[str, str]]) -> str:
    text = json.dumps(sorted(pairs))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def encode_skiptoken(offset: int, size: int, digest: str) -> str:
    raw = json.dumps({"o": offset, "p": size, "h": digest}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_skiptoken(token: str) -> tuple[int, int, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return int(data["o"]), int(data["p"]), str(data["h"])
    except (ValueError, KeyError, TypeError) as exc:
        raise QueryError("The $skiptoken is not valid.", "$skiptoken") from exc
