"""Adoption of an existing tenant: its live integrations written as canonical definition files.

What is written, so that a plan right after the import is empty:

- every mapped property the tenant returns, under its YAML key and in schema order, ``null`` included
  (a key left out would be unmanaged; writing them all leaves nothing that could differ). Properties
  the schema does not map (``Id``, audit stamps) are not written;
- ``sync: {tenants: [T]}``: the definition goes to the tenant it came from and nowhere else until a
  person widens it (to ``"*"`` for an integration common to the fleet);
- every literal ``${`` in a live string is written as ``$${`` (the escape the resolver reads back as
  ``${``), so that ``${name}`` is not taken for a per-tenant variable, nor ``${ x }`` for a typo;
- the ``yaml-language-server`` modeline pointing at the project's ``schemas/integration.schema.json``;
- a filter longer than ``FOLD_FILTER_OVER`` characters as a folded block, one line per top-level
  ``&&``/``||`` (the same value; ``fmt`` keeps those line breaks), so a later change is a one-line diff.

- the import mark (``import_mark``), a comment line that tells an import of a tenant from a
  hand-written file: only a file with it (and still for that tenant alone) is ever written again.

A live integration may break a rule that the API does not enforce. It is still written as it is, with
a comment above the offending key naming the rule, and ``ImportResult.flagged`` lists the file. A rule
a definition may accept (between fields, soft, filter: ``definition_checks.acceptable_rules``) is written in its
``sync.accept``, so that a plan right after the import is not blocked by what the tenant already
holds; the others (bounds, twin names) are for a person to decide. The findings come from validation itself
(``validate_definitions`` on the files about to be written: the schema, the rules between fields, the
soft rules as warnings, the filter syntax, names used twice case-insensitively), so the comments say
exactly what ``integration-sync validate`` will say.

File names are slugs of the names: lower case, letters and digits of any script kept (NFC), every other
run of characters one ``-``, at most 64 characters, so no name can reach outside the folder (``../x``
is ``x.yaml``). Names whose slugs clash (they differ only in case or punctuation) each get the first
8 hex digits of the SHA-256 of the exact name appended: deterministic, and independent of which other
names exist. Integrations with the very same name (no name at all, on a tenant that does not insist
on one) are told apart by their live key, slugged the same way (``-key-42``): none is dropped. Files
are written through a temporary file and a rename, each on its own: an existing file is left and
listed, unless it is this tenant's earlier import and ``force`` is given.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap

from integration_sync import fields, loader
from integration_sync.config import Config
from integration_sync.definition_checks import acceptable_rules
from integration_sync.diagnostics import Diagnostic
from integration_sync.errors import SyncError
from integration_sync.formatter import format_text
from integration_sync.fsutil import write_text_atomic
from integration_sync.linq.tokens import END, Lexer, LinqSyntaxError
from integration_sync.loader import display_path
from integration_sync.plan import key_text, usable_name
from integration_sync.validate import validate_definitions
from integration_sync.yaml_style import canonical_scalar, writer

log = logging.getLogger(__name__)

MAX_SLUG = 64
#: A live filter longer than this is written as a folded block, a line per top-level ``&&``/``||``.
FOLD_FILTER_OVER = 100
FALLBACK_SLUG = "integration"
SCHEMA_RELPATH = Path("schemas") / fields.SCHEMA_FILE
_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(1, 10)} | {f"lpt{i}" for i in range(1, 10)}
)
_PLACEHOLDER_START = re.compile(r"\$(?=\{)")


# --- file names -----------------------------------------------------------------------------------


def slug(name: str) -> str:
    """A safe, readable file stem for an integration name (see the module docstring)."""
    text = unicodedata.normalize("NFC", name).lower()
    out = re.sub(r"-+", "-", "".join(c if c.isalnum() else "-" for c in text)).strip("-")
    out = out[:MAX_SLUG].rstrip("-") or FALLBACK_SLUG
    return f"{out}-integration" if out in _RESERVED else out


def key_slug(key: Any) -> str:
    """A live key as part of a file name, slugged like a name (a string key ``../../x`` must not
    reach outside the folder); a key the slug changes gets 8 hex digits of its SHA-256, so that keys
    differing only in case or punctuation stay apart."""
    text = str(key)
    out = slug(text)
    if out != text:
        out = f"{out}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:8]}"
    return out


def file_names(names: Iterable[str]) -> dict[str, str]:
    """Each name's file name (``slug.yaml``), with clashing slugs told apart by a hash of the name."""
    groups: dict[str, list[str]] = defaultdict(list)
    for name in dict.fromkeys(names):
        groups[slug(name)].append(name)
    out: dict[str, str] = {}
    for stem, members in groups.items():
        if len(members) == 1:
            out[members[0]] = f"{stem}.yaml"
            continue
        for name in members:
            digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
            out[name] = f"{stem}-{digest}.yaml"
    clashes: dict[str, list[str]] = defaultdict(list)
    for name, file in out.items():
        clashes[file.casefold()].append(name)
    for members in clashes.values():  # a hashed name equal to another's slug: take the whole digest
        for name in sorted(members)[1:]:
            out[name] = f"{slug(name)}-{hashlib.sha256(name.encode('utf-8')).hexdigest()}.yaml"
    return out


def _diagnostics(config: Config, files: Mapping[Path, str]) -> dict[Path, list[Diagnostic]]:
    """What validation says about each file: every rule ``integration-sync validate`` checks (the
    schema, the rules between fields, the soft rules, the filter syntax, names used twice), from the
    one place that checks them."""
    definitions = []
    for path, text in files.items():
        docs, _ = loader.parse(text, display_path(path))
        if len(docs) == 1 and isinstance(docs[0].data, dict):
            definitions.append(loader.Definition(path, display_path(path), 0, docs[0].data, text, docs[0]))
    by_file = {d.file: d.path for d in definitions}
    out: dict[Path, list[Diagnostic]] = defaultdict(list)
    for diag in validate_definitions(config, definitions):
        out[by_file[diag.file]].append(diag)
    return out


def findings(config: Config, files: Mapping[Path, str]) -> dict[Path, dict[str, list[str]]]:
    """What validation says about each file, as comment lines per top-level key."""
    out: dict[Path, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path, diags in _diagnostics(config, files).items():
        for diag in diags:
            key = (
                re.split(r"[.\[]", diag.json_path.removeprefix("$."), maxsplit=1)[0]
                if diag.json_path != "$"
                else ""
            )
            what = (
                "accepted rule" if diag.accepted else "breaks rule" if diag.severity == "error" else "warning"
            )
            note = f"{what} {diag.rule}: {diag.message}"
            if note not in out[path][key]:
                out[path][key].append(note)
    return out


def rules_to_accept(config: Config, files: Mapping[Path, str]) -> dict[Path, list[str]]:
    """Per file, the rules its live data breaks that a definition may accept (``sync.accept``): the
    import writes them, so that a plan right after it is not blocked by what the tenant already holds."""
    acceptable = acceptable_rules()
    out = {}
    for path, diags in _diagnostics(config, files).items():
        rules = sorted({d.rule for d in diags if d.rule in acceptable})
        if rules:
            out[path] = rules
    return out


# --- one definition -------------------------------------------------------------------------------


def filter_folds(text: str) -> list[int]:
    """Where a long filter is broken over lines in the file (a folded block reads the same value): at
    the single space before each ``&&`` or ``||`` (``and``, ``or``) outside parentheses, so that a
    later change to one condition is a one-line diff. None for a short filter or one that does not
    lex (it is written as it is, and validation reports it)."""
    if len(text) <= FOLD_FILTER_OVER or "\n" in text:
        return []
    lexer, depth, out = Lexer(text), 0, []
    try:
        while (token := lexer.next()).kind != END:
            if token.kind in _OPEN:
                depth += 1
            elif token.kind in _CLOSE:
                depth -= 1
            elif token.kind in _JOINS and depth == 0 and _single_space_before(text, token.pos):
                out.append(token.pos - 1)
    except LinqSyntaxError:
        return []
    return out


_OPEN, _CLOSE, _JOINS = frozenset("([{"), frozenset(")]}"), frozenset({"&&", "||"})


def _single_space_before(text: str, at: int) -> bool:
    """A fold there reads back as one space: exactly one space before ``at``, after some text."""
    return at >= 2 and text[at - 1] == " " and not text[at - 2].isspace()


def definition(values: Mapping[str, Any], tenant_name: str) -> dict[str, Any]:
    """A live entity (OData property names) as a definition's data: mapped fields, then ``sync``."""
    doc: dict[str, Any] = {}
    for key, value in fields.from_odata(values).items():
        doc[key] = _PLACEHOLDER_START.sub("$$", value) if isinstance(value, str) else value
    doc[fields.SYNC_KEY] = {"tenants": [tenant_name]}
    return doc


def import_mark(tenant_name: str) -> str:
    """The comment line that tells a file written by ``import`` (of ``tenant_name``) from a hand-written one:
    only such a file is ever written again by a later import (with ``--force``)."""
    return f"# imported from tenant {tenant_name} by integration-sync import"


def fleet_import_mark(tenants: int) -> str:
    """The comment line of a file written by ``import --fleet`` (from ``tenants`` tenants): only such a
    file is ever written again by a later fleet import (with ``--force``)."""
    return f"# imported from {tenants} tenant{'' if tenants == 1 else 's'} by integration-sync import --fleet"


_FLEET_MARK = re.compile(r"# imported from \d+ tenants? by integration-sync import --fleet")


def fleet_imports(folders: Iterable[Path]) -> frozenset[Path]:
    """The files under ``folders`` that carry a fleet import mark (``fleet_import_mark``), whatever the
    number of tenants: the only files ``import --fleet --force`` writes again. A hand-written file, or a
    per-tenant import, never is."""
    out: set[Path] = set()
    for path, d in _definitions(folders):
        if any(_FLEET_MARK.fullmatch(line.strip()) for line in d.source.splitlines()):
            out.add(path.resolve())
    return frozenset(out)


def render(
    doc: Mapping[str, Any],
    comments: Mapping[str, Sequence[str]],
    schema_ref: str,
    tenant_name: str | None = None,
    *,
    mark: str | None = None,
) -> str:
    """The definition as canonical YAML with the modeline (and the import mark of ``tenant_name``, or
    ``mark``) and a comment above each flagged key."""
    data = CommentedMap()
    for key, value in doc.items():
        if isinstance(value, Mapping):
            inner = CommentedMap()
            for k, v in value.items():
                inner[k] = [canonical_scalar(x) for x in v] if isinstance(v, list) else canonical_scalar(v)
            data[key] = inner
        elif key == "filter" and isinstance(value, str):
            data[key] = canonical_scalar(value, filter_folds(value))
        else:
            data[key] = canonical_scalar(value)
    placed: dict[str, list[str]] = defaultdict(list)
    for key, notes in comments.items():  # a note about the document or a missing key: the first key
        placed[key if key in data else next(iter(data))].extend(notes)
    for key, notes in placed.items():
        data.yaml_set_comment_before_after_key(key, before="\n".join(notes))
    buf = io.StringIO()
    writer().dump(data, buf)
    line = mark if mark is not None else import_mark(tenant_name) if tenant_name else None
    head = f"{line}\n" if line else ""
    return format_text(f"# yaml-language-server: $schema={schema_ref}\n{head}{buf.getvalue()}")


# --- a whole import -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportedFile:
    name: str
    path: Path
    text: str
    #: What validation says about it, commented in the file, as "key: note".
    breaches: tuple[str, ...] = ()


@dataclass
class ImportResult:
    tenant: str
    files: list[ImportedFile] = field(default_factory=list)
    #: Live integrations left out by ``managed_only``.
    skipped_unmanaged: int = 0
    #: Live integrations left out because another file already defines them: (name, that file).
    already_defined: list[tuple[str, Path]] = field(default_factory=list)
    #: Live integrations no file can hold (see ``unholdable``): (name, the field, why).
    unwritable: list[tuple[str, str, str]] = field(default_factory=list)
    #: Keys of live integrations with no usable name (``plan.usable_name``): no definition could match
    #: them, so none is written (plan would create a second integration for it).
    unnamed: list[Any] = field(default_factory=list)
    #: Files left as they are because they exist (``write_import``): not this tenant's earlier import,
    #: or one that ``--force`` did not allow to be written again.
    existing: list[Path] = field(default_factory=list)
    #: Files ``write_import`` could not write: (file, why).
    failed: list[tuple[Path, str]] = field(default_factory=list)
    #: The files ``write_import`` wrote.
    written: list[ImportedFile] = field(default_factory=list)

    @property
    def flagged(self) -> list[ImportedFile]:
        return [f for f in self.files if f.breaches]


def schema_ref(directory: Path, project_root: Path) -> str:
    """The modeline's path from ``directory`` to the project's schema file, with ``/`` separators."""
    rel = os.path.relpath(project_root.resolve() / SCHEMA_RELPATH, directory.resolve())
    return Path(rel).as_posix()


def existing_names(folders: Iterable[Path]) -> dict[str, tuple[Path, ...]]:
    """The names (case-folded) that definitions under ``folders`` already claim, their own and their
    ``sync.previous_names``, each with the files that claim it (several for names that differ only in
    case, from a tenant that compares names case-sensitively). Files that do not load are left to
    ``validate``."""
    out: dict[str, tuple[Path, ...]] = {}
    for path, d in _definitions(folders):
        sync = d.data.get(fields.SYNC_KEY)
        previous = sync.get("previous_names") if isinstance(sync, dict) else None
        claimed = [d.name, *(previous if isinstance(previous, list) else [])]
        for name in claimed:
            if isinstance(name, str):
                owners = out.get(name.casefold(), ())
                if path.resolve() not in owners:
                    out[name.casefold()] = (*owners, path.resolve())
    return out


def own_imports(folders: Iterable[Path], tenant_name: str) -> frozenset[Path]:
    """The files under ``folders`` that are an earlier import of ``tenant_name``: they carry its import mark
    (``import_mark``) and still go to ``tenant_name`` alone (``sync.tenants: [tenant_name]``). Only those are
    written again by an import (with ``--force``); a hand-written file, or an import a person widened
    to other tenants (``"*"``, a tag), never is: its ``${var}`` placeholders, ``sync`` block and comments
    would give way to one tenant's live values, and the other tenants would lose the definition."""
    mark = import_mark(tenant_name).casefold()
    out: set[Path] = set()
    by_file: dict[Path, list[loader.Definition]] = defaultdict(list)
    for path, d in _definitions(folders):
        by_file[path.resolve()].append(d)
    for path, defs in by_file.items():
        if not any(line.strip().casefold() == mark for line in defs[0].source.splitlines()):
            continue
        ok = True
        for d in defs:
            sync = d.data.get(fields.SYNC_KEY)
            targets = sync.get("tenants") if isinstance(sync, dict) else None
            if not (
                isinstance(targets, list) and [str(t).casefold() for t in targets] == [tenant_name.casefold()]
            ):
                ok = False
        if ok:
            out.add(path)
    return frozenset(out)


def _definitions(folders: Iterable[Path]) -> Iterator[tuple[Path, loader.Definition]]:
    for path in loader.definition_files([f for f in dict.fromkeys(folders) if f.exists()]):
        for d in loader.load_definitions(path)[0]:
            yield path, d


def build_import(
    config: Config,
    tenant_name: str,
    live: Iterable[Mapping[str, Any]],
    directory: Path,
    *,
    managed_only: bool = False,
    existing: Mapping[str, tuple[Path, ...]] | None = None,
    own: Collection[Path] = (),
) -> ImportResult:
    """The files an import of ``live`` (OData entities) into ``directory`` writes. No I/O.

    ``existing`` (from ``existing_names``): an integration that a definition already claims (by name
    or previous name, anywhere) is left out and listed, so that an import into a populated repository
    adds no second definition; unless the claim is this tenant's earlier import in the very file it
    would write (``own``, from ``own_imports``), which is imported again (``--force`` overwrites).
    Rules the live data breaks that a definition may accept are written in ``sync.accept``.
    """
    result = ImportResult(tenant_name)
    entities = []
    for values in live:
        if managed_only and values.get(fields.managed_property()) is not True:
            result.skipped_unmanaged += 1
            continue
        if usable_name(values.get(fields.name_property())) is None:
            result.unnamed.append(values.get(fields.ODATA_KEY))
            continue
        entities.append(values)
    name_of = [str(v.get(fields.name_property()) or "") for v in entities]
    names = file_names(name_of)
    ref = schema_ref(directory, config.root)
    docs: dict[Path, tuple[str, dict[str, Any]]] = {}
    twins = Counter(name_of)
    for i, (name, values) in enumerate(
        sorted(zip(name_of, entities, strict=True), key=lambda p: names[p[0]])
    ):
        file = names[name]
        if twins[name] > 1:  # the same name twice (or no name): the live key tells the files apart
            file = f"{file.removesuffix('.yaml')}-key-{key_slug(values.get(fields.ODATA_KEY, i))}.yaml"
        path = directory / file
        if path in docs:  # never drop a live integration by writing another over it
            raise SyncError(f"import: two live integrations would be written to {display_path(path)}")
        owners = (existing or {}).get(name.casefold(), ())
        if owners and not (path.resolve() in owners and path.resolve() in own):
            result.already_defined.append((name, owners[0]))
            continue
        bad = unwritable_field(values)
        if bad is not None:
            result.unwritable.append((name, *bad))
            continue
        docs[path] = (name, definition(values, tenant_name))
    texts = {path: render(doc, {}, ref, tenant_name) for path, (_, doc) in docs.items()}
    for path, rules in rules_to_accept(config, texts).items():
        docs[path][1][fields.SYNC_KEY]["accept"] = rules
    texts = {path: render(doc, {}, ref, tenant_name) for path, (_, doc) in docs.items()}
    notes = findings(config, texts)
    # Once more on the commented files: a note that names another file's line then names it right.
    texts = {path: render(doc, notes.get(path, {}), ref, tenant_name) for path, (_, doc) in docs.items()}
    notes = findings(config, texts)
    for path, (name, doc) in docs.items():
        comments = notes.get(path, {})
        text = render(doc, comments, ref, tenant_name)
        flagged = tuple(f"{k or 'document'}: {n}" for k, texts in comments.items() for n in texts)
        result.files.append(ImportedFile(name, path, text, flagged))
    return result


def unnamed_note(keys: Sequence[Any]) -> str:
    """What an import says of the live integrations it left out for having no usable name."""
    shown = ", ".join(key_text(k) for k in keys)
    many = len(keys) != 1
    return (
        f"{len(keys)} live integration{'s' if many else ''} with no usable name (key{'s' if many else ''} "
        f"{shown}): no definition could match {'them' if many else 'it'}, so none was written"
    )


def unwritable_field(values: Mapping[str, Any]) -> tuple[str, str] | None:
    """The first field whose value no definition file can hold, and why (``unholdable``)."""
    for key, value in fields.from_odata(values).items():
        why = unholdable(value)
        if why is not None:
            return key, why
    return None


#: How deep a live value may nest and still be written: a definition's values are scalars and lists
#: of them; a reply nested hundreds deep (JSON reads it) would take the YAML writer past its recursion.
MAX_VALUE_DEPTH = 32


def unholdable(value: Any) -> str | None:
    """Why a live value cannot be written into a definition file, or None: a text holding a lone
    surrogate (broken UTF-16, as .NET emits it: a plan keeps it escaped, but a UTF-8 YAML file cannot
    hold it), or nesting deeper than ``MAX_VALUE_DEPTH``."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_VALUE_DEPTH:
            return f"is nested more than {MAX_VALUE_DEPTH} deep"
        if isinstance(item, str):
            if not item.isascii() and _SURROGATE.search(item):
                return "holds a lone surrogate (broken UTF-16 from the tenant)"
        elif isinstance(item, list):
            stack.extend((x, depth + 1) for x in item)
        elif isinstance(item, dict):
            stack.extend((x, depth + 1) for pair in item.items() for x in pair)
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def write_import(result: ImportResult, *, force: bool, own: Collection[Path] = ()) -> None:
    """Write the files, each on its own: one that exists is left as it is and listed in
    ``result.existing`` (it is written again only when it is this tenant's earlier import, in ``own``,
    and ``force``); one that cannot be written is listed in ``result.failed``. The others are written."""
    written = []
    result.existing, result.failed = [], []
    for f in result.files:
        if f.path.exists() and not (force and f.path.resolve() in own):
            result.existing.append(f.path)
            continue
        try:
            write_text_atomic(f.path, f.text)
        except OSError as exc:
            result.failed.append((f.path, str(exc.strerror or exc)))
            continue
        written.append(f)
        log.info("wrote %s", f.path)
    result.written = written
