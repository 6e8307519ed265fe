"""Which tenants a run touches: ``--tenant`` / ``--exclude-tenant`` by name, ``--tag``, and ``--shard K/N``.

Pure: ``select_tenants`` narrows the config's tenants; ``parse_shard`` reads ``K/N``, and ``shard_of``
is a stable split by a SHA-256 of the tenant name, so that N CI jobs cover every tenant exactly once
with no coordination, and adding a tenant never moves the others.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from integration_sync.config import Config, TenantConfig
from integration_sync.errors import ConfigError
from integration_sync.render import plural

log = logging.getLogger(__name__)

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, tenant_name: str) -> bool:
        return shard_of(tenant_name, self.count) == self.index


def parse_shard(text: str) -> Shard:
    """``"K/N"`` with ``1 <= K <= N``."""
    m = _SHARD.match(text)
    if not m:
        raise ConfigError(f"--shard {text!r}: expected K/N, e.g. 1/4")
    k, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= k <= n:
        raise ConfigError(f"--shard {text!r}: K must be between 1 and N (N at least 1)")
    return Shard(k, n)


def shard_of(tenant_name: str, count: int) -> int:
    """The 1-based shard a tenant belongs to: stable across runs, machines and Python versions."""
    digest = hashlib.sha256(tenant_name.casefold().encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def select_tenants(
    config: Config,
    *,
    names: Iterable[str] = (),
    exclude: Iterable[str] = (),
    tags: Iterable[str] = (),
    shard: Shard | None = None,
) -> tuple[TenantConfig, ...]:
    """The tenants a run covers, in config order.

    ``names`` (any given) and ``tags`` (any of them) narrow the config's tenants; ``exclude`` removes
    some; ``shard`` keeps its share. An unknown name is an error with a suggestion; a selection that is
    empty before sharding is an error (an empty shard of a small fleet is not).
    """
    # names match case-insensitively, as they are unique that way; an unknown one raises ConfigError
    # with "did you mean"
    names = [config.tenant(name).name for name in names]
    exclude = [config.tenant(name).name for name in exclude]
    tags = list(tags)
    known_tags = {tag for t in config.tenants for tag in t.tags}
    for tag in tags:
        if tag not in known_tags:
            raise ConfigError(
                f"--tag {tag!r}: no tenant has this tag (tags: {', '.join(sorted(known_tags)) or 'none'})"
            )
    chosen = [
        t
        for t in config.tenants
        if (not names or t.name in names) and (not tags or set(tags) & set(t.tags)) and t.name not in exclude
    ]
    if not chosen:
        raise ConfigError("no tenant selected: the --tenant, --tag and --exclude-tenant options leave none")
    if shard is not None:
        chosen = [t for t in chosen if shard.holds(t.name)]
        log.info("shard %s holds %s", shard, plural(len(chosen), "tenant"))
    return tuple(chosen)
