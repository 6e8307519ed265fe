"""Map a character offset inside a YAML scalar's *value* back to the file's line and column.

A filter's error offset counts characters of the value PyYAML produced, not of the file: quotes,
escapes (``\\"``, ``\\x41``, ``''``), folded line breaks and block indentation all sit between the two.
This module re-runs PyYAML's scanning rules for the one scalar (``scan_plain``, ``scan_flow_scalar``,
``scan_block_scalar``), recording for every value character the file index it came from:

- an escape maps to its backslash, a doubled ``''`` to its first quote;
- a line break folded into a space, or kept as ``\\n``, maps to the break it came from;
- ``offset == len(value)`` (the library's End position) maps just past the last written character
  (the closing quote of a quoted scalar, the end of the last content line of a block).

Where the scalar ends (plain scalars) and which indentation an explicit indicator means (``|2``)
depend on the enclosing nodes, so the file is composed once with PyYAML (cached) to learn the
scalar's value and end; the walk is checked against that value and a mismatch falls back to a plain
``start + offset`` estimate rather than a wrong exact answer.
"""

from __future__ import annotations

import functools
import logging

import yaml

log = logging.getLogger(__name__)

_BREAKS = "\r\n\x85\u2028\u2029"
_ESCAPES = {
    "0": "\0",
    "a": "\x07",
    "b": "\x08",
    "t": "\x09",
    "\t": "\x09",
    "n": "\x0a",
    "v": "\x0b",
    "f": "\x0c",
    "r": "\x0d",
    "e": "\x1b",
    " ": " ",
    '"': '"',
    "/": "/",
    "\\": "\\",
    "N": "\x85",
    "_": "\xa0",
    "L": "\u2028",
    "P": "\u2029",
}
_ESCAPE_CODES = {"x": 2, "u": 4, "U": 8}


def offset_to_linecol(source: str, start: int, style: str | None, offset: int) -> tuple[int, int]:
    """1-based (line, column) in ``source`` of character ``offset`` of the scalar's value.

    ``start`` is the 0-based index in ``source`` of the scalar's first character as written (its
    opening quote or block indicator included); ``style`` is PyYAML's ``ScalarNode.style``: ``None`` or
    ``''`` plain, ``"'"``, ``'"'``, ``'|'``, ``'>'``.
    """
    index = source_index(source, start, style, offset)
    line = source.count("\n", 0, index) + 1
    col = index - (source.rfind("\n", 0, index) + 1) + 1
    return line, col


def source_index(source: str, start: int, style: str | None, offset: int) -> int:
    """0-based index in ``source`` of value character ``offset`` (see the module docstring)."""
    known = _scalars(source).get(start)
    value, end = known if known else (None, None)
    start = _past_properties(source, start)
    indexes = _walk(source, start, style or "", value, end)
    if indexes is None:
        skip = 1 if style in ("'", '"') else 0
        return min(start + skip + max(offset, 0), len(source))
    return indexes[min(max(offset, 0), len(indexes) - 1)]


def _past_properties(source: str, start: int) -> int:
    """Where the scalar's text begins: a node's start is that of its anchor (``&f``) or tag (``!!str``)
    when it has one, and the text follows them after spaces (or on the next line)."""
    i = start
    while _at(source, i) in "&!":
        while _at(source, i) not in " \t\r\n\0":
            i += 1
        while _at(source, i) in " \t\r\n":
            i += 1
    return i


@functools.lru_cache(maxsize=16)
def _scalars(source: str) -> dict[int, tuple[str, int]]:
    """Every scalar of the file by start index: (value, end index)."""
    found: dict[int, tuple[str, int]] = {}
    try:
        documents = list(yaml.compose_all(source, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return found
    stack: list[yaml.Node] = [d for d in documents if d is not None]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            found[node.start_mark.index] = (node.value, node.end_mark.index)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(item for pair in node.value for item in pair)
    return found


def _walk(source: str, start: int, style: str, value: str | None, end: int | None) -> list[int] | None:
    """File index of each value character plus one for the end; None if the walk cannot be trusted."""
    candidates: list[tuple[str, list[int]]]
    if style in ("|", ">"):
        candidates = list(_block_candidates(source, start))
    elif style in ("'", '"'):
        candidates = [_flow(source, start + 1, len(source), style)]
    else:
        if end is None:
            return None
        candidates = [_flow(source, start, end, "")]
    for chars, indexes in candidates:
        if value is None or chars == value:
            return indexes
    log.debug("scalar at %d: walk disagrees with PyYAML's value; using an estimate", start)
    return None


class _Out:
    def __init__(self) -> None:
        self.chars: list[str] = []
        self.indexes: list[int] = []

    def emit(self, text: str, index: int) -> None:
        self.chars.append(text)
        self.indexes.append(index)

    def result(self, end: int) -> tuple[str, list[int]]:
        return "".join(self.chars), [*self.indexes, end]


def _line_break(source: str, i: int) -> tuple[str, int]:
    """PyYAML's ``scan_line_break``: the normalised break at ``i`` and the index after it."""
    c = source[i]
    if c == "\r" and source[i + 1 : i + 2] == "\n":
        return "\n", i + 2
    if c in "\r\n\x85":
        return "\n", i + 1
    return c, i + 1


def _at(source: str, i: int) -> str:
    return source[i] if i < len(source) else "\0"


def _flow_breaks(source: str, i: int, out: list[tuple[str, int]], spaces: str) -> int:
    """Blank lines after a folded break: each gives a break; leading ``spaces`` are skipped."""
    while True:
        while _at(source, i) in spaces:
            i += 1
        if _at(source, i) not in _BREAKS:
            return i
        text, after = _line_break(source, i)
        out.append((text, i))
        i = after


def _flow(source: str, i: int, end: int, quote: str) -> tuple[str, list[int]]:
    """A quoted (``quote`` set) or plain (``quote`` empty, ends at ``end``) scalar from index ``i``."""
    out = _Out()
    spaces = " " if not quote else " \t"
    while i < end:
        c = source[i]
        if quote and c == quote:
            if quote == "'" and _at(source, i + 1) == "'":
                out.emit("'", i)
                i += 2
                continue
            return out.result(i)
        if quote == '"' and c == "\\":
            i = _escape(source, i, out)
            continue
        if c in spaces or c in _BREAKS:
            j = i
            while _at(source, j) in spaces:
                j += 1
            if _at(source, j) in _BREAKS and j < end:
                first, after = _line_break(source, j)
                breaks: list[tuple[str, int]] = []
                i = _flow_breaks(source, after, breaks, spaces)
                if first != "\n":
                    out.emit(first, j)
                elif not breaks:
                    out.emit(" ", j)
                for text, index in breaks:
                    out.emit(text, index)
                continue
            if j >= end:
                break
            for k in range(i, j):
                out.emit(source[k], k)
            i = j
            continue
        out.emit(c, i)
        i += 1
    return out.result(min(i, end))


def _escape(source: str, i: int, out: _Out) -> int:
    """One double-quoted escape starting at the backslash ``i``; returns the index after it."""
    code = _at(source, i + 1)
    if code in _ESCAPES:
        out.emit(_ESCAPES[code], i)
        return i + 2
    if code in _ESCAPE_CODES:
        width = _ESCAPE_CODES[code]
        out.emit(chr(int(source[i + 2 : i + 2 + width], 16)), i)
        return i + 2 + width
    if code in _BREAKS:
        _, after = _line_break(source, i + 1)
        breaks: list[tuple[str, int]] = []
        after = _flow_breaks(source, after, breaks, " \t")
        for text, index in breaks:
            out.emit(text, index)
        return after
    out.emit(code, i)  # not valid YAML; PyYAML would have refused the file
    return i + 2


def _column(source: str, i: int) -> int:
    return i - (source.rfind("\n", 0, i) + 1)


def _block_candidates(source: str, start: int) -> list[tuple[str, list[int]]]:
    """A ``|`` or ``>`` scalar, once per indentation it may have (one unless ``|N``/``>N`` is given)."""
    folded = source[start] == ">"
    i = start + 1
    chomping: bool | None = None
    increment: int | None = None
    for _ in range(2):
        c = _at(source, i)
        if c in "+-" and chomping is None:
            chomping = c == "+"
            i += 1
        elif c.isdigit() and increment is None:
            increment = int(c)
            i += 1
    while _at(source, i) == " ":
        i += 1
    if _at(source, i) == "#":
        while _at(source, i) not in _BREAKS + "\0":
            i += 1
    if _at(source, i) in _BREAKS:
        _, i = _line_break(source, i)
    if increment is None:
        leading: list[tuple[str, int]] = []
        j, max_indent = i, 0
        while _at(source, j) in " " + _BREAKS:
            if source[j] == " ":
                j += 1
                max_indent = max(max_indent, _column(source, j))
            else:
                text, after = _line_break(source, j)
                leading.append((text, j))
                j = after
        return [_block(source, j, max(1, max_indent), folded, chomping, leading)]
    candidates = []
    for parent in range(-1, _column(source, start) + 1):
        indent = max(parent + 1, 1) + increment - 1
        breaks: list[tuple[str, int]] = []
        j = _block_breaks(source, i, indent, breaks)
        candidates.append(_block(source, j, indent, folded, chomping, breaks))
    return candidates


def _block_breaks(source: str, i: int, indent: int, out: list[tuple[str, int]]) -> int:
    """PyYAML's ``scan_block_scalar_breaks``."""
    while _column(source, i) < indent and _at(source, i) == " ":
        i += 1
    while _at(source, i) in _BREAKS:
        text, after = _line_break(source, i)
        out.append((text, i))
        i = after
        while _column(source, i) < indent and _at(source, i) == " ":
            i += 1
    return i


def _block(
    source: str,
    i: int,
    indent: int,
    folded: bool,
    chomping: bool | None,
    breaks: list[tuple[str, int]],
) -> tuple[str, list[int]]:
    out = _Out()
    content_end = i
    line_break: tuple[str, int] | None = None
    while _column(source, i) == indent and i < len(source):
        for text, index in breaks:
            out.emit(text, index)
        leading_non_space = source[i] not in " \t"
        while i < len(source) and source[i] not in _BREAKS:
            out.emit(source[i], i)
            i += 1
        content_end = i
        line_break = None
        if i < len(source):
            text, after = _line_break(source, i)
            line_break = (text, i)
            i = after
        breaks = []
        i = _block_breaks(source, i, indent, breaks)
        if not (_column(source, i) == indent and i < len(source)):
            break
        assert line_break is not None
        if folded and line_break[0] == "\n" and leading_non_space and source[i] not in " \t":
            if not breaks:
                out.emit(" ", line_break[1])
        else:
            out.emit(*line_break)
    if chomping is not False and line_break is not None:
        out.emit(*line_break)
    if chomping is True:
        for text, index in breaks:
            out.emit(text, index)
    return out.result(content_end)
