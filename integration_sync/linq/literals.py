"""What the library checks in a literal once the lexer has found it: a string's escapes (through
``Regex.Unescape``, ``unescape.py``) and an integer's prefix, digits and range."""

from __future__ import annotations

from integration_sync.linq.tokens import LinqSyntaxError, Token
from integration_sync.linq.unescape import UnescapeError, regex_unescape


def string_value(tok: Token) -> str:
    """The value of a string or char literal token, its escapes resolved as the library resolves them."""
    try:
        return regex_unescape(tok.text[1:-1])
    except UnescapeError as exc:
        raise LinqSyntaxError(tok.pos, str(exc)) from exc


def check_integer(tok: Token) -> None:
    """``NumberParser.ParseIntegerLiteral``: range and prefix checks the lexer leaves to the parser."""
    text = tok.text
    negative = text.startswith("-")
    body = text[1:] if negative else text
    lowered = body.lower()
    if lowered.startswith("0b"):
        digits = body[2:]
        if len(digits) > 64:
            raise LinqSyntaxError(tok.pos, f"Invalid binary integer literal '{digits}'")
        return
    hexadecimal = lowered.startswith("0x")
    qualifiers = "UuLl" if hexadecimal else "UuLlFfDdMm"
    stripped = body.rstrip(qualifiers)
    qualifier = body[len(stripped) :]
    digits = stripped[2:] if hexadecimal else stripped
    allowed = "0123456789abcdefABCDEF" if hexadecimal else "0123456789"  # not str.isdigit: '²' is one
    if not digits or not all(c in allowed for c in digits):
        raise LinqSyntaxError(tok.pos, f"Invalid integer literal '{stripped}'")
    if len(digits.lstrip("0")) > (16 if hexadecimal else 20):  # past 2**64, and past int()'s digit limit
        shown = stripped if len(stripped) <= 40 else f"{stripped[:20]}…({len(stripped)} characters)"
        raise LinqSyntaxError(tok.pos, f"Invalid integer literal '{shown}'")
    value = int(digits, 16 if hexadecimal else 10)
    if negative:
        if value > 2**63 or (value == 2**63 and hexadecimal):
            raise LinqSyntaxError(tok.pos, f"Invalid integer literal '{stripped}'")
        if qualifier in ("U", "UL"):
            raise LinqSyntaxError(tok.pos, "'-' cannot be applied to unsigned integers.")
    elif value >= 2**64:
        raise LinqSyntaxError(tok.pos, f"Invalid integer literal '{stripped}'")
