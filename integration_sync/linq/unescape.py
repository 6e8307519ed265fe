"""``System.Text.RegularExpressions.Regex.Unescape``, which DLC applies to the text of a string literal.

It follows .NET's ``RegexParser.ScanCharEscape``: octal ``\\0``-``\\7``, ``\\xHH``, ``\\uHHHH``, ``\\cX``,
the letter escapes ``\\a \\b \\e \\f \\n \\r \\t \\v``; a backslash before any other *non-word* character
stands for that character, and before another word character it is an error.
"""

from __future__ import annotations

import unicodedata

_SIMPLE = {"a": "\a", "b": "\b", "e": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_HEX = "0123456789abcdefABCDEF"


class UnescapeError(ValueError):
    """What .NET's ``RegexParseException`` would say, without its pattern prefix."""


def _is_word_char(c: str) -> bool:
    return c in "\u200c\u200d" or unicodedata.category(c) in (
        "Lu",
        "Ll",
        "Lt",
        "Lm",
        "Lo",
        "Mn",
        "Mc",
        "Nd",
        "Pc",
    )


def regex_unescape(text: str) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        i += 1
        if c != "\\":
            out.append(c)
            continue
        if i >= n:
            raise UnescapeError("Illegal \\ at end of pattern.")
        c = text[i]
        i += 1
        if "0" <= c <= "7":
            value, count = int(c), 1
            while count < 3 and i < n and "0" <= text[i] <= "7":
                value = value * 8 + int(text[i])
                i += 1
                count += 1
            out.append(chr(value & 0xFF))
        elif c in "xu":
            width = 2 if c == "x" else 4
            digits = text[i : i + width]
            if len(digits) < width or any(d not in _HEX for d in digits):
                raise UnescapeError("Insufficient hexadecimal digits.")
            out.append(chr(int(digits, 16)))
            i += width
        elif c in _SIMPLE:
            out.append(_SIMPLE[c])
        elif c == "c":
            if i >= n:
                raise UnescapeError("Missing control character.")
            control = text[i].upper() if "a" <= text[i] <= "z" else text[i]
            i += 1
            if not 0 <= ord(control) - ord("@") < 32:
                raise UnescapeError("Unrecognized control character.")
            out.append(chr(ord(control) - ord("@")))
        elif _is_word_char(c):
            raise UnescapeError(f"Unrecognized escape sequence \\{c}.")
        else:
            out.append(c)
    return "".join(out)
