"""Adoption of an existing tenant: its live integrations written as canonical definition files.

What is written, so that a plan right after the import is empty:

- every mapped property the tenant returns, under its YAML key and in schema order, ``null`` included
  (a key left out would be unmanaged; writing them all leaves nothing that could differ). Properties
  the schema does not map (``Id``, audit stamps) are not written;
- ``sync: {tenants: [T]}``: the definition goes to the tenant it came from and nowhere else until a
  person widens it (to ``"*"`` for an integration common to the fleet);
- a literal ``${name}`` in a live string is written as ``$${name}`` (the escape the resolver reads back
  as ``${name}``), so it is not taken for a per-tenant variable;
- the ``yaml-language-server`` modeline pointing at the project's ``schemas/integration.schema.json``.

A live integration may break a rule of CONTRACT §1 that the API does not enforce. It is still written
as it is, with a comment above the offending key naming the rule, and ``ImportResult.flagged`` lists
the file: validation then asks a person to decide.

File names are slugs of the names: lower case, letters and digits of any script kept (NFC), every other
run of characters one ``-``, at most 64 characters, so no name can reach outside the folder (``../x``
is ``x.yaml``). Names whose slugs clash (they differ only in case or punctuation) each get the first
8 hex digits of the SHA-256 of the exact name appended: deterministic, and independent of which other
names exist. Files are written through a temporary file and a rename; none is overwritten unless
``force``.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from ruamel.yaml.comments import CommentedMap

from integration_sync import fields
from integration_sync.errors import SyncError
from integration_sync.fmt import canonical_scalar, format_text, writer
from integration_sync.fsutil import write_text_atomic
from integration_sync.loader import display_path

log = logging.getLogger(__name__)

MAX_SLUG = 64
FALLBACK_SLUG = "integration"
SCHEMA_RELPATH = Path("schemas") / fields.SCHEMA_FILE
_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(1, 10)} | {f"lpt{i}" for i in range(1, 10)}
)
_VARIABLE = re.compile(r"\$(?=\{[A-Za-z_][A-Za-z0-9_]*\})")
_UNIQUE_NAME_RULE = "name-unique"


# --- file names -----------------------------------------------------------------------------------


def slug(name: str) -> str:
    """A safe, readable file stem for an integration name (see the module docstring)."""
    text = unicodedata.normalize("NFC", name).lower()
    out = re.sub(r"-+", "-", "".join(c if c.isalnum() else "-" for c in text)).strip("-")
    out = out[:MAX_SLUG].rstrip("-") or FALLBACK_SLUG
    return f"{out}-integration" if out in _RESERVED else out


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
        for name in members[1:] if len(members) > 1 else ():
            out[name] = f"{slug(name)}-{hashlib.sha256(name.encode('utf-8')).hexdigest()}.yaml"
    return out


def _name_key() -> str:
    return fields.by_odata()[fields.NAME()].yaml


# --- rules the live data may break ----------------------------------------------------------------


def rule_breaches(doc: Mapping[str, Any]) -> dict[str, list[str]]:
    """Per top-level key, the rules of the schema (CONTRACT §1) that ``doc`` breaks, as comment text."""
    schema = fields.resolved_schema()
    out: dict[str, list[str]] = defaultdict(list)
    for error in jsonschema.Draft202012Validator(schema).iter_errors(dict(doc)):
        path = list(error.absolute_schema_path)
        if path and path[0] == "allOf":
            rule = schema["allOf"][path[1]]
            key = rule["if"]["required"][0]
            text = f"breaks rule {rule['x-rule']}: {rule['description']}"
        else:
            key = str(error.absolute_path[0]) if error.absolute_path else _name_key()
            text = f"breaks the schema: {error.message}"
        if text not in out[key]:
            out[key].append(text)
    return dict(out)


# --- one definition -------------------------------------------------------------------------------


def definition(values: Mapping[str, Any], tenant: str) -> dict[str, Any]:
    """A live entity (OData property names) as a definition's data: mapped fields, then ``sync``."""
    doc: dict[str, Any] = {}
    for key, value in fields.from_odata(values).items():
        doc[key] = _VARIABLE.sub("$$", value) if isinstance(value, str) else value
    doc[fields.SYNC_KEY] = {"tenants": [tenant]}
    return doc


def render(doc: Mapping[str, Any], comments: Mapping[str, Sequence[str]], schema_ref: str) -> str:
    """The definition as canonical YAML with the modeline and a comment above each flagged key."""
    data = CommentedMap()
    for key, value in doc.items():
        if isinstance(value, Mapping):
            inner = CommentedMap()
            for k, v in value.items():
                inner[k] = [canonical_scalar(x) for x in v] if isinstance(v, list) else canonical_scalar(v)
            data[key] = inner
        else:
            data[key] = canonical_scalar(value)
    placed: dict[str, list[str]] = defaultdict(list)
    for key, notes in comments.items():  # a missing required key's note goes to the first key
        placed[key if key in data else next(iter(data))].extend(notes)
    for key, notes in placed.items():
        data.yaml_set_comment_before_after_key(key, before="\n".join(notes))
    buf = io.StringIO()
    writer().dump(data, buf)
    return format_text(f"# yaml-language-server: $schema={schema_ref}\n{buf.getvalue()}")


# --- a whole import -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportedFile:
    name: str
    path: Path
    text: str
    #: The rule breaches commented in the file, as "key: text".
    breaches: tuple[str, ...] = ()


@dataclass
class ImportResult:
    tenant: str
    files: list[ImportedFile] = field(default_factory=list)
    #: Live integrations left out by ``managed_only``.
    skipped_unmanaged: int = 0

    @property
    def flagged(self) -> list[ImportedFile]:
        return [f for f in self.files if f.breaches]


def schema_ref(directory: Path, project_root: Path) -> str:
    """The modeline's path from ``directory`` to the project's schema file, with ``/`` separators."""
    rel = os.path.relpath(project_root.resolve() / SCHEMA_RELPATH, directory.resolve())
    return Path(rel).as_posix()


def build_import(
    tenant: str,
    live: Iterable[Mapping[str, Any]],
    directory: Path,
    *,
    project_root: Path,
    managed_only: bool = False,
) -> ImportResult:
    """The files an import of ``live`` (OData entities) into ``directory`` writes. Pure: no I/O."""
    result = ImportResult(tenant)
    entities = []
    for values in live:
        if managed_only and values.get(fields.MANAGED()) is not True:
            result.skipped_unmanaged += 1
            continue
        entities.append(values)
    name_of = [str(v.get(fields.NAME()) or "") for v in entities]
    names = file_names(name_of)
    folded: dict[str, int] = defaultdict(int)
    for n in name_of:
        folded[n.casefold()] += 1
    ref = schema_ref(directory, project_root)
    for name, values in sorted(zip(name_of, entities, strict=True), key=lambda p: names[p[0]]):
        doc = definition(values, tenant)
        comments = rule_breaches({k: v for k, v in doc.items() if k != fields.SYNC_KEY})
        if folded[name.casefold()] > 1:
            twin = (
                f"breaks rule {_UNIQUE_NAME_RULE}: names are unique per tenant, compared case-insensitively"
            )
            comments = {**comments, _name_key(): [twin, *comments.get(_name_key(), [])]}
        breaches = tuple(f"{k}: {text}" for k, texts in comments.items() for text in texts)
        path = directory / names[name]
        result.files.append(ImportedFile(name, path, render(doc, comments, ref), breaches))
    return result


def write_import(result: ImportResult, *, force: bool) -> None:
    """Write the files; without ``force``, refuse (writing nothing) when any of them exists."""
    existing = [f.path for f in result.files if f.path.exists()]
    if existing and not force:
        shown = ", ".join(display_path(p) for p in existing[:5]) + (" ..." if len(existing) > 5 else "")
        raise SyncError(
            f"{len(existing)} file(s) already exist ({shown}); nothing was written. "
            "Use --force to overwrite them, or import into another --dir"
        )
    for f in result.files:
        write_text_atomic(f.path, f.text)
        log.info("wrote %s", f.path)
