"""The Dynamic LINQ lexer, a faithful re-reading of System.Linq.Dynamic.Core's ``TextParser``.

It is lazy on purpose: DLC lexes one token at a time as the parser asks for it, so a bad character
after the first parse error is never reported. Character classes follow .NET (``char.IsLetter``,
``char.IsDigit``, ``char.IsWhiteSpace``), not Python's ``str`` predicates.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# Identifiers spelled like these become operator tokens (``GetAliasedTokenId``), case-insensitively.
ALIASES: dict[str, str] = {
    "eq": "=",
    "equal": "=",
    "ne": "!=",
    "notequal": "!=",
    "neq": "!=",
    "lt": "<",
    "lessthan": "<",
    "le": "<=",
    "lessthanequal": "<=",
    "gt": ">",
    "greaterthan": ">",
    "ge": ">=",
    "greaterthanequal": ">=",
    "and": "&&",
    "andalso": "&&",
    "or": "||",
    "orelse": "||",
    "not": "!",
    "mod": "%",
}

# Two-character punctuators, tried before the one-character ones (one character of look-ahead only).
_PUNCT2 = ("!=", "&&", "<=", "<>", "<<", "==", "=>", ">=", ">>", "??", "?.", "||")
_PUNCT1 = "!%&(){}*+,-./:<=>?[]|"
# After a backslash inside a string literal, these characters are skipped (as is '"').
_STRING_ESCAPES = "\\abfnrtv"

IDENT, STRING, INT, REAL, END = "ident", "string", "int", "real", "end"


class LinqSyntaxError(Exception):
    """A ParseException as DLC would raise it: 0-based ``offset`` and the library's message."""

    def __init__(self, offset: int, message: str):
        super().__init__(f"{message} (at index {offset})")
        self.offset = offset
        self.message = message


@dataclass(frozen=True)
class Token:
    kind: str  # IDENT STRING INT REAL END, or the operator text ("&&" also for `and`)
    text: str  # as written
    pos: int

    def is_word(self, word: str) -> bool:
        """``TokenIdentifierIs``: an identifier token spelled ``word``, ignoring case."""
        return self.kind == IDENT and self.text.lower() == word


def is_whitespace(c: str) -> bool:
    return c in "\t\n\v\f\r\x85\xa0" or unicodedata.category(c) in ("Zs", "Zl", "Zp")


def is_letter(c: str) -> bool:
    return unicodedata.category(c) in ("Lu", "Ll", "Lt", "Lm", "Lo")


def is_digit(c: str) -> bool:
    return unicodedata.category(c) == "Nd"


def _is_hex(c: str) -> bool:
    return is_digit(c) or c in "abcdefABCDEF"


class Lexer:
    """Produces one token per ``next()`` call; raises ``LinqSyntaxError`` where DLC's lexer throws."""

    def __init__(self, text: str, pos: int = 0):
        self.text = text
        self.pos = pos

    def clone(self) -> Lexer:
        return Lexer(self.text, self.pos)

    def _ch(self, at: int | None = None) -> str:
        i = self.pos if at is None else at
        return self.text[i] if i < len(self.text) else "\0"

    def next(self) -> Token:
        text, n = self.text, len(self.text)
        while self.pos < n and is_whitespace(text[self.pos]):
            self.pos += 1
        start = self.pos
        if start >= n:
            return Token(END, "", n)
        c = text[start]
        if c in "\"'":
            kind = self._string(c)
        elif is_letter(c) or c in "@_$^~":
            self.pos += 1
            while self.pos < n and (
                is_letter(text[self.pos]) or is_digit(text[self.pos]) or text[self.pos] == "_"
            ):
                self.pos += 1
            kind = ALIASES.get(text[start : self.pos].lower(), IDENT)
        elif is_digit(c):
            kind = self._number()
        elif text.startswith(_PUNCT2, start):
            self.pos += 2
            kind = text[start : self.pos]
        elif c in _PUNCT1:
            self.pos += 1
            kind = c
        else:
            raise LinqSyntaxError(start, f"Syntax error '{c}'")
        return Token(kind, text[start : self.pos], start)

    def _string(self, quote: str) -> str:
        text, n = self.text, len(self.text)
        self.pos += 1
        while self.pos < n and text[self.pos] != quote:
            if text[self.pos] == "\\" and self._ch(self.pos + 1) in _STRING_ESCAPES + '"':
                self.pos += 1
            self.pos = min(self.pos + 1, n)
        if self.pos >= n:
            raise LinqSyntaxError(n, "Unterminated string literal")
        self.pos += 1
        return STRING

    def _digits(self) -> None:
        while is_digit(self._ch()):
            self.pos += 1

    def _expect(self, ok: bool, message: str) -> None:
        if not ok:
            raise LinqSyntaxError(self.pos, message)

    def _number(self) -> str:
        self._digits()
        ch = self._ch()
        if ch in "bB":
            self.pos += 1
            self._expect(self._ch() in "01", "Binary character expected")
            while self._ch() in "01":
                self.pos += 1
            return INT
        hexadecimal = False
        if ch in "xX":
            self.pos += 1
            self._expect(_is_hex(self._ch()), "Hexadecimal character expected")
            while _is_hex(self._ch()):
                self.pos += 1
            hexadecimal = True
        if self._ch() in "UL":
            self.pos += 1
            if self._ch() == "L":
                if self.text[self.pos - 1] != "U":
                    qualifier = self.text[self.pos - 1 : self.pos + 1]
                    raise LinqSyntaxError(self.pos, f"Invalid integer literal qualifier '{qualifier}'")
                self.pos += 1
            ch = self._ch()
            self._expect(not (is_letter(ch) or is_digit(ch)), "Expression expected")
            return INT
        if hexadecimal:
            return INT
        kind = INT
        if self._ch() == ".":
            kind = REAL
            self.pos += 1
            self._expect(is_digit(self._ch()), "Digit expected")
            self._digits()
        if self._ch() in "eE":
            kind = REAL
            self.pos += 1
            if self._ch() in "+-":
                self.pos += 1
            self._expect(is_digit(self._ch()), "Digit expected")
            self._digits()
        for suffix in ("fF", "dD", "mM"):
            if self._ch() in suffix:
                self.pos += 1
        return kind
