"""Where a request may go and what it carries: one TLS context, the proxy chosen for a URL, the token
as a header can carry it, and links followed only to the tenant's origin and base path.

``transport`` applies these rules to every request; the rules themselves are in docs/odata.md.
"""

from __future__ import annotations

import os
import ssl
import urllib.request
from functools import cache
from typing import Final
from urllib.parse import unquote

import httpx

from integration_sync import errors, logs
from integration_sync.replies import request_path, shown
from integration_sync.tenant_url import is_loopback

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


@cache
def ssl_context() -> ssl.SSLContext:
    """One TLS context for the process. Building one loads the CA bundle (20-40 ms of CPU); a fleet of
    tenants, each with its own client, would otherwise pay that once per tenant."""
    return ssl.create_default_context()


def proxy_for(url: httpx.URL) -> str | None:
    """The proxy a request to ``url`` goes through: none for plain ``http`` or a loopback host (the
    token would travel in clear, and the embedded tenant must stay reachable), else the standard
    variables: ``HTTPS_PROXY`` or ``ALL_PROXY`` (lower case first), except for hosts in ``NO_PROXY``."""
    if url.scheme != "https" or is_loopback(url.host):
        return None
    for name in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        value = os.environ.get(name, "").strip()
        if value:
            if urllib.request.proxy_bypass_environment(url.host, {"no": _no_proxy()}):  # type: ignore[attr-defined]
                return None
            return value
    return None


def _no_proxy() -> str:
    return os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or ""


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host.lower(), url.port or _DEFAULT_PORTS.get(url.scheme))


def blank_token(token: str) -> bool:
    """Whether a token is no token: empty or only whitespace (the one rule, for a token variable and
    for the header)."""
    return not token.strip()


def header_token(tenant: str, token: str | None) -> str | None:
    """The token as it can travel in a header: without the whitespace around it (a secret pasted with
    a trailing newline), and refused, without showing it, when a header cannot carry it (httpx would
    raise deep inside a request, or retry a protocol error as if the network had failed)."""
    if token is None:
        return None
    if blank_token(token):
        raise errors.ConfigError(f"tenant {tenant}: the API token is empty (only whitespace)")
    token = token.strip()
    logs.register_secret(token)  # stripped: a whitespace "secret" would blank out every space logged
    if not all(" " <= c <= "~" for c in token):
        raise errors.ConfigError(
            f"tenant {tenant}: the API token holds a character an HTTP header cannot carry (a line "
            "break, a control or a non-ASCII character); check the secret's value"
        )
    return token


def same_origin(
    tenant: str, base_url: httpx.URL, link: str, against: httpx.URL, what: str, method: str
) -> httpx.URL:
    """``link`` resolved against ``against``, when it stays on the tenant's origin and under its base
    path (``/victim/OData/`` on the same host is another tenant); else an ``ApiError``."""
    try:
        url = against.join(link)
        url.raw_path.decode("ascii")
        origin = _origin(url)  # decodes the host: an IDNA error surfaces here
    except (httpx.InvalidURL, ValueError) as exc:  # an IDNA label (xn--), a lone surrogate, ...
        raise errors.ApiError(
            f"{what} is not a usable URL: {shown(repr(link), 200)}",
            tenant=tenant,
            request=f"{method} {request_path(against)}",
        ) from exc
    if origin != _origin(base_url):
        raise errors.ApiError(
            logs.redact(
                f"refusing to follow {what} to another origin ({url.scheme}://{url.host}"
                f"{':' + str(url.port) if url.port else ''}): the token is only sent to "
                f"{base_url.scheme}://{base_url.host}"
            ),
            tenant=tenant,
            request=f"{method} {request_path(against)}",
        )
    path = unquote(url.raw_path.split(b"?", 1)[0].decode("ascii"))
    base = unquote(base_url.raw_path.split(b"?", 1)[0].decode("ascii"))
    if not path.casefold().startswith(base.casefold()) or {".", ".."} & set(path.split("/")):
        raise errors.ApiError(
            logs.redact(
                f"refusing to follow {what} outside the tenant's base path {base} (to {shown(path)})"
            ),
            tenant=tenant,
            request=f"{method} {request_path(against)}",
        )
    return url
