"""Hermetic tests: no proxies, no tokens or colour settings from the developer's shell."""

from __future__ import annotations

import os

import pytest

_LEAKY_PREFIXES = ("FK_", "INTEGRATION_SYNC_", "GITHUB_", "GITLAB_")
_LEAKY = {
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "NO_COLOR",
    "FORCE_COLOR",
    "CI",
}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key in _LEAKY or key.startswith(_LEAKY_PREFIXES):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
