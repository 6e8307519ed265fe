"""The project config, ``integration-sync.yaml``: where the definitions are and which tenants to sync.

    definitions: definitions
    tenants:
      - name: local
        url: emulator:local            # the embedded tenant
      - name: acme
        url: https://acme.example.com/OData/
        token_env: FK_TOKEN_ACME       # the token itself comes from the environment, never from here
        tags: [uk]
        vars: {xero_system_id: 7}
        safety: {max_change_pct: 20}   # overlays the global safety block for this tenant
    settings: {parallelism: 8, page_size: 200, timeout_s: 30, max_retries: 6}
    safety: {allow_delete: false, max_change_pct: 50, max_delete_pct: 10}

Every mistake is a ``ConfigError`` at ``path:line:col``. Without ``--config`` and without the default
file, the built-in default applies: definitions in ``./definitions`` and the one embedded tenant
``local``.
"""

from __future__ import annotations

import difflib
import ipaddress
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from integration_sync.diagnostics import JsonPath
from integration_sync.errors import ConfigError
from integration_sync.loader import YamlDoc, display_path, load_yaml_file

log = logging.getLogger(__name__)

DEFAULT_FILE = "integration-sync.yaml"
EMULATOR_SCHEME = "emulator:"
_TENANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOOPBACK_HOSTS = {"localhost"}


@dataclass(frozen=True)
class Safety:
    """Guards a plan must pass before it is applied (``--force`` overrides the percentages)."""

    allow_delete: bool = False
    max_change_pct: float = 50.0
    max_delete_pct: float = 10.0


@dataclass(frozen=True)
class Settings:
    parallelism: int = 8
    page_size: int = 200
    timeout_s: float = 30.0
    max_retries: int = 6


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
        for t in self.tenants:
            if t.name == name:
                return t
        raise ConfigError(f"unknown tenant {name!r}{_suggest(name, [t.name for t in self.tenants])}")


def default_config(root: Path | None = None) -> Config:
    """The config used when there is no ``integration-sync.yaml``: the embedded tenant ``local``."""
    root = (root or Path.cwd()).resolve()
    return Config(
        path=root / DEFAULT_FILE,
        root=root,
        definitions=root / "definitions",
        tenants=(TenantConfig(name="local", url=EMULATOR_SCHEME + "local"),),
    )


def load_config(path: Path, *, must_exist: bool) -> Config:
    """Read and check the config at ``path``. A missing file is an error only when ``must_exist``
    (``--config`` was given); otherwise the default config applies."""
    if not path.exists():
        if must_exist:
            raise ConfigError("config file not found", str(path))
        log.info("no %s: using the default config (embedded tenant 'local')", path)
        return default_config(path.parent if str(path.parent) else None)
    if path.is_dir():
        raise ConfigError("config path is a folder, not a file", str(path))
    file = display_path(path)
    _text, docs, diags = load_yaml_file(path, file)
    if diags:
        d = diags[0]
        raise ConfigError(d.message, file, d.line, d.col)
    if len(docs) > 1:
        raise ConfigError("the config must be one YAML document", file, docs[1].start.line, docs[1].start.col)
    return _Reader(file, docs[0], path.resolve()).config()


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


class _Reader:
    """Checks the plain data of the config document against the config's shape, with positions."""

    def __init__(self, file: str, doc: YamlDoc, path: Path):
        self.file = file
        self.doc = doc
        self.path = path

    def fail(self, message: str, at: JsonPath, *, key: bool = False) -> ConfigError:
        m = self.doc.mark(at, key=key)
        where = ".".join(str(p) for p in at)
        return ConfigError(f"{where}: {message}" if where else message, self.file, m.line, m.col)

    def mapping(self, value: Any, at: JsonPath, allowed: list[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(f"expected a mapping, got {_type_name(value)}", at)
        for key in value:
            if key == "token" or key.endswith("_token") or key == "password":
                raise self.fail(
                    "secrets never go in the config: put the token in an environment variable "
                    "and name that variable with token_env",
                    (*at, key),
                    key=True,
                )
            if key not in allowed:
                msg = f"unknown key {key!r}{_suggest(key, allowed)}; allowed: {', '.join(allowed)}"
                raise self.fail(msg, (*at, key), key=True)
        return value

    def typed(self, value: Any, at: JsonPath, kind: type | tuple[type, ...], what: str) -> Any:
        ok = isinstance(value, kind) and not (isinstance(value, bool) and bool not in _as_tuple(kind))
        if not ok:
            raise self.fail(f"expected {what}, got {_type_name(value)}", at)
        return value

    def config(self) -> Config:
        data = self.mapping(
            self.doc.data, (), ["definitions", "tenants", "settings", "safety", "odata_names", "max_lengths"]
        )
        root = self.path.parent
        definitions = root / "definitions"
        if "definitions" in data:
            rel = self.typed(data["definitions"], ("definitions",), str, "a folder path (string)")
            if not rel.strip():
                raise self.fail("expected a folder path, got an empty string", ("definitions",))
            definitions = (root / rel).resolve()
        settings = self.settings(data.get("settings"), ("settings",))
        safety = self.safety(data.get("safety"), ("safety",), Safety())
        names, lengths = self.tenant_schema(data, ())
        if "tenants" not in data:
            tenants: tuple[TenantConfig, ...] = (
                TenantConfig(
                    name="local", url=EMULATOR_SCHEME + "local", odata_names=names, max_lengths=lengths
                ),
            )
        else:
            tenants = self.tenants(data["tenants"], safety, names, lengths)
        return Config(self.path, root, definitions, tenants, settings, safety, names, lengths)

    def tenant_schema(self, data: Mapping[str, Any], at: JsonPath) -> tuple[dict[str, str], dict[str, int]]:
        """``odata_names`` (YAML key -> the tenant's OData property) and ``max_lengths`` (YAML key ->
        a narrower MaxLength) of the config or of one tenant: where a tenant differs from the schema."""
        from integration_sync import fields as catalogue

        known = {f.yaml: f for f in catalogue.fields()}
        names: dict[str, str] = {}
        value = data.get("odata_names")
        if value is not None:
            for key, odata in self.mapping(value, (*at, "odata_names"), list(known)).items():
                self.typed(odata, (*at, "odata_names", key), str, "an OData property name")
                if not _IDENT.match(odata):
                    raise self.fail(f"{odata!r} is not an OData property name", (*at, "odata_names", key))
                names[key] = odata
        lengths: dict[str, int] = {}
        value = data.get("max_lengths")
        if value is not None:
            for key, limit in self.mapping(value, (*at, "max_lengths"), list(known)).items():
                where = (*at, "max_lengths", key)
                self.typed(limit, where, int, "a length (a positive integer)")
                if "string" not in known[key].types:
                    raise self.fail(f"{key} is not text: it has no length", where)
                schema_limit = catalogue.max_length(key)
                if limit < 1 or (schema_limit is not None and limit > schema_limit):
                    raise self.fail(f"must be between 1 and the schema's {schema_limit or 'no'} limit", where)
                lengths[key] = limit
        return names, lengths

    def settings(self, value: Any, at: JsonPath) -> Settings:
        if value is None:
            return Settings()
        data = self.mapping(value, at, [f.name for f in fields(Settings)])
        out = Settings()
        for key in ("parallelism", "page_size", "max_retries"):
            if key in data:
                v = self.typed(data[key], (*at, key), int, "an integer")
                low = 0 if key == "max_retries" else 1
                if v < low:
                    raise self.fail(f"must be at least {low}, got {v}", (*at, key))
                out = replace(out, **{key: v})
        if "timeout_s" in data:
            v = self.typed(data["timeout_s"], (*at, "timeout_s"), (int, float), "a number of seconds")
            if v <= 0:
                raise self.fail(f"must be more than 0, got {v}", (*at, "timeout_s"))
            out = replace(out, timeout_s=float(v))
        return out

    def safety(self, value: Any, at: JsonPath, base: Safety) -> Safety:
        if value is None:
            return base
        data = self.mapping(value, at, [f.name for f in fields(Safety)])
        out = base
        if "allow_delete" in data:
            v = self.typed(data["allow_delete"], (*at, "allow_delete"), bool, "true or false")
            out = replace(out, allow_delete=v)
        for key in ("max_change_pct", "max_delete_pct"):
            if key in data:
                v = self.typed(data[key], (*at, key), (int, float), "a percentage (0-100)")
                if not 0 <= v <= 100:
                    raise self.fail(f"must be between 0 and 100, got {v}", (*at, key))
                changes: dict[str, Any] = {key: float(v)}
                out = replace(out, **changes)
        return out

    def tenants(
        self, value: Any, safety: Safety, names: Mapping[str, str], lengths: Mapping[str, int]
    ) -> tuple[TenantConfig, ...]:
        at: JsonPath = ("tenants",)
        if not isinstance(value, list):
            raise self.fail(f"expected a list of tenants, got {_type_name(value)}", at)
        if not value:
            raise self.fail("at least one tenant is needed", at)
        seen: dict[str, int] = {}
        out = []
        for i, item in enumerate(value):
            t = self.tenant(item, (*at, i), safety)
            own_names, own_lengths = self.tenant_schema(item, (*at, i))
            t = replace(t, odata_names={**names, **own_names}, max_lengths={**lengths, **own_lengths})
            folded = t.name.casefold()
            if folded in seen:
                first = self.doc.mark((*at, seen[folded], "name")).line
                raise self.fail(f"duplicate tenant name {t.name!r} (first at line {first})", (*at, i, "name"))
            seen[folded] = i
            out.append(t)
        return tuple(out)

    def tenant(self, value: Any, at: JsonPath, safety: Safety) -> TenantConfig:
        allowed = [f.name for f in fields(TenantConfig)]
        data = self.mapping(value, at, allowed)
        for key in ("name", "url"):
            if key not in data:
                raise self.fail(f"a tenant needs {key!r}", at)
        name = self.typed(data["name"], (*at, "name"), str, "a string")
        if not _TENANT_NAME.match(name):
            raise self.fail(
                f"invalid tenant name {name!r}: use letters, digits, '.', '_' and '-' (at most 64)",
                (*at, "name"),
            )
        url = self.url(data["url"], (*at, "url"), bool(data.get("allow_insecure_http")))
        token_env = data.get("token_env")
        if token_env is not None:
            self.typed(token_env, (*at, "token_env"), str, "an environment variable name")
            if not _IDENT.match(token_env):
                raise self.fail(f"{token_env!r} is not an environment variable name", (*at, "token_env"))
        tags = data.get("tags") or []
        if not isinstance(tags, list):
            raise self.fail(f"expected a list of tags, got {_type_name(tags)}", (*at, "tags"))
        for j, tag in enumerate(tags):
            self.typed(tag, (*at, "tags", j), str, "a tag (string)")
        vars_ = data.get("vars") or {}
        if not isinstance(vars_, dict):
            raise self.fail(f"expected a mapping of variables, got {_type_name(vars_)}", (*at, "vars"))
        for k, v in vars_.items():
            if not _IDENT.match(k):
                raise self.fail(f"{k!r} is not a variable name", (*at, "vars", k), key=True)
            if isinstance(v, dict | list):
                raise self.fail("a variable holds a single value, not a list or mapping", (*at, "vars", k))
        insecure = data.get("allow_insecure_http", False)
        self.typed(insecure, (*at, "allow_insecure_http"), bool, "true or false")
        return TenantConfig(
            name=name,
            url=url,
            token_env=token_env,
            tags=tuple(tags),
            vars=dict(vars_),
            safety=self.safety(data.get("safety"), (*at, "safety"), safety),
            allow_insecure_http=insecure,
        )

    def url(self, value: Any, at: JsonPath, insecure: bool) -> str:
        url = self.typed(value, at, str, "a URL")
        if url.startswith(EMULATOR_SCHEME):
            if not _TENANT_NAME.match(url[len(EMULATOR_SCHEME) :]):
                raise self.fail(f"invalid embedded tenant {url!r}: expected emulator:NAME", at)
            return url
        try:
            parts = urlsplit(url)
            _ = parts.port  # raises for a port that is not a number in range
        except ValueError as exc:
            raise self.fail(f"invalid url {url!r}: {exc}", at) from exc
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise self.fail(
                f"invalid url {url!r}: expected https://host/path/ (or emulator:NAME for the embedded tenant)",
                at,
            )
        if parts.query or parts.fragment:
            raise self.fail(f"invalid url {url!r}: a base URL has no query or fragment", at)
        if parts.username or parts.password:
            raise self.fail("credentials do not belong in the url: use token_env", at)
        if parts.scheme == "http" and not insecure and not is_loopback(parts.hostname):
            raise self.fail(
                f"{url!r} is plain http: the token would travel unencrypted; use https "
                "(or set allow_insecure_http: true)",
                at,
            )
        return url if url.endswith("/") else url + "/"


def is_loopback(host: str) -> bool:
    """Whether plain http to ``host`` stays on this machine (``localhost``, ``127.x``, ``[::1]``): the
    one rule for the config and the client, so a URL one accepts the other does not refuse."""
    if host.lower() in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


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
