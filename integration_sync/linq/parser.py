"""Recursive-descent parser for Dynamic LINQ, one method per level of DLC's ``ExpressionParser``.

It follows the library's control flow closely, because that flow decides *where* an error is
reported (the current token, or the operator/function token for arity and ``in`` errors). Where the
library would need the entity's member types to decide, the parser takes the reading that keeps a
plausible filter valid (see ``Parser.type_access``). What a literal must hold once lexed is in ``literals.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from integration_sync.linq.ast import (
    Binary,
    Call,
    Conditional,
    In,
    Index,
    Lambda,
    Literal,
    Member,
    Name,
    New,
    NewItem,
    Node,
    OutDiscard,
    StringCast,
    TypeConversion,
    Unary,
)
from integration_sync.linq.literals import check_integer, string_value
from integration_sync.linq.tokens import END, IDENT, INT, REAL, STRING, Lexer, LinqSyntaxError, Token

COMPARISON = ("=", "==", "!=", "<>", "<", "<=", ">", ">=")
CONSTANTS = ("true", "false", "null")
CONTEXT = ("it", "$", "parent", "^", "root", "~")
# Predefined types usable by their simple name (``PredefinedTypesHelper``), compared lower-cased.
TYPE_NAMES = frozenset(
    {
        "bool",
        "boolean",
        "byte",
        "char",
        "convert",
        "dateonly",
        "datetime",
        "datetimeoffset",
        "decimal",
        "double",
        "enum",
        "float",
        "guid",
        "int",
        "int16",
        "int32",
        "int64",
        "long",
        "math",
        "object",
        "sbyte",
        "short",
        "single",
        "string",
        "timeonly",
        "timespan",
        "uint",
        "uint16",
        "uint32",
        "uint64",
        "ulong",
        "uri",
        "ushort",
    }
)
_TYPE_LIKE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
NULL_PROPAGATION_MESSAGE = (
    "An expression tree lambda may not contain a null propagating operator. "
    "Use the 'np()' or 'np(...)' (null-propagation) function instead."
)


@dataclass(frozen=True)
class Note:
    """Something legal but doubtful, found while parsing (``kind`` names it)."""

    kind: str
    offset: int


class Parser:
    def __init__(self, text: str):
        self.text = text
        self.lexer = Lexer(text)
        self.tok: Token = self.lexer.next()
        self.notes: list[Note] = []
        self.params: list[str] = []  # lambda parameters in scope (DLC's ``_internals``: case-sensitive)

    # -- plumbing ---------------------------------------------------------------------------------

    def advance(self) -> Token:
        previous = self.tok
        self.tok = self.lexer.next()
        return previous

    def peek(self) -> Token:
        return self.lexer.clone().next()

    def fail(self, message: str, pos: int | None = None) -> LinqSyntaxError:
        return LinqSyntaxError(self.tok.pos if pos is None else pos, message)

    def expect(self, kind: str, message: str) -> Token:
        if self.tok.kind != kind:
            raise self.fail(message)
        return self.advance()

    # -- levels, lowest precedence first ----------------------------------------------------------

    def parse(self) -> Node:
        node = self.conditional()
        if self.tok.kind != END:
            raise self.fail("Syntax error")
        return node

    def conditional(self) -> Node:
        start = self.tok.pos
        node = self.coalesce()
        if self.tok.kind == "?":
            self.advance()
            if_true = self.conditional()
            self.expect(":", "':' expected")
            if_false = self.conditional()
            node = Conditional(node, if_true, if_false, pos=start)
        return node

    def coalesce(self) -> Node:
        node = self.lambda_operator()
        if self.tok.kind == "??":
            op = self.advance()
            node = Binary("??", node, self.conditional(), pos=op.pos)
        return node

    def lambda_operator(self) -> Node:
        node = self.or_operator()
        if self.tok.kind == "=>" and isinstance(node, Name) and self._is_parameter(node.name):
            arrow = self.advance()
            if self.tok.kind not in (IDENT, "("):
                raise self.fail("'(' expected")
            body = self.conditional()
            return Lambda(node.name, body, False, pos=node.pos, arrow=arrow.pos)
        return node

    def _is_parameter(self, name: str) -> bool:
        return name.lower() in ("it", "$", "root", "~") or name in self.params

    def or_operator(self) -> Node:
        node = self.and_operator()
        while self.tok.kind == "||":
            op = self.advance()
            node = Binary("||", node, self.and_operator(), pos=op.pos)
        return node

    def and_operator(self) -> Node:
        node = self.in_operator()
        while self.tok.kind == "&&":
            op = self.advance()
            node = Binary("&&", node, self.in_operator(), pos=op.pos)
        return node

    def in_operator(self) -> Node:
        node = self.bitwise()
        while True:
            op = self.tok
            if op.is_word("in"):
                negated = False
            elif op.is_word("not_in"):
                negated = True
            elif op.kind == "!":
                self.advance()
                if not self.tok.is_word("in"):
                    raise self.fail("in expected", op.pos)
                negated = True
            else:
                return node
            if negated:
                self.notes.append(Note("not-in", op.pos))
            self.advance()
            if self.tok.kind == "(":
                items: list[Node] = []
                while self.tok.kind != ")":
                    # DLC skips the separator without checking that it is a comma.
                    self.advance()
                    items.append(self.unary())
                    if self.tok.kind == END:
                        raise self.fail("')' or ',' expected", op.pos)
                self.advance()
                node = In(node, tuple(items), None, negated, pos=op.pos)
            elif self.tok.kind == IDENT:
                node = In(node, None, self.primary(), negated, pos=op.pos)
            else:
                raise self.fail("'(' or Identifier expected", op.pos)

    def bitwise(self) -> Node:
        node = self.comparison()
        while self.tok.kind in ("&", "|"):
            op = self.advance()
            node = Binary(op.kind, node, self.comparison(), pos=op.pos)
        return node

    def comparison(self) -> Node:
        node = self.shift()
        while self.tok.kind in COMPARISON:
            op = self.advance()
            node = Binary(op.kind, node, self.shift(), pos=op.pos)
        return node

    def shift(self) -> Node:
        node = self.additive()
        while self.tok.kind in ("<<", ">>"):
            op = self.advance()
            node = Binary(op.kind, node, self.additive(), pos=op.pos)
        return node

    def additive(self) -> Node:
        node = self.multiplicative()
        while self.tok.kind in ("+", "-"):
            op = self.advance()
            node = Binary(op.kind, node, self.multiplicative(), pos=op.pos)
        return node

    def multiplicative(self) -> Node:
        node = self.unary()
        while self.tok.kind in ("*", "/", "%"):
            op = self.advance()
            node = Binary(op.kind, node, self.unary(), pos=op.pos)
        return node

    def unary(self) -> Node:
        if self.tok.kind in ("-", "!"):
            op = self.advance()
            if op.kind == "-" and self.tok.kind in (INT, REAL):
                # A '-' directly before a number is folded into the literal, at the '-' position.
                self.tok = Token(self.tok.kind, "-" + self.tok.text, op.pos)
                return self.primary()
            return Unary(op.kind, self.unary(), pos=op.pos)
        return self.primary()

    # -- primaries --------------------------------------------------------------------------------

    def primary(self) -> Node:
        node = self.primary_start()
        while True:
            if self.tok.kind == ".":
                self.advance()
                node = self.member_access(node)
            elif self.tok.kind == "?.":
                raise self.fail(NULL_PROPAGATION_MESSAGE)
            elif self.tok.kind == "[":
                bracket = self.advance()
                args = self.arguments()
                self.expect("]", "']' or ',' expected")
                node = Index(node, args, pos=bracket.pos)
            else:
                return node

    def member_access(self, target: Node) -> Node:
        name = self.expect(IDENT, "Identifier expected")
        if self.tok.kind == "(":
            return Call(target, name.text, self.argument_list(), pos=name.pos)
        return Member(target, name.text, pos=name.pos)

    def primary_start(self) -> Node:
        tok = self.tok
        if tok.kind == IDENT:
            return self.identifier()
        if tok.kind == STRING:
            return self.string_literal(allow_cast=True)
        if tok.kind == INT:
            check_integer(tok)
            self.advance()
            return Literal("int", (tok.text,), pos=tok.pos)
        if tok.kind == REAL:
            self.advance()
            return Literal("real", (tok.text,), pos=tok.pos)
        if tok.kind == "(":
            self.advance()
            node = self.conditional()
            self.expect(")", "')' or operator expected")
            return node
        raise self.fail("Expression expected")

    def identifier(self) -> Node:
        tok = self.tok
        word = tok.text.lower()
        if word in CONSTANTS or word in CONTEXT or tok.text in self.params:
            self.advance()
            return Name(tok.text, pos=tok.pos)
        if word in ("iif", "isnull", "np", "is", "as", "cast"):
            return self.function(tok)
        if word == "new":
            return self.new()
        if word in TYPE_NAMES:
            typed = self.type_access(tok)
            if typed is not None:
                return typed
        self.advance()
        if self.tok.kind == "=>":
            return self.bare_lambda(tok)
        if self.tok.kind == "(":
            return Call(None, tok.text, self.argument_list(), pos=tok.pos)
        return Name(tok.text, pos=tok.pos)

    def bare_lambda(self, param: Token) -> Node:
        """``x => body``: DLC registers ``x`` as an inner name for ``it`` and returns the body."""
        arrow = self.advance()
        self.params.append(param.text)
        try:
            body = self.conditional()
        finally:
            self.params.pop()
        return Lambda(param.text, body, True, pos=param.pos, arrow=arrow.pos)

    def type_access(self, tok: Token) -> Node | None:
        """A predefined type name. A member of ``it`` with that name would win in DLC, and the entity's
        members are unknown here, so the name reads as a type only when what follows needs a type."""
        follower = self.peek()
        nullable = False
        if follower.kind == "?":
            after = self.lexer.clone()
            after.next()
            if after.next().kind not in ("(", STRING):
                return None
            nullable = True
        elif follower.kind == "=>":
            self.advance()
            raise self.fail("'.' or '(' or string literal expected")
        elif follower.kind not in ("(", ".", STRING):
            return None
        self.advance()
        if nullable:
            self.advance()
        name = tok.text + ("?" if nullable else "")
        if self.tok.kind == "(":
            return Call(None, name, self.argument_list(), pos=tok.pos)
        if self.tok.kind == STRING:
            literal = self.string_literal(allow_cast=False)
            assert isinstance(literal, Literal)
            return TypeConversion(name, literal, pos=tok.pos)
        self.expect(".", "'.' or '(' or string literal expected")
        return self.member_access(Name(tok.text, pos=tok.pos))

    def function(self, tok: Token) -> Node:
        self.advance()
        args = self.argument_list()
        word = tok.text.lower()
        if word == "iif" and len(args) != 3:
            raise self.fail("The 'iif' function requires three arguments", tok.pos)
        if word == "isnull" and len(args) != 2:
            raise self.fail("The 'isnull' function requires two arguments", tok.pos)
        if word == "np":
            if len(args) not in (1, 2):
                raise self.fail("The 'np' (null-propagation) function requires 1 or 2 arguments", tok.pos)
            if not _qualifies_for_np(args[0]):
                raise self.fail(
                    "The 'np' (null-propagation) function requires the first argument to be a "
                    "MemberExpression, ParameterExpression or MethodCallExpression",
                    tok.pos,
                )
        if word in ("is", "as", "cast") and len(args) not in (1, 2):
            raise self.fail(f"The '{tok.text}' function requires 1 or 2 arguments", tok.pos)
        return Call(None, tok.text, args, pos=tok.pos)

    def string_literal(self, *, allow_cast: bool) -> Node:
        tok = self.tok
        # DLC peeks at the next token (a cast looks like "System.DateTime"(x)); a lexer error there wins.
        cast = allow_cast and self.peek().kind in ("(", "?")
        value = string_value(tok)
        if tok.text[0] == "'":
            if len(value) != 1:
                raise self.fail("Character literal must contain exactly one character")
            self.advance()
            return Literal("char", (tok.text,), pos=tok.pos)
        self.advance()
        if cast and len(value) > 2 and _TYPE_LIKE.match(value):
            nullable = self.tok.kind == "?"
            if nullable:
                self.advance()
            if self.tok.kind == "(":
                literal = Literal("string", (tok.text,), pos=tok.pos)
                return StringCast(literal, nullable, self.argument_list(), pos=tok.pos)
            raise self.fail("'.' or '(' or string literal expected")
        texts = [tok.text]
        while self.tok.kind == STRING:
            string_value(self.tok)
            texts.append(self.advance().text)
        return Literal("string", tuple(texts), pos=tok.pos)

    def new(self) -> Node:
        start = self.advance()
        if self.tok.kind not in ("(", "{", "[", IDENT):
            raise self.fail("'(' or Identifier expected")
        type_name = None
        if self.tok.kind == IDENT:
            type_name = self.advance().text
            while self.tok.kind in (".", "+"):
                separator = self.advance().text
                type_name += separator + self.expect(IDENT, "Identifier expected").text
            if self.tok.kind not in ("(", "[", "{"):
                raise self.fail("'(' expected")
        array = False
        if self.tok.kind == "[":
            self.advance()
            self.expect("]", "']' expected")
            if self.tok.kind != "{":
                raise self.fail("'{' expected")
            array = True
        curly = self.advance().kind == "{"
        items: list[NewItem] = []
        while self.tok.kind not in (")", "}"):
            item_pos = self.tok.pos
            value = self.conditional()
            alias = None
            if not array:
                if self.tok.is_word("as"):
                    self.advance()
                    alias = self.expect(IDENT, "Identifier expected").text
                elif not _has_member_name(value):
                    raise self.fail("Expression is missing an 'as' clause", item_pos)
            items.append(NewItem(value, alias, pos=item_pos))
            if self.tok.kind != ",":
                break
            self.advance()
        closer = "}" if curly else ")"
        if self.tok.kind != closer:
            raise self.fail(f"'{closer}' or ',' expected" if curly else "')' or ',' expected")
        self.advance()
        return New(type_name, array, tuple(items), curly, pos=start.pos)

    def argument_list(self) -> tuple[Node, ...]:
        self.expect("(", "'(' expected")
        args = self.arguments() if self.tok.kind != ")" else ()
        self.expect(")", "')' or ',' expected")
        return args

    def arguments(self) -> tuple[Node, ...]:
        args: list[Node] = []
        while True:
            if self.tok.kind == IDENT and self.tok.text in ("out", "$out"):
                keyword = self.advance()
                if self.tok.text != "_":
                    raise self.fail("When using an out variable, a discard '_' is required.")
                self.advance()
                args.append(OutDiscard(keyword.text, pos=keyword.pos))
            else:
                args.append(self.conditional())
            if self.tok.kind != ",":
                return tuple(args)
            self.advance()


def _qualifies_for_np(node: Node) -> bool:
    """``ExpressionQualifiesForNullPropagation``: a member, a parameter or a method call."""
    if isinstance(node, Name):
        return node.name.lower() not in CONSTANTS
    return isinstance(node, (Member, Call, Lambda))


def _has_member_name(node: Node) -> bool:
    """``new(...)`` items without ``as`` must be a member (or ``member ?? default``)."""
    if isinstance(node, Binary) and node.op == "??":
        node = node.left
    if isinstance(node, Name):
        return node.name.lower() not in CONSTANTS + CONTEXT
    return isinstance(node, Member)


def parse(text: str) -> tuple[Node, list[Note]]:
    """Parse a whole filter; raises ``LinqSyntaxError`` at the first error, as DLC does."""
    parser = Parser(text)
    return parser.parse(), parser.notes
