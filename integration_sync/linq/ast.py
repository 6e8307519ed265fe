"""The syntax tree of a filter. Positions (0-based offsets) are kept but left out of equality, so that a
printed and re-parsed tree compares equal to the original.

Operators are stored in their canonical spelling (``and`` -> ``&&``, ``not`` -> ``!``, ``eq`` -> ``=``);
literals keep their text as written (a folded ``-`` included), because the text is what the library
judges. No node knows an entity member's type: the checker judges syntax and arity only.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Node:
    pos: int = field(default=0, compare=False, kw_only=True)


@dataclass(frozen=True)
class Literal(Node):
    """``kind`` is ``string``, ``char``, ``int`` or ``real``. A string keeps each adjacent token."""

    kind: str
    texts: tuple[str, ...]


@dataclass(frozen=True)
class Name(Node):
    """A bare identifier: a member of ``it``, a lambda parameter, a keyword (``true``, ``it``, ``$``) or a
    type name (``DateTime``)."""

    name: str


@dataclass(frozen=True)
class Member(Node):
    target: Node
    name: str


@dataclass(frozen=True)
class Call(Node):
    """``name(args)`` on ``target`` (a method), or with no target: a function (``iif``, ``np``...), a
    type's constructor (``DateTime(2024, 1, 1)``, ``int?(x)``) or a method of ``it``."""

    target: Node | None
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Index(Node):
    target: Node
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Unary(Node):
    op: str  # "-" or "!"
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Conditional(Node):
    test: Node
    if_true: Node
    if_false: Node


@dataclass(frozen=True)
class In(Node):
    """``left in (items)`` or ``left in source``; ``negated`` for ``not in`` / ``not_in``."""

    left: Node
    items: tuple[Node, ...] | None
    source: Node | None
    negated: bool = False


@dataclass(frozen=True)
class Lambda(Node):
    """``param => body``. ``bare`` for an identifier declared on the spot (``x => x.A``); otherwise the
    parameter is ``it``/``$``/``root`` or one already in scope."""

    param: str
    body: Node
    bare: bool
    arrow: int = field(default=0, compare=False, kw_only=True)


@dataclass(frozen=True)
class TypeConversion(Node):
    """A type name followed by a string literal: ``DateTime "2024-01-01"`` (``int? "5"`` keeps its ``?``)."""

    type_name: str
    literal: Literal


@dataclass(frozen=True)
class StringCast(Node):
    """``"System.DateTime"(x)``: a string naming a type, used as a conversion."""

    literal: Literal
    nullable: bool
    args: tuple[Node, ...]


@dataclass(frozen=True)
class NewItem(Node):
    value: Node
    alias: str | None


@dataclass(frozen=True)
class New(Node):
    type_name: str | None
    array: bool
    items: tuple[NewItem, ...]
    curly: bool


@dataclass(frozen=True)
class OutDiscard(Node):
    """``out _`` as a method argument."""

    keyword: str


def walk(node: Node) -> list[Node]:
    """Every node of the tree, ``node`` first (pre-order)."""
    out: list[Node] = []
    stack = [node]  # iterative: a long chain of '&&' is a deep left-nested tree
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(reversed(children(current)))
    return out


def children(node: Node) -> list[Node]:
    match node:
        case Member(target=t):
            return [t]
        case Call(target=t, args=a):
            return ([t] if t is not None else []) + list(a)
        case Index(target=t, args=a):
            return [t, *a]
        case Unary(operand=o):
            return [o]
        case Binary(left=left, right=right):
            return [left, right]
        case Conditional(test=t, if_true=a, if_false=b):
            return [t, a, b]
        case In(left=left, items=items, source=source):
            return [left, *(items or ()), *([source] if source is not None else [])]
        case Lambda(body=b):
            return [b]
        case TypeConversion(literal=lit):
            return [lit]
        case StringCast(literal=lit, args=a):
            return [lit, *a]
        case New(items=items):
            return list(items)
        case NewItem(value=v):
            return [v]
    return []
