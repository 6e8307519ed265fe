"""Reading the project config, ``integration-sync.yaml`` (``schemas/config.schema.json``; the README's
"Config" section): where the definitions are, the tenants, settings and safety limits, as immutable
values. Every mistake is a ``ConfigError`` at ``path:line:col``. Without ``--config`` and without the
default file, the built-in default applies (``default_config``).
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from dataclasses import fields as dataclass_fields
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from integration_sync import fields as schema_fields
from integration_sync.diagnostics import JsonPath
from integration_sync.errors import ConfigError
from integration_sync.fsutil import resolved
from integration_sync.loader import Limits, YamlDoc, display_path, load_yaml_file
from integration_sync.schemacheck import fast_check
from integration_sync.tenant_url import EMULATOR_SCHEME, normal_url, url_problem

log = logging.getLogger(__name__)

DEFAULT_FILE = "integration-sync.yaml"
CONFIG_SCHEMA_FILE = "config.schema.json"


@dataclass(frozen=True)
class Safety:
    """Guards a plan must pass before it is applied (``--force`` overrides the percentages)."""

    allow_delete: bool = False
    max_change_pct: float = 50.0
    max_delete_pct: float = 10.0
    #: The percentages apply from this many managed integrations on: below it, a small tenant is never
    #: unsafe (one delete of 3 is not a mass deletion).
    min_existing: int = 10


@dataclass(frozen=True)
class Settings:
    parallelism: int = 8
    page_size: int = 200
    timeout_s: float = 30.0
    max_retries: int = 6
    #: The whole listing (plan) or apply of one tenant; at apply, nothing new starts after it.
    tenant_deadline_s: float = 300.0
    #: Seconds one tenant may be paused at its own request (429, Retry-After) before it fails.
    retry_budget_s: float = 120.0
    #: A reply body's cap, counted on the decoded bytes.
    max_response_mib: int = 64


@dataclass(frozen=True)
class TenantConfig:
    """One tenant. ``safety`` is effective: the global block overlaid with the tenant's own.
    ``url`` is ``emulator:NAME`` or an http(s) base URL that always ends with ``/``."""

    name: str
    url: str
    token_env: str | None = None
    tags: tuple[str, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict)
    safety: Safety = Safety()
    allow_insecure_http: bool = False
    #: Effective (the global map overlaid with the tenant's): YAML key -> the tenant's OData property,
    #: where it differs from the schema's ``x-odata-name``.
    odata_names: Mapping[str, str] = field(default_factory=dict)
    #: Effective, as ``odata_names``: YAML key -> the tenant's narrower ``MaxLength`` for a string.
    max_lengths: Mapping[str, int] = field(default_factory=dict)

    @property
    def embedded(self) -> str | None:
        """``NAME`` when the tenant is the embedded emulator (``url: emulator:NAME``), else None."""
        return self.url[len(EMULATOR_SCHEME) :] if self.url.startswith(EMULATOR_SCHEME) else None


@dataclass(frozen=True)
class Config:
    path: Path
    root: Path
    definitions: Path
    tenants: tuple[TenantConfig, ...]
    settings: Settings = Settings()
    safety: Safety = Safety()
    odata_names: Mapping[str, str] = field(default_factory=dict)
    max_lengths: Mapping[str, int] = field(default_factory=dict)

    def tenant(self, name: str) -> TenantConfig:
        """The tenant named ``name``, case-insensitively (names are unique that way)."""
        folded = name.casefold()
        for t in self.tenants:
            if t.name.casefold() == folded:
                return t
        close = self.closest_tenant(name)
        raise ConfigError(f"unknown tenant {name!r}" + (f" (did you mean {close}?)" if close else ""))

    def closest_tenant(self, name: str) -> str | None:
        """The tenant name nearest to ``name``, compared case-insensitively as names are matched."""
        folded = {t.name.casefold(): t.name for t in self.tenants}
        close = difflib.get_close_matches(name.casefold(), list(folded), n=1, cutoff=0.6)
        return folded[close[0]] if close else None


def default_config(root: Path | None = None) -> Config:
    """The config used when there is no ``integration-sync.yaml``: the embedded tenant ``local``."""
    root = (root or Path.cwd()).resolve()
    return Config(
        path=root / DEFAULT_FILE,
        root=root,
        definitions=root / "definitions",
        tenants=(TenantConfig(name="local", url=EMULATOR_SCHEME + "local"),),
    )


def find_config(start: Path | None = None) -> Path | None:
    """The ``integration-sync.yaml`` of the folder ``start`` (default: the working folder) or of the
    nearest folder above it, as git, ruff and pre-commit find theirs; the search stops at the
    repository root (the folder holding ``.git``). None when there is none."""
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        path = candidate / DEFAULT_FILE
        if path.is_file():
            return path
        if (candidate / ".git").exists():
            return None
    return None


#: Sizes a config may have: a fleet of 10,000 tenants is about 2 MB and 100,000 nodes; aliases may
#: expand it to no more than this (the alias-bomb guard), a file no larger.
CONFIG_LIMITS = Limits(max_bytes=16 * 1024 * 1024, max_nodes=1_000_000, what="a config")


def load_config(path: Path, *, must_exist: bool) -> Config:
    """Read and check the config at ``path``. A missing file is an error only when ``must_exist``
    (``--config`` was given); otherwise the default config applies. Every mistake of the file is
    reported at once, in file order (``ConfigErrors``)."""
    if not path.exists():
        if must_exist:
            raise ConfigError("config file not found", str(path))
        return default_config(path.parent if str(path.parent) else None)
    if path.is_dir():
        raise ConfigError("config path is a folder, not a file", str(path))
    file = display_path(path)
    log.info("using the config %s", file)
    _text, docs, diags = load_yaml_file(path, file, limits=CONFIG_LIMITS)
    if diags:  # every YAML-level mistake at once, in file order, as the checks below report theirs
        raise ConfigErrors([ConfigError(d.message, file, d.line, d.col) for d in sorted(diags)])
    if len(docs) > 1:
        raise ConfigError("the config must be one YAML document", file, docs[1].start.line, docs[1].start.col)
    return _Reader(file, docs[0], path.resolve()).config()


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


@cache
def config_schema() -> dict[str, Any]:
    """The config's shape (``schemas/config.schema.json``, inside the wheel too): the one statement of
    its keys, types and bounds, for editors and for the reader below."""
    schema: dict[str, Any] = json.loads(config_schema_path().read_text(encoding="utf-8"))
    return schema


def config_schema_path() -> Path:
    """Where the config's schema is: inside the installed wheel, else the repository's ``schemas/``."""
    packaged = resources.files("integration_sync").joinpath("_schemas", CONFIG_SCHEMA_FILE)
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "schemas" / CONFIG_SCHEMA_FILE


@cache
def _env_name() -> re.Pattern[str]:
    return re.compile(config_schema()["$defs"]["tenant"]["properties"]["token_env"]["pattern"])


def is_env_name(name: str) -> bool:
    """Whether ``name`` can be an environment variable holding a token (``token_env``): letters, digits
    and ``_``, not starting with a digit, at most 64 characters. Anything else is never echoed: it may
    be a token pasted in the wrong place."""
    return _env_name().match(name) is not None


@cache
def _fast_check() -> Callable[[Any], bool] | None:
    return fast_check(config_schema())


_SECRET_KEYS = re.compile(r"^(token|password|secret|.*_token)$")


class _Reader:
    """Checks the config document: its shape against ``config_schema()``, then in code what a schema
    cannot say (secrets, names unique case-insensitively, URLs, finite numbers). Every finding is kept
    and all are raised together in file order."""

    def __init__(self, file: str, doc: YamlDoc, path: Path):
        self.file = file
        self.doc = doc
        self.path = path
        self.errors: list[ConfigError] = []
        self.bad: set[JsonPath] = set()  # paths already reported: later checks leave them alone

    def fail(self, message: str, at: JsonPath, *, key: bool = False) -> None:
        m = self.doc.mark(at, key=key)
        where = ".".join(str(p) for p in at)
        self.errors.append(ConfigError(f"{where}: {message}" if where else message, self.file, m.line, m.col))
        self.bad.add(at)

    def config(self) -> Config:
        data = self.doc.data
        self.secrets(data, ())
        self.finite(data)
        fast = _fast_check()
        if fast is None or not fast(data):
            self.shape(data)
        if isinstance(data, dict):
            self.code_checks(data)
        if self.errors:
            self.errors.sort(key=lambda e: (e.line or 0, e.col or 0))
            raise ConfigErrors(self.errors)
        return self.build(data)

    # --- the schema -------------------------------------------------------------------------------

    def shape(self, data: Any) -> None:
        import jsonschema

        validator = jsonschema.Draft202012Validator(config_schema())
        for err in validator.iter_errors(data):
            at: JsonPath = tuple(err.absolute_path)
            if at in self.bad or any(at[:i] in self.bad for i in range(len(at))):
                continue
            self.schema_error(err, at)

    def schema_error(self, err: Any, at: JsonPath) -> None:
        v, inst, sub = err.validator, err.instance, err.schema
        if v == "additionalProperties":
            allowed = list(sub.get("properties", {}))
            for key in inst:
                if key not in allowed and (*at, key) not in self.bad:
                    msg = f"unknown key {key!r}{_suggest(key, allowed)}; allowed: {', '.join(allowed)}"
                    self.fail(msg, (*at, key), key=True)
        elif v == "type":
            message = sub.get("x-message")
            self.fail(
                message or f"expected {sub.get('x-expected', err.validator_value)}, got {_type_name(inst)}",
                at,
            )
        elif v == "required":
            missing = [k for k in err.validator_value if k not in inst]
            self.fail(f"a tenant needs {missing[0]!r}" if at[:1] == ("tenants",) else err.message, at)
        elif v == "minItems":
            self.fail("at least one tenant is needed", at)
        elif v == "minLength":
            self.fail("expected a folder path, got an empty string", at)
        elif v in ("minimum", "maximum") and "minimum" in sub and "maximum" in sub:
            self.fail(f"must be between {sub['minimum']} and {sub['maximum']}, got {inst}", at)
        elif v == "minimum":
            self.fail(f"must be at least {err.validator_value}, got {inst}", at)
        elif v == "exclusiveMinimum":
            self.fail(f"must be more than {err.validator_value}, got {inst}", at)
        elif v == "pattern" and at[-1:] == ("name",):
            self.fail(f"invalid tenant name {inst!r}: use letters, digits, '.', '_' and '-' (at most 64)", at)
        elif v == "pattern" and at[-1:] == ("token_env",):  # never echoed: it may be a token pasted there
            self.fail(
                "is not an environment variable name (letters, digits and _, not starting with a digit, "
                "at most 64 characters)",
                at,
            )
        elif v == "pattern" and at[-2:-1] == ("odata_names",):
            self.fail(f"{inst!r} is not an OData property name", at)
        elif v == "propertyNames":
            self.fail(f"{inst!r} is not a variable name", (*at, inst), key=True)
        else:  # pragma: no cover - every keyword of the schema is worded above
            self.fail(err.message, at)

    # --- what a schema cannot say --------------------------------------------------------------------

    def secrets(self, value: Any, at: JsonPath) -> None:
        """No key anywhere that would hold a secret: the token belongs in the environment."""
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and _SECRET_KEYS.match(key):
                    self.fail(
                        "secrets never go in the config: put the token in an environment variable "
                        "and name that variable with token_env",
                        (*at, key),
                        key=True,
                    )
                else:
                    self.secrets(item, (*at, key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self.secrets(item, (*at, i))

    def finite(self, data: Any) -> None:
        """``.nan`` passes every bound and ``.inf`` means no limit at all: neither is a setting."""
        if not isinstance(data, dict):
            return
        blocks: list[tuple[JsonPath, Any]] = [
            (("settings",), data.get("settings")),
            (("safety",), data.get("safety")),
        ]
        tenants = data.get("tenants")
        if isinstance(tenants, list):
            blocks += [
                (("tenants", i, "safety"), t.get("safety"))
                for i, t in enumerate(tenants)
                if isinstance(t, dict)
            ]
        for at, block in blocks:
            if isinstance(block, dict):
                for key, v in block.items():
                    if isinstance(v, float) and not math.isfinite(v):
                        self.fail(f"must be a finite number, got {v}", (*at, key))

    def code_checks(self, data: dict[str, Any]) -> None:
        self.tenant_differences(data, ())
        tenants = data.get("tenants")
        if not isinstance(tenants, list):
            return
        seen: dict[str, int] = {}
        for i, item in enumerate(tenants):
            if not isinstance(item, dict):
                continue
            self.tenant_differences(item, ("tenants", i))
            name = item.get("name")
            if isinstance(name, str) and (*("tenants", i, "name"),) not in self.bad:
                folded = name.casefold()
                if folded in seen:
                    first = self.doc.mark(("tenants", seen[folded], "name")).line
                    self.fail(
                        f"duplicate tenant name {name!r} (first at line {first})", ("tenants", i, "name")
                    )
                else:
                    seen[folded] = i
            url = item.get("url")
            if isinstance(url, str) and ("tenants", i, "url") not in self.bad:
                insecure = item.get("allow_insecure_http") is True
                problem = url_problem(url, insecure)
                if problem:
                    self.fail(problem, ("tenants", i, "url"))

    # --- the checked config ------------------------------------------------------------------------

    def build(self, data: dict[str, Any]) -> Config:
        root = self.path.parent
        # a symlink loop in the definitions path is reported when the folder is read
        definitions = resolved(root / data["definitions"]) if "definitions" in data else root / "definitions"
        settings = Settings(**{k: _number(Settings, k, v) for k, v in (data.get("settings") or {}).items()})
        safety = _safety(Safety(), data.get("safety"))
        names, lengths = _differences(data)
        if "tenants" not in data:
            tenants: tuple[TenantConfig, ...] = (
                TenantConfig(
                    name="local", url=EMULATOR_SCHEME + "local", odata_names=names, max_lengths=lengths
                ),
            )
        else:
            tenants = tuple(
                TenantConfig(
                    name=t["name"],
                    url=normal_url(t["url"]),
                    token_env=t.get("token_env"),
                    tags=tuple(t.get("tags") or ()),
                    vars=dict(t.get("vars") or {}),
                    safety=_safety(safety, t.get("safety")),
                    allow_insecure_http=t.get("allow_insecure_http", False),
                    odata_names={**names, **_differences(t)[0]},
                    max_lengths={**lengths, **_differences(t)[1]},
                )
                for t in data["tenants"]
            )
        return Config(self.path, root, definitions, tenants, settings, safety, names, lengths)

    def tenant_differences(self, data: Mapping[str, Any], at: JsonPath) -> None:
        """What the schema cannot say of ``odata_names`` (definition key -> the tenant's OData property)
        and ``max_lengths`` (definition key -> a narrower MaxLength), of the config or of one tenant:
        the keys are definition keys, and a length is for text, within the schema's own limit."""
        known = {f.yaml: f for f in schema_fields.catalogue()}
        for block in ("odata_names", "max_lengths"):
            value = data.get(block)
            if not isinstance(value, dict) or (*at, block) in self.bad:
                continue
            for key, item in value.items():
                where = (*at, block, key)
                if where in self.bad:
                    continue
                if key not in known:
                    self.fail(
                        f"unknown definition key {key!r}{_suggest(str(key), list(known))}", where, key=True
                    )
                elif block == "max_lengths" and isinstance(item, int):
                    limit = schema_fields.max_length(key)
                    if "string" not in known[key].types or limit is None:
                        self.fail(f"{key} is not text: it has no length", where)
                    elif not 1 <= item <= limit:
                        self.fail(f"must be between 1 and the schema's {limit} limit, got {item}", where)


class ConfigErrors(ConfigError):
    """Every mistake of one config, in file order; it reads as the first, and ``str()`` gives one line
    per mistake."""

    def __init__(self, errors: list[ConfigError]):
        first = errors[0]
        super().__init__(first.message, first.path, first.line, first.col)
        self.errors = errors

    def __str__(self) -> str:
        return "\n".join(ConfigError.__str__(e) for e in self.errors)


def _number(kind: type, key: str, value: Any) -> Any:
    """A setting as its dataclass field wants it: a float field takes an integer as a float."""
    return float(value) if key in _float_fields(kind) else value


@cache
def _float_fields(kind: type) -> frozenset[str]:
    return frozenset(f.name for f in dataclass_fields(kind) if f.type in ("float", float))


def _safety(base: Safety, block: Any) -> Safety:
    if not block:
        return base
    return replace(base, **{k: _number(Safety, k, v) for k, v in block.items()})


def _differences(data: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, int]]:
    """``odata_names`` and ``max_lengths`` of the config or of one tenant, once checked."""
    return dict(data.get("odata_names") or {}), dict(data.get("max_lengths") or {})


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
