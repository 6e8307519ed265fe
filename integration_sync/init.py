"""``integration-sync init [DIR]``: the files a new repository of definitions starts with.

- ``integration-sync.yaml``: the embedded tenant, and a real one commented out;
- ``definitions/xero-invoice-export.yaml``: one example definition;
- ``schemas/integration.schema.json`` and ``schemas/config.schema.json``: the schemas, for editors;
- ``.vscode/settings.json``: which schema is for which files (the YAML extension);
- ``.pre-commit-config.yaml``: ``repo: local`` hooks running the installed tool;
- ``.github/workflows/``: the GitHub workflows of ``docs/ci/github``;
- ``.gitignore``: the embedded tenant's state folder.

Everything comes from inside the package (``init_files/``, and what the wheel's ``force-include`` in
``pyproject.toml`` places under ``_schemas/`` and ``_ci/``), so ``init`` works from ``pip install``;
from a clone, the repository's ``schemas/`` and ``docs/ci/`` serve. A file that exists is never
written over: it is listed as skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from integration_sync import fields
from integration_sync.config import DEFAULT_FILE, config_schema_path
from integration_sync.errors import SyncError
from integration_sync.fsutil import resolved

_REPO = Path(__file__).resolve().parent.parent
#: The workflows, as the wheel holds them (``_ci/github``) and as the repository does.
_CI_PACKAGED = ("_ci", "github")
_CI_REPO = _REPO / "docs" / "ci" / "github"

#: Files of ``init_files/`` and where they go.
_TEMPLATES = {
    "integration-sync.yaml": DEFAULT_FILE,
    "example-definition.yaml": "definitions/xero-invoice-export.yaml",
    "vscode-settings.json": ".vscode/settings.json",
    "pre-commit-config.yaml": ".pre-commit-config.yaml",
    "gitignore": ".gitignore",
}


@dataclass
class InitResult:
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    #: Files not written because a symlink in their path leads outside the folder.
    outside: list[Path] = field(default_factory=list)


def _template(name: str) -> str:
    return resources.files("integration_sync").joinpath("init_files", name).read_text(encoding="utf-8")


def _workflows() -> dict[str, str]:
    packaged = resources.files("integration_sync").joinpath(*_CI_PACKAGED)
    if packaged.is_dir():
        items = {p.name: p.read_text(encoding="utf-8") for p in packaged.iterdir() if p.name.endswith(".yml")}
    else:
        items = {p.name: p.read_text(encoding="utf-8") for p in sorted(_CI_REPO.glob("*.yml"))}
    if not items:
        raise SyncError("init: the GitHub workflows are missing from this installation of integration-sync")
    return dict(sorted(items.items()))


def files() -> dict[str, str]:
    """Every file ``init`` writes: its path relative to the new repository, and its text."""
    out = {target: _template(name) for name, target in _TEMPLATES.items()}
    out[f"schemas/{fields.SCHEMA_FILE}"] = fields.schema_text()
    out[f"schemas/{config_schema_path().name}"] = config_schema_path().read_text(encoding="utf-8")
    for name, text in _workflows().items():
        out[f".github/workflows/{name}"] = text
    return out


def init(directory: Path) -> InitResult:
    """Write the files into ``directory`` (created if need be); a file that exists is left as it is, and
    a file whose folder a symlink leads outside ``directory`` is neither written nor its folder made."""
    result = InitResult()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SyncError(f"{directory}: cannot make it: {exc.strerror or exc}") from exc
    root = resolved(directory)
    for rel, text in files().items():
        path = directory / rel
        if not resolved(path.parent).is_relative_to(root):
            result.outside.append(path)
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "x", encoding="utf-8", newline="\n") as fh:  # never over an existing file
                fh.write(text)
        except FileExistsError:
            result.skipped.append(path)
            continue
        except OSError as exc:
            raise SyncError(f"{path}: cannot write it: {exc.strerror or exc}") from exc
        result.written.append(path)
    return result
