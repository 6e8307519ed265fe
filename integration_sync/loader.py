"""The YAML loader that knows lines: every key and value keeps its line, column and (for scalars) its
start index and style in the file text, and every way a file can be wrong becomes a located
``Diagnostic`` instead of a traceback.

PyYAML (libyaml when available) composes the node graph; the plain data is built here from the nodes so
that duplicate keys, alias bombs and YAML 1.1 surprises are caught on the way:

* duplicate keys are errors (PyYAML silently keeps the last one);
* aliases are never expanded blindly: the size of the expanded tree is computed on the shared node
  graph first, so a "billion laughs" file is rejected in microseconds;
* timestamps stay the strings they were written as (JSON has no dates);
* tab indentation, bytes that are not UTF-8, empty files and files over ``MAX_BYTES`` are located errors.

Several documents in one file are allowed; each is one ``YamlDoc``.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from integration_sync.diagnostics import Diagnostic, JsonPath, json_path_text
from integration_sync.fsutil import TooLarge, read_regular
from integration_sync.yaml_syntax import located, syntax_diagnostic

log = logging.getLogger(__name__)

#: Files larger than this are refused unread (a definition is a few hundred bytes).
MAX_BYTES = 1024 * 1024
#: The most nodes a document may expand to once aliases are followed.
MAX_NODES = 10_000

if TYPE_CHECKING:
    _BaseLoader = yaml.SafeLoader
else:
    _BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_tags: dict[str, str] = {}


class _FastLoader(_BaseLoader):
    """libyaml's parser with PyYAML's tag resolution memoised: the parser asks Python for the tag of
    every plain scalar, and definitions repeat the same keys and values (``name``, ``true``)."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is ScalarNode and implicit[0]:  # a plain scalar: its tag depends on its text only
            tag = _tags.get(value)
            if tag is None:
                tag = cast(Any, super()).resolve(kind, value, implicit)  # untyped in PyYAML's stubs
                if len(value) <= 64 and len(_tags) < 10_000:
                    _tags[value] = tag
            return tag
        return cast(Any, super()).resolve(kind, value, implicit)


_TAG = "tag:yaml.org,2002:"
_MERGE = _TAG + "merge"
_constructor = SafeConstructor()
_TRUE_WORDS = frozenset({"yes", "true", "on"})


@dataclass(frozen=True, slots=True)
class Mark:
    """Where a node starts: 0-based ``index`` into the text, 1-based ``line`` and ``col``, and for
    scalars PyYAML's style (``None`` plain, ``"'"``, ``'"'``, ``'|'``, ``'>'``) and resolved tag."""

    index: int
    line: int
    col: int
    style: str | None = None
    tag: str | None = None
    raw: str | None = None


@dataclass
class YamlDoc:
    """One YAML document: plain data (dicts, lists, str, int, float, bool, None) plus the node of
    every value and key, from which ``mark`` reads positions (only when a message needs one)."""

    data: Any
    start: Mark
    value_nodes: dict[JsonPath, Node] = field(default_factory=dict)
    key_nodes: dict[JsonPath, Node] = field(default_factory=dict)

    def mark(self, path: JsonPath, *, key: bool = False) -> Mark:
        """The mark of the value (or key) at ``path``; the nearest existing ancestor's when ``path``
        does not exist (a missing required key is reported at its mapping)."""
        table = self.key_nodes if key else self.value_nodes
        if path in table:
            return _mark(table[path])
        while path:
            path = path[:-1]
            if path in self.value_nodes:
                return _mark(self.value_nodes[path])
        return self.start

    def scalar(self, path: JsonPath) -> Mark | None:
        """The mark of the scalar value at ``path`` (None when it is missing or not a scalar): where its
        text is written, i.e. the anchor's scalar for an alias (positions inside the text map there)."""
        node = self.value_nodes.get(path)
        node = getattr(node, "alias_of", node)
        return _mark(node) if isinstance(node, ScalarNode) else None


class _Problem(Exception):
    def __init__(self, message: str, rule: str, mark: Mark, path: JsonPath = ()):
        super().__init__(message)
        self.message = message
        self.rule = rule
        self.mark = mark
        self.path = path


def display_path(path: Path) -> str:
    """A file path as messages show it: relative to the working directory when it is below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def _mark(node: Node) -> Mark:
    m = node.start_mark
    if isinstance(node, ScalarNode):
        return Mark(m.index, m.line + 1, m.column + 1, node.style or None, node.tag, node.value)
    return Mark(m.index, m.line + 1, m.column + 1)


@dataclass(frozen=True)
class Limits:
    """How large a file may be and how many nodes its aliases may expand to. A definition's by
    default; the config, which may list thousands of tenants, has its own (``config.CONFIG_LIMITS``)."""

    max_bytes: int = MAX_BYTES
    max_nodes: int = MAX_NODES
    what: str = "a definition"


DEFINITION_LIMITS = Limits()


def read_text(
    path: Path, file: str, limits: Limits = DEFINITION_LIMITS
) -> tuple[str | None, list[Diagnostic]]:
    """The file's text, or the diagnostics saying why it cannot be read."""
    try:
        raw = read_regular(path, limits.max_bytes)
    except TooLarge:
        msg = f"file is over the {limits.max_bytes} byte limit for {limits.what}"
        return None, [located(file, msg, "file-too-large")]
    except OSError as exc:
        return None, [located(file, f"cannot read file: {exc.strerror or exc}", "file-unreadable")]
    return decode(raw, file, limits)


def decode(raw: bytes, file: str, limits: Limits = DEFINITION_LIMITS) -> tuple[str | None, list[Diagnostic]]:
    """UTF-8 text (a leading BOM dropped), or a located error at the first byte that is not UTF-8."""
    if len(raw) > limits.max_bytes:
        msg = f"file is {len(raw)} bytes, over the {limits.max_bytes} byte limit for {limits.what}"
        return None, [located(file, msg, "file-too-large")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        msg = f"file is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); save it as UTF-8"
        return None, [located(file, msg, "yaml-encoding", line, col)]
    return text.removeprefix("\ufeff"), []


class _AliasMarkingLoader(yaml.SafeLoader):
    """The pure-Python composer, except that an alias becomes a shallow copy of its anchor's node with
    the alias's own marks (and ``alias_of``, the anchor's node): an error about ``batch_size: *m`` is
    then reported at ``*m``, not where ``&m`` was written. Children stay shared, so the alias bomb and
    recursion checks work as on the shared graph."""

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if not self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)
        event = cast(Any, self).peek_event()  # PyYAML's stubs leave it untyped
        node = super().compose_node(parent, index)
        alias: Any = copy.copy(node)
        alias.start_mark, alias.end_mark = event.start_mark, event.end_mark
        alias.alias_of = getattr(node, "alias_of", node)
        marked: Node = alias
        return marked


def parse(text: str, file: str, limits: Limits = DEFINITION_LIMITS) -> tuple[list[YamlDoc], list[Diagnostic]]:
    """Every document of ``text`` with marks, or the diagnostics of why the text is not usable YAML.

    A syntax error anywhere rejects the whole file (later documents cannot be trusted). A file with
    aliases is composed again so that their values carry the aliases' positions."""
    try:
        nodes = list(yaml.compose_all(text, Loader=_FastLoader))
    except yaml.YAMLError as fast_exc:
        error: yaml.YAMLError = fast_exc
        try:  # the pure-Python parser words its errors better than libyaml; errors are rare
            list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        except yaml.YAMLError as py_exc:
            error = py_exc
        except RecursionError:
            pass
        return [], [syntax_diagnostic(text, file, error)]
    except RecursionError:
        return [], [located(file, "YAML is nested too deeply", "yaml-syntax")]
    docs, diags, aliased = _build_docs(nodes, file, track_aliases="*" in text, max_nodes=limits.max_nodes)
    if aliased:
        try:
            nodes = list(yaml.compose_all(text, Loader=_AliasMarkingLoader))
        except (yaml.YAMLError, RecursionError):  # read once already: keep that reading
            return docs, diags
        docs, diags, _ = _build_docs(nodes, file, track_aliases=False, max_nodes=limits.max_nodes)
    return docs, diags


def _build_docs(
    nodes: Sequence[Node | None], file: str, *, track_aliases: bool, max_nodes: int = MAX_NODES
) -> tuple[list[YamlDoc], list[Diagnostic], bool]:
    """The documents built from composed nodes, their diagnostics, and (with ``track_aliases``)
    whether any node was met twice, i.e. the file uses aliases."""
    docs: list[YamlDoc] = []
    diags: list[Diagnostic] = []
    aliased = False
    for node in nodes:
        if node is None:
            continue
        if isinstance(node, ScalarNode) and node.tag == _TAG + "null" and node.value in ("", "~", "null"):
            continue  # an empty document between `---` markers
        builder = _Builder(YamlDoc(data=None, start=_mark(node)), track_aliases, max_nodes)
        try:
            doc = builder.doc
            doc.data = builder.build(node, ())
        except _Problem as p:
            aliased = aliased or builder.shared
            diags.append(located(file, p.message, p.rule, p.mark.line, p.mark.col, json_path_text(p.path)))
            continue
        except RecursionError:
            line, col = _mark(node).line, _mark(node).col
            diags.append(located(file, "YAML is nested too deeply", "yaml-syntax", line, col))
            continue
        if builder.problems:  # the document is not used; every mistake of it is said
            aliased = aliased or builder.shared
            diags.extend(
                located(file, p.message, p.rule, p.mark.line, p.mark.col, json_path_text(p.path))
                for p in builder.problems
            )
            continue
        aliased = aliased or builder.shared
        docs.append(doc)
    if not docs and not diags:
        diags.append(located(file, "file is empty: it holds no YAML document", "yaml-empty"))
    return docs, diags, aliased


def _scalar(node: ScalarNode) -> Any:
    tag = node.tag
    if tag == _TAG + "str":
        return node.value
    if tag == _TAG + "null":
        return None
    if tag == _TAG + "bool":
        return node.value.lower() in _TRUE_WORDS
    if tag == _TAG + "int":
        try:
            return _constructor.construct_yaml_int(node)
        except ValueError:  # past Python's limit on the digits of an int (4300)
            digits = sum(c.isdigit() for c in node.value)
            raise _Problem(f"integer with {digits} digits is too large", "yaml-number", _mark(node)) from None
    if tag == _TAG + "float":
        return _constructor.construct_yaml_float(node)
    if tag == _TAG + "timestamp":
        return node.value  # JSON has no dates: keep what was written
    raise _Problem(_tag_message(tag), "yaml-tag", _mark(node))


def _tag_message(tag: str) -> str:
    """Only the core tags (str, int, float, bool, null, map, seq) are read; ``!!binary``, ``!!set`` and
    a custom ``!foo`` are errors, as JSON has nothing to hold them."""
    shown = tag if len(tag) <= 60 else tag[:57] + "..."
    # the value starts with ! or !!: a LINQ negation (!IsDeleted) more often than a real tag
    return (
        f"unsupported YAML tag {shown} (a value that starts with ! is a YAML tag; if the ! is part of "
        "the text, quote the whole value)"
    )


class _Builder:
    """Plain data from one document's nodes. Aliases share nodes, so the walk counts every node it
    builds: past ``MAX_NODES`` the document is an alias bomb and is dropped before it grows further;
    a node met again inside itself is a recursive alias."""

    def __init__(self, doc: YamlDoc, track_aliases: bool = False, max_nodes: int = MAX_NODES):
        self.doc = doc
        self.max_nodes = max_nodes
        self.count = 0
        self.active: set[int] = set()
        self.seen: set[int] | None = set() if track_aliases else None
        self.shared = False  # a node met twice: an alias (only known with track_aliases)
        #: Problems of one key or value (a duplicate key, a key that is not a string, a tag, an integer
        #: too large): the walk goes on past them, so that a file's every such mistake is said at once.
        #: An alias bomb or a recursive alias stops the walk (``_Problem`` raised).
        self.problems: list[_Problem] = []

    def build(self, node: Node, path: JsonPath) -> Any:
        self.count += 1
        if self.seen is not None and not self.shared:
            self.shared = id(node) in self.seen
            self.seen.add(id(node))
        if self.count > self.max_nodes:
            msg = f"aliases expand to more than {self.max_nodes} nodes (an alias bomb?); the document was not loaded"
            top = path[:1]  # the top-level value that explodes: inner positions are an alias's target
            raise _Problem(msg, "yaml-alias-bomb", self.doc.mark(top), top)
        self.doc.value_nodes[path] = node
        if isinstance(node, ScalarNode):
            try:
                return _scalar(node)
            except _Problem as p:
                self.problems.append(_Problem(p.message, p.rule, p.mark, path))
                return None
        key = id(node)
        if key in self.active:
            raise _Problem("recursive alias: the node contains itself", "yaml-alias", _mark(node), path)
        if node.tag not in (_TAG + "seq", _TAG + "map"):  # !!set, !!omap, !foo {...}
            self.problems.append(_Problem(_tag_message(node.tag), "yaml-tag", _mark(node), path))
            return None
        self.active.add(key)
        try:
            if isinstance(node, SequenceNode):
                return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
            assert isinstance(node, MappingNode)
            return self.mapping(node, path)
        finally:
            self.active.discard(key)

    def mapping(self, node: MappingNode, path: JsonPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in _merged(node):
            if not isinstance(key_node, ScalarNode):
                self.problems.append(
                    _Problem("a mapping key must be a plain string", "yaml-key", _mark(key_node), path)
                )
                continue
            key = _scalar(key_node)
            if not isinstance(key, str):
                raw = key_node.value
                kind = type(key).__name__ if key is not None else "null"
                msg = f'key {raw} is read by YAML as {kind}, not a string; quote it: "{raw}"'
                self.problems.append(_Problem(msg, "yaml-key", _mark(key_node), path))
                continue
            if key in first_line:
                msg = (
                    f"duplicate key {key!r} (first at line {first_line[key]}); YAML would keep only the last"
                )
                self.problems.append(_Problem(msg, "yaml-duplicate-key", _mark(key_node), (*path, key)))
                continue
            first_line[key] = key_node.start_mark.line + 1
            self.doc.key_nodes[(*path, key)] = key_node
            out[key] = self.build(value_node, (*path, key))
        return out


def _merged(node: MappingNode) -> list[tuple[Node, Node]]:
    """The mapping's pairs with ``<<`` merge keys applied (explicit keys win over merged ones)."""
    pairs: list[tuple[Node, Node]] = node.value
    for k, _ in pairs:
        if k.tag == _MERGE:
            return list(_with_merges(pairs))
    return pairs


def _with_merges(pairs: list[tuple[Node, Node]]) -> Iterator[tuple[Node, Node]]:
    explicit = [(k, v) for k, v in pairs if k.tag != _MERGE]
    seen = {k.value for k, _ in explicit if isinstance(k, ScalarNode)}
    yield from explicit
    for k, v in pairs:
        if k.tag != _MERGE:
            continue
        sources = v.value if isinstance(v, SequenceNode) else [v]
        for src in sources:
            if not isinstance(src, MappingNode):
                raise _Problem("<< merges only mappings", "yaml-merge", _mark(src))
            for sk, sv in _merged(src):
                if isinstance(sk, ScalarNode) and sk.value not in seen:
                    seen.add(sk.value)
                    yield sk, sv


def load_yaml_file(
    path: Path, file: str | None = None, *, limits: Limits = DEFINITION_LIMITS
) -> tuple[str | None, list[YamlDoc], list[Diagnostic]]:
    """Read and parse one file: (text, documents, diagnostics)."""
    file = file or display_path(path)
    text, diags = read_text(path, file, limits)
    if text is None:
        return None, [], diags
    docs, diags = parse(text, file, limits)
    return text, docs, diags


# ---------------------------------------------------------------------------------------------------
# Definitions


@dataclass
class Definition:
    """One integration definition: one YAML document of a definitions file."""

    path: Path
    file: str
    doc_index: int
    data: dict[str, Any]
    source: str
    doc: YamlDoc

    @property
    def line(self) -> int:
        return self.doc.start.line

    @property
    def location(self) -> str:
        """``definitions/x.yaml:1``: where the definition starts."""
        return f"{self.file}:{self.line}"

    @property
    def name(self) -> str | None:
        value = self.data.get("name")
        return value if isinstance(value, str) else None

    def pos(self, path: JsonPath, *, key: bool = False) -> tuple[int, int]:
        """(line, col) of the value (or the key) at ``path``, or of its nearest existing ancestor."""
        m = self.doc.mark(path, key=key)
        return m.line, m.col

    def scalar(self, path: JsonPath) -> Mark | None:
        """The mark of the scalar at ``path`` (its ``index`` into ``source`` and its ``style``)."""
        return self.doc.scalar(path)


def load_definitions(path: Path, file: str | None = None) -> tuple[list[Definition], list[Diagnostic]]:
    """The definitions of one file, and the diagnostics of what could not be loaded."""
    file = file or display_path(path)
    text, docs, diags = load_yaml_file(path, file)
    out: list[Definition] = []
    for i, doc in enumerate(docs):
        if not isinstance(doc.data, dict):
            kind = "a list" if isinstance(doc.data, list) else f"a {_kind(doc.data)}"
            msg = f"a definition must be a mapping of keys to values, not {kind}"
            diags.append(Diagnostic(file, doc.start.line, doc.start.col, "$", msg, "yaml-not-mapping"))
            continue
        assert text is not None
        out.append(Definition(path=path, file=file, doc_index=i, data=doc.data, source=text, doc=doc))
    return out, diags


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string"}.get(type(value), "scalar")


def definition_files(paths: list[Path]) -> list[Path]:
    """The YAML files named by ``paths`` (files as given, folders searched recursively), sorted."""
    out: list[Path] = []
    for p in paths:
        if not p.is_dir():
            out.append(p)
            continue
        found: list[Path] = []
        for folder, dirs, files in os.walk(p):  # symlinked folders are not followed: no loops
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            found.extend(
                Path(folder, f) for f in files if f.endswith((".yaml", ".yml")) and not f.startswith(".")
            )
        out.extend(sorted(found))
    return out
