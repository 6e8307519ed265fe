"""The formatter behind ``integration-sync fmt``: a definition file in its canonical form, every comment
kept (the form itself is described in the README's "fmt" section).

Two layers do the work: ruamel.yaml (round-trip) normalises the values in place (``yaml_style``), then
the keys are reordered as whole blocks of lines, located with the positions PyYAML reports. A last check
loads the result with PyYAML and refuses to write anything whose data differs from the original (but
for the values it means to turn back into their text).
"""

from __future__ import annotations

import copy
import io
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError

from integration_sync import fields, loader
from integration_sync.diagnostics import JsonPath
from integration_sync.errors import DefinitionError
from integration_sync.fsutil import write_text_atomic
from integration_sync.plan import equal, first_difference
from integration_sync.yaml_style import MERGE_TAG, author_folds, normalise, round_trip_reader, writer

log = logging.getLogger(__name__)

# Document markers are reserved at column 0 anywhere in a YAML stream, even inside a scalar, so a line
# split finds every document boundary.
_MARKER = re.compile(r"^(---|\.\.\.)(?:[ \t]+#.*|[ \t]*)$")

# --- key order ------------------------------------------------------------------------------------

_Rank = Callable[[str, int], tuple[int, int]]


def _rank_in(order: Sequence[str], last: str | None = None) -> _Rank:
    index = {k: i for i, k in enumerate(order)}

    def rank(key: str, position: int) -> tuple[int, int]:
        if key == "<<":  # merge keys lead, as they are conventionally written
            return (-1, position)
        if key == last:
            return (2, 0)
        if key in index:
            return (0, index[key])
        return (1, position)

    return rank


def _sync_order() -> list[str]:
    return list(fields.load_schema()["properties"][fields.SYNC_KEY]["properties"])


def _top_rank() -> _Rank:
    return _rank_in([f.yaml for f in fields.catalogue()], last=fields.SYNC_KEY)


def _content_end(node: yaml.Node) -> int:
    """The line after the last line holding ``node``'s content (0-based, exclusive)."""
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and not node.flow_style and node.value:
        last = node.value[-1]
        return _content_end(last[1] if isinstance(node, yaml.MappingNode) else last)
    mark = node.end_mark
    return mark.line + (1 if mark.column > 0 else 0)


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _reorder(lines: list[str], node: yaml.MappingNode, rank: _Rank) -> None:
    """Reorder the keys of the block mapping ``node`` in ``lines`` (in place), each with its comments."""
    pairs = node.value
    if len(pairs) < 2:
        return
    column = pairs[0][0].start_mark.column
    starts = [k.start_mark.line for k, _ in pairs]
    ends = [_content_end(v) for _, v in pairs]
    leads: list[list[str]] = [[]]
    trails: list[list[str]] = []
    for i in range(1, len(pairs)):
        gap = lines[ends[i - 1] : starts[i]]
        cut = next((j for j, ln in enumerate(gap) if _is_comment(ln) and _indent(ln) <= column), len(gap))
        trails.append(gap[:cut])
        leads.append(gap[cut:])
    trails.append([])
    blocks = [
        (rank(str(k.value), i), leads[i] + lines[starts[i] : ends[i]] + trails[i])
        for i, (k, _) in enumerate(pairs)
    ]
    ordered = [text for _, text in sorted(blocks, key=lambda b: b[0])]
    lines[starts[0] : ends[-1]] = [ln for block in ordered for ln in block]


def _reorder_document(text: str) -> str:
    if any(isinstance(e, yaml.AliasEvent) for e in yaml.parse(text, Loader=yaml.SafeLoader)):
        return text  # an alias must stay after its anchor (and composed aliases carry the anchor's marks)
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.MappingNode) or root.flow_style:
        return text
    lines = text.splitlines(keepends=True)
    for key, value in root.value:
        if key.value == fields.SYNC_KEY and isinstance(value, yaml.MappingNode) and not value.flow_style:
            _reorder(lines, value, _rank_in(_sync_order()))
    _reorder(lines, root, _top_rank())
    return "".join(lines)


# --- documents and files --------------------------------------------------------------------------


def _documents(text: str) -> Iterator[tuple[bool, str]]:
    """The file as (is_marker, text) pieces: ``---``/``...`` lines and the document bodies between."""
    body: list[str] = []
    for line in text.splitlines(keepends=True):
        if _MARKER.match(line.rstrip("\r\n")):
            yield False, "".join(body)
            body = []
            yield True, line
        else:
            body.append(line)
    yield False, "".join(body)


def _has_content(body: str) -> bool:
    """Whether a piece between ``---`` lines holds a document: not only comments and directives
    (``%YAML 1.1`` before the first ``---``)."""
    return any(ln.strip() and not _is_comment(ln) and not ln.startswith("%") for ln in body.splitlines())


def _text_as_written(doc: loader.YamlDoc, body: str) -> dict[JsonPath, str]:
    """The string fields that YAML reads as a boolean or number (``consent_type: no``), with their text
    as written: fmt quotes that text, as validate's ``yaml-quote`` rule asks. An anchored scalar or an
    alias stays as written (``normalise`` leaves anchors alone)."""
    from integration_sync.definition_checks import quoting_traps

    out = {}
    for trap in quoting_traps(doc):
        node = doc.value_nodes.get(trap.path)
        if node is None or not body.startswith(trap.raw, node.start_mark.index):
            continue  # an anchor (&a no): its text starts with the anchor
        if not any(_kept_as_written(doc.value_nodes.get(trap.path[:i]), body) for i in range(len(trap.path))):
            out[trap.path] = trap.raw
    return out


def _kept_as_written(node: yaml.Node | None, body: str) -> bool:
    """Whether ``normalise`` leaves the collection ``node`` as written: an anchored or aliased one, or
    a mapping with a merge key (``<<``)."""
    if node is None or hasattr(node, "alias_of") or body.startswith(("&", "*"), node.start_mark.index):
        return True
    return isinstance(node, yaml.MappingNode) and any(k.tag == MERGE_TAG for k, _ in node.value)


def _set(data: Any, path: JsonPath, value: Any) -> None:
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


def _format_body(body: str, path: str) -> tuple[str, dict[JsonPath, str] | None]:
    """The document in canonical form, and the values it turned back into their text as written
    (None when the body is not one definition and is returned as it is)."""
    if not _has_content(body):
        return body, None
    docs, _ = loader.parse(body, path)
    data = round_trip_reader().load(body)
    if len(docs) != 1 or not isinstance(data, CommentedMap) or not isinstance(docs[0].data, dict):
        return body, {}  # not a definition; validation says so
    folds = {p: f for p, n in docs[0].value_nodes.items() if (f := author_folds(body, n))}
    as_written = _text_as_written(docs[0], body)
    truth = docs[0].data
    if as_written:
        truth = copy.deepcopy(truth)
        for at, text in as_written.items():
            _set(truth, at, text)
    normalise(data, truth, folds)
    out = io.StringIO()
    writer().dump(data, out)
    return _reorder_document(out.getvalue()), as_written


def _data(text: str, path: str) -> list[Any]:
    """The documents' data as the loader reads them; ``DefinitionError`` when it cannot."""
    docs, diags = loader.parse(text, path)
    problems = [d for d in diags if d.rule != "yaml-empty"]
    if problems:
        d = problems[0]
        raise DefinitionError(d.message, d.file, d.line, d.col)
    return [d.data for d in docs]


def _ruamel_error(path: str, exc: Exception) -> DefinitionError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    message = f"YAML the formatter cannot read: {problem}"
    if mark is None:
        return DefinitionError(message, path)
    return DefinitionError(message, path, mark.line + 1, mark.column + 1)


def format_text(text: str, path: str = "<string>") -> str:
    """``text`` in canonical form. Raises ``DefinitionError`` (path:line:col) for a file the loader
    cannot read; such a file is never rewritten.

    Line ends are the file's own: a file whose first line ends in ``\r\n`` is written with ``\r\n``
    throughout (a Windows checkout with ``core.autocrlf`` is canonical as it is), any other with ``\n``."""
    text = text.removeprefix("\ufeff")
    crlf = "\n" in text and text[: text.index("\n")].endswith("\r")
    text = text.replace("\r\n", "\n")
    before = _data(text, path)
    pieces = []
    quoted: list[dict[JsonPath, str]] = []
    try:
        for is_marker, piece in _documents(text):
            if is_marker:
                pieces.append(piece.rstrip() + "\n")
                continue
            formatted, as_written = _format_body(piece, path)
            pieces.append(formatted)
            if as_written is not None:
                quoted.append(as_written)
    except (MarkedYAMLError, yaml.YAMLError, ValueError) as exc:  # ruamel's stricter reading
        raise _ruamel_error(path, exc) from exc
    if len(quoted) == len(before):  # the data fmt means to change: text YAML misread, now quoted
        for doc, as_written in zip(before, quoted, strict=True):
            for at, raw in as_written.items():
                _set(doc, at, raw)
    out = "".join(pieces)
    out = out.rstrip("\n") + "\n" if out.strip() else ""
    try:
        after = _data(out, path)
    except DefinitionError:
        after = None
    if after is None or not equal(after, before, absent_is_null=False):
        # a bug, not the user's error; but never write a file whose meaning would change
        where = first_difference(before, after) if after is not None else None
        raise DefinitionError(
            "fmt cannot keep this file's data exactly, so it is left as it is"
            + (f" ({where})" if where else ""),
            path,
        )
    return out.replace("\n", "\r\n") if crlf else out


@dataclass(frozen=True)
class FormatResult:
    """One file's outcome: its canonical text, or the error that keeps it as it is."""

    path: Path
    original: str
    formatted: str | None
    error: DefinitionError | None = None

    @property
    def changed(self) -> bool:
        return self.formatted is not None and self.formatted != self.original


def format_file(path: Path) -> FormatResult:
    file = loader.display_path(path)
    original, diags = loader.read_text(path, file)
    if original is None:
        d = diags[0]
        return FormatResult(path, "", None, DefinitionError(d.message, d.file, d.line, d.col))
    try:
        return FormatResult(path, original, format_text(original, file))
    except DefinitionError as exc:
        return FormatResult(path, original, None, exc)


def format_paths(paths: Iterable[Path], *, write: bool) -> list[FormatResult]:
    """Format every definition file under ``paths``; with ``write``, rewrite the ones that change."""
    results = []
    for f in loader.definition_files(list(paths)):
        # a symlink that leads nowhere readable (a loop) is read, so that its error says what it is
        result = format_file(f) if f.exists() or f.is_symlink() else _missing(f)
        if write and result.changed and result.formatted is not None:
            try:
                write_text_atomic(f, result.formatted)
            except OSError as exc:  # a result like a file that cannot be read: the others still run
                error = DefinitionError(f"cannot write it: {exc.strerror or exc}", loader.display_path(f))
                result = replace(result, formatted=None, error=error)
            else:
                log.info("formatted %s", f)
        results.append(result)
    return results


def _missing(path: Path) -> FormatResult:
    return FormatResult(path, "", None, DefinitionError("no such file or folder", loader.display_path(path)))
