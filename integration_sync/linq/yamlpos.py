"""Map a character offset inside a YAML scalar's *value* back to the file's line and column.

INTERIM: only plain scalars on one line are mapped exactly; the filter-checker issue completes every
style (single/double quoted with escapes, literal ``|`` and folded ``>`` blocks, multi-line plain).
"""

from __future__ import annotations


def offset_to_linecol(source: str, start: int, style: str | None, offset: int) -> tuple[int, int]:
    """1-based (line, column) in ``source`` of character ``offset`` of the scalar's value.

    ``start`` is the 0-based index in ``source`` of the scalar's first character as written (its
    opening quote or block indicator included); ``style`` is PyYAML's ``ScalarNode.style``: ``None`` or
    ``''`` plain, ``"'"``, ``'"'``, ``'|'``, ``'>'``.
    """
    skip = 1 if style in ("'", '"') else 0
    index = min(start + skip + offset, len(source))
    line = source.count("\n", 0, index) + 1
    col = index - (source.rfind("\n", 0, index) + 1) + 1
    return line, col
