"""How the formatter writes values: which strings YAML would misread and so need quotes, the block
style a multi-line string keeps, and ruamel.yaml's round-trip reader and writer set up for the
canonical form (``formatter``)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, cast

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.compat import ordereddict
from ruamel.yaml.emitter import Emitter
from ruamel.yaml.nodes import ScalarNode as RScalarNode
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, FoldedScalarString, LiteralScalarString

from integration_sync.diagnostics import JsonPath

#: A list of scalars is written on one line up to this width.
FLOW_LIST_WIDTH = 100

STR_TAG = "tag:yaml.org,2002:str"
MERGE_TAG = "tag:yaml.org,2002:merge"
# Characters that make a plain scalar fussy inside [...]; such list items are double-quoted.
_FLOW_INDICATORS = re.compile(r"[?:,\[\]{}#&*!|>'\"%@`]")
# YAML 1.1 booleans that PyYAML does not implement but other 1.1 readers do.
_OTHER_BOOLS = frozenset({"y", "Y", "n", "N"})
_PYYAML_RESOLVER = yaml.resolver.Resolver()
_YAML12_RESOLVER = VersionedResolver(version=(1, 2))

# --- what a string needs --------------------------------------------------------------------------


def misread(text: str) -> bool:
    """True when a YAML reader (1.1 or 1.2) would read the plain scalar ``text`` as a non-string."""
    if text in _OTHER_BOOLS:
        return True
    if cast(Any, _PYYAML_RESOLVER).resolve(yaml.ScalarNode, text, (True, False)) != STR_TAG:  # untyped stubs
        return True
    return bool(_YAML12_RESOLVER.resolve(RScalarNode, text, (True, False)) != STR_TAG)


def _block_safe(text: str) -> bool:
    """Whether a literal block holds ``text`` exactly: printable characters and ``\n`` line breaks only
    (YAML turns other breaks into ``\n``), at most one final newline (``|+`` would make the writer
    close the document with ``...``), and no tab at the start of the first line (where the block's
    indentation is read, libyaml refuses it)."""
    lines = text.split("\n")
    return (
        not text.endswith("\n\n")
        and text.strip("\n") != ""  # only line breaks: the writer would need |+ and ...
        and not text.lstrip("\n").startswith("\t")
        and all(line.replace("\t", " ").isprintable() for line in lines)
    )


def canonical_scalar(value: Any, folds: Sequence[int] = ()) -> Any:
    """The value with the representation the canonical form wants (same data, normalised type).

    ``folds``: where the author broke a string without line breaks over several lines (the indexes of
    the spaces that were line breaks, from ``author_folds``); it is then a folded block (``>-``) broken
    at the same places, so that a long filter stays reviewable line by line."""
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)  # drops ruamel's hex/octal/underscore formatting
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        text = str(value)
        if folds and _block_safe(text):
            folded = FoldedScalarString(text)
            folded.fold_pos = list(folds)
            return folded
        if "\n" in text and _block_safe(text):
            return LiteralScalarString(text)
        if "\n" in text or misread(text):
            return DoubleQuotedScalarString(text)
        return text
    return value


def author_folds(source: str, node: yaml.Node) -> list[int] | None:
    """Where the author broke the one-line string of scalar ``node`` over several lines of ``source``:
    the indexes in its value of the spaces that were line breaks. A plain or quoted scalar continued on
    the next lines, or a folded block (``>``, ``>-``) of several lines, reads as its lines joined by
    single spaces; None for anything else (one line, a literal block, a value with line breaks of its
    own, escapes or spacing that a folded block would not reproduce)."""
    if not isinstance(node, yaml.ScalarNode) or node.tag != STR_TAG:
        return None
    value, style = node.value, node.style or None
    raw = source[node.start_mark.index : node.end_mark.index]
    if style == ">":
        lines = raw.split("\n")[1:]  # the first line is the indicator (and maybe a comment)
        value = value[:-1] if value.endswith("\n") else value
    elif style in (None, "'", '"'):
        lines = (raw[1:-1] if style else raw).split("\n")
    else:
        return None
    stripped = [line.strip(" \t\r") for line in lines]
    while stripped and not stripped[-1]:
        stripped.pop()
    pieces: list[str] | None = stripped
    if style == "'":
        pieces = [p.replace("''", "'") for p in stripped]
    elif style == '"':
        pieces = _unescaped(stripped)
    if (
        pieces is None
        or len(pieces) < 2
        or not all(p and p == p.strip() for p in pieces)  # a fold reads back as exactly one space
        or " ".join(pieces) != value
    ):
        return None
    folds, at = [], -1
    for piece in pieces[:-1]:
        at += len(piece) + 1
        folds.append(at)
    return folds


def _unescaped(pieces: list[str]) -> list[str] | None:
    """The lines of a double-quoted scalar with their escapes (``\\"``, ``\\t``) read; None when a line
    ends in a backslash (an escaped line break or space, which a folded block cannot say)."""
    out = []
    for piece in pieces:
        if piece.endswith("\\"):
            return None
        try:
            text = yaml.load(f'"{piece}"', Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            return None
        if not isinstance(text, str):
            return None
        out.append(text)
    return out


def _list_commented(node: CommentedSeq) -> bool:
    """Whether a block list has a comment of its own: on its key's line, above or between its items, or
    at the end of an item's line. Full-line comments after the last item belong to what follows (ruamel
    hangs them on that item), so they do not keep the list in block style."""
    ca = node.ca
    if (ca.comment and any(ca.comment)) or ca.end:
        return True
    last = len(node) - 1
    return any(
        slots[0] is not None and (index != last or not slots[0].value.startswith("\n"))
        for index, slots in ca.items.items()
    )


def _hoist_following_comment(parent: CommentedMap, key: Any, seq: CommentedSeq) -> None:
    """ruamel hangs the comment lines after a block list on its last item; once the list is written
    ``[a, b]`` they would land inside the brackets. Hang them after the key's value instead."""
    slots = seq.ca.items.get(len(seq) - 1)
    if not slots or slots[0] is None or not slots[0].value.startswith("\n"):
        return
    token, slots[0] = slots[0], None
    entry = parent.ca.items.setdefault(key, [None, None, None, None])
    if entry[2] is None:
        entry[2] = token
    else:
        entry[2].value += token.value.lstrip("\n")


_BLOCKS = (FoldedScalarString, LiteralScalarString)


def _drop_line_end(parent: CommentedMap, key: Any) -> None:
    """A flow scalar (plain or quoted) that becomes a block: ruamel's comment after it starts with the
    line end the flow scalar did not consume, which after a block (that ends its own line) would be a
    blank line the author never wrote, added by every such fmt."""
    entry = parent.ca.items.get(key)
    token = entry[2] if entry and len(entry) > 2 else None
    if token is not None and token.value.startswith("\n"):
        token.value = token.value[1:]


def _anchored(node: Any) -> bool:
    anchor = getattr(node, "anchor", None)
    return bool(anchor is not None and getattr(anchor, "value", None))


def normalise(
    node: Any, truth: Any, folds: Mapping[JsonPath, list[int]] | None = None, path: JsonPath = ()
) -> Any:
    """Normalise every value below ``node`` in place, taking each scalar from ``truth``: the data as the
    loader reads it (ruamel.yaml reads YAML 1.2, where ``yes`` is a string; the loader, YAML 1.1, reads
    a boolean). Comments stay attached: ruamel keys them by mapping key and list index. ``folds``: the
    author's line breaks in one-line strings, by path (``author_folds``)."""
    folds = folds or {}
    if _anchored(node) or getattr(node, "merge", None):
        return node  # an anchor, its aliases and merge keys stay as the author wrote them
    if isinstance(node, CommentedMap) and isinstance(truth, dict):
        node.fa.set_block_style()
        for key in list(node):
            if str(key) in truth:
                before = node[key]
                value = normalise(before, truth[str(key)], folds, (*path, str(key)))
                # not node[key] = ...: CommentedMap keeps an old value's style (">") for a new plain str
                ordereddict.__setitem__(node, key, value)
                if isinstance(value, CommentedSeq) and value.fa.flow_style():
                    _hoist_following_comment(node, key, value)
                if isinstance(value, _BLOCKS) and not isinstance(before, _BLOCKS):
                    _drop_line_end(node, key)
        return node
    if isinstance(node, CommentedSeq) and isinstance(truth, list) and len(truth) == len(node):
        for i, item in enumerate(node):
            list.__setitem__(node, i, normalise(item, truth[i], folds, (*path, i)))
        # a folded item (the author's line breaks) cannot sit inside [...]
        scalars = all(not isinstance(v, CommentedMap | CommentedSeq | FoldedScalarString) for v in node)
        # A list written [a, b] can only carry a comment after its closing bracket, which ruamel keeps.
        commented = not node.fa.flow_style() and _list_commented(node)
        short = sum(len(str(v)) + 4 for v in node) <= FLOW_LIST_WIDTH
        if scalars and short and not commented and "\n" not in "".join(map(str, node)):
            node.fa.set_flow_style()
            for i, item in enumerate(node):  # plain only without indicators: flow context is fussy
                if isinstance(item, str) and _FLOW_INDICATORS.search(item):
                    list.__setitem__(node, i, DoubleQuotedScalarString(item))
        else:
            node.fa.set_block_style()
        return node
    if isinstance(node, CommentedMap | CommentedSeq):
        return node  # the loader reads it differently (merge keys): leave it; the final check decides
    return canonical_scalar(truth, folds.get(path) or ())


class _CanonicalRepresenter(RoundTripRepresenter):
    def represent_none(self, data: Any) -> Any:
        return self.represent_scalar("tag:yaml.org,2002:null", "null")


_CanonicalRepresenter.add_representer(type(None), _CanonicalRepresenter.represent_none)


class _CanonicalEmitter(Emitter):
    """Quotes, when quotes are needed, are always double quotes."""

    def choose_scalar_style(self) -> Any:
        style = super().choose_scalar_style()
        return '"' if style == "'" else style


def round_trip_reader() -> YAML:
    return YAML(typ="rt")


def writer() -> YAML:
    y = YAML(typ="rt")
    y.Representer = _CanonicalRepresenter
    y.Emitter = _CanonicalEmitter
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 1_000_000  # never fold a long filter over several lines
    y.allow_unicode = True
    return y
