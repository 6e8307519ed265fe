"""Tenant selection: names, exclusions, tags, and shards that cover every tenant exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from integration_sync.config import Config, TenantConfig
from integration_sync.connect import ClientSettings, TenantConnector
from integration_sync.errors import ConfigError
from integration_sync.selection import parse_shard, select_tenants, shard_of


def config(n: int = 5) -> Config:
    tenants = tuple(
        TenantConfig(name=f"t{i}", url=f"https://t{i}.example.com/OData/", tags=("uk",) if i % 2 else ("us",))
        for i in range(n)
    )
    return Config(path=Path("x.yaml"), root=Path("."), definitions=Path("definitions"), tenants=tenants)


def names(ts: tuple[TenantConfig, ...]) -> list[str]:
    return [t.name for t in ts]


def test_select_by_name_tag_and_exclusion() -> None:
    c = config()
    assert names(select_tenants(c)) == ["t0", "t1", "t2", "t3", "t4"]
    assert names(select_tenants(c, names=["t3", "t1"])) == ["t1", "t3"]
    assert names(select_tenants(c, tags=["uk"])) == ["t1", "t3"]
    assert names(select_tenants(c, tags=["uk"], exclude=["t1"])) == ["t3"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"names": ["t9"]}, "unknown tenant 't9'"),
        ({"exclude": ["tt1"]}, "did you mean t1"),
        ({"tags": ["fr"]}, "no tenant has this tag"),
        ({"names": ["t1"], "exclude": ["t1"]}, "no tenant selected"),
    ],
)
def test_bad_selection_is_a_clear_error(kwargs: dict[str, list[str]], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        select_tenants(config(), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "a/b", "1", "1/2/3"])
def test_bad_shard(text: str) -> None:
    with pytest.raises(ConfigError, match="--shard"):
        parse_shard(text)


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_cover_every_tenant_once(count: int) -> None:
    c = config(50)
    seen: list[str] = []
    for k in range(1, count + 1):
        seen.extend(names(select_tenants(c, shard=parse_shard(f"{k}/{count}"))))
    assert sorted(seen) == sorted(names(c.tenants))


def test_shard_is_stable_and_independent_of_the_fleet() -> None:
    # A pinned value: the split must not change across Python versions or runs (sha256, not hash()).
    assert [shard_of(f"t{i}", 4) for i in range(8)] == [shard_of(f"t{i}", 4) for i in range(8)]
    assert (
        shard_of("acme", 4)
        == int.from_bytes(__import__("hashlib").sha256(b"acme").digest()[:8], "big") % 4 + 1
    )
    small, big = config(5), config(50)
    for t in small.tenants:
        assert select_tenants(small, shard=parse_shard("2/3")).__contains__(t) == (shard_of(t.name, 3) == 2)
        assert t in big.tenants


def test_missing_token_variable_fails_that_tenant_only(monkeypatch: pytest.MonkeyPatch) -> None:
    t = TenantConfig(name="acme", url="https://acme.example.com/OData/", token_env="FK_TOKEN_ACME")
    reach = TenantConnector([t], ClientSettings())
    with pytest.raises(ConfigError, match="FK_TOKEN_ACME is not set"):
        reach.client(t)
    monkeypatch.setenv("FK_TOKEN_ACME", "  ")  # a CI secret that is defined but empty
    with pytest.raises(ConfigError, match="FK_TOKEN_ACME is empty"):
        reach.client(t)
    monkeypatch.setenv("FK_TOKEN_ACME", "s3cret")
    client = reach.client(t)
    assert "s3cret" not in repr(client)
