"""For the tests: print a filter's syntax tree back as text that parses to the same tree (parentheses only where needed).

Levels follow ``parser.Parser`` (1 = conditional ... 13 = primary). A lambda's body runs to the end of
the enclosing expression, so a lambda is parenthesised unless its context takes a whole expression.
"""

from __future__ import annotations

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

_BINARY_LEVEL = {
    "??": 2,
    "||": 4,
    "&&": 5,
    "&": 7,
    "|": 7,
    **dict.fromkeys(("=", "==", "!=", "<>", "<", "<=", ">", ">="), 8),
    "<<": 9,
    ">>": 9,
    "+": 10,
    "-": 10,
    "*": 11,
    "/": 11,
    "%": 11,
}
PRIMARY = 13


def level(node: Node) -> int:
    match node:
        case Conditional() | Lambda():
            return 1
        case Binary(op=op):
            return _BINARY_LEVEL[op]
        case In():
            return 6
        case Unary():
            return 12
    return PRIMARY


def to_text(node: Node) -> str:
    return _at(node, 1)


def _at(node: Node, minimum: int) -> str:
    """``node`` as text that parses back at a grammar level of at least ``minimum``."""
    text = _bare(node)
    return f"({text})" if level(node) < minimum else text


def _args(args: tuple[Node, ...]) -> str:
    return ", ".join(_at(a, 1) for a in args)


def _target(node: Node) -> str:
    # A number before '.' would lex as a real literal ("5." then "Digit expected").
    if isinstance(node, Literal) and node.kind in ("int", "real"):
        return f"({_bare(node)})"
    return _at(node, PRIMARY)


def _bare(node: Node) -> str:
    match node:
        case Literal(texts=texts):
            return " ".join(texts)
        case Name(name=name):
            return name
        case Member(target=target, name=name):
            return f"{_target(target)}.{name}"
        case Call(target=None, name=name, args=args):
            return f"{name}({_args(args)})"
        case Call(target=target, name=name, args=args) if target is not None:
            return f"{_target(target)}.{name}({_args(args)})"
        case Index(target=target, args=args):
            return f"{_target(target)}[{_args(args)}]"
        case Unary(op="-", operand=Literal(kind="int" | "real") as number):
            return f"-({_bare(number)})"  # "-5" would fold into the literal
        case Unary(op=op, operand=operand):
            return f"{op}{_at(operand, 12)}"
        case Binary(op="??", left=left, right=right):
            return f"{_at(left, 3)} ?? {_at(right, 1)}"
        case Binary(op=op, left=left, right=right):
            own = _BINARY_LEVEL[op]
            return f"{_at(left, own)} {op} {_at(right, own + 1)}"
        case Conditional(test=test, if_true=if_true, if_false=if_false):
            return f"{_at(test, 3)} ? {_at(if_true, 1)} : {_at(if_false, 1)}"
        case In(left=left, items=items, source=source, negated=negated):
            word = "not in" if negated else "in"
            if items is not None:
                listed = ", ".join(_at(i, 12) for i in items)
                return f"{_at(left, 6)} {word} ({listed})"
            assert source is not None
            return f"{_at(left, 6)} {word} {_bare(source)}"
        case Lambda(param=param, body=body):
            return f"{param} => {_at(body, 1)}"
        case TypeConversion(type_name=type_name, literal=literal):
            return f"{type_name} {_bare(literal)}"
        case StringCast(literal=literal, nullable=nullable, args=args):
            return f"{_bare(literal)}{'?' if nullable else ''}({_args(args)})"
        case New(type_name=type_name, array=array, items=items, curly=curly):
            opening, closing = ("{", "}") if curly else ("(", ")")
            head = "new" + (f" {type_name}" if type_name else "") + ("[]" if array else "")
            return f"{head}{opening}{', '.join(_bare(i) for i in items)}{closing}"
        case NewItem(value=value, alias=alias):
            return _at(value, 1) + (f" as {alias}" if alias else "")
        case OutDiscard(keyword=keyword):
            return f"{keyword} _"
    raise TypeError(f"cannot print {type(node).__name__}")
