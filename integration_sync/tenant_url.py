"""What a tenant's base URL may be: ``https://host/path/``, plain http only to this machine (or when
the config allows it), ``emulator:NAME`` for the embedded tenant; never credentials, a query or a
fragment. The config checks a URL with ``url_problem``; the client asks ``is_loopback`` too."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit, urlunsplit

EMULATOR_SCHEME = "emulator:"
_TENANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_LOOPBACK_HOSTS = {"localhost"}


def url_problem(url: str, insecure: bool) -> str | None:
    """Why ``url`` cannot be a tenant's base URL, or None. Never echoes credentials (a URL with them
    is refused without its text), nor a query (where a token may have been pasted)."""
    if url.startswith(EMULATOR_SCHEME):
        if not _TENANT_NAME.match(url[len(EMULATOR_SCHEME) :]):
            return f"invalid embedded tenant {url!r}: expected emulator:NAME"
        return None
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises for a port that is not a number in range
    except ValueError as exc:
        shown = url if "@" not in url and "?" not in url else "(not shown)"
        return f"invalid url {shown!r}: {exc}"
    if parts.username or parts.password or "@" in parts.netloc:
        return "credentials do not belong in the url: use token_env (the url is not shown)"
    if parts.query or parts.fragment:
        return "invalid url: a base URL has no query or fragment (the url is not shown)"
    safe = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        shown = (
            safe
            if parts.scheme in ("http", "https")
            else f"{parts.scheme}:..."
            if parts.scheme
            else "(not shown)"
        )
        return (
            f"invalid url {shown!r}: expected https://host/path/ (or emulator:NAME for the embedded tenant)"
        )
    if parts.scheme == "http" and not insecure and not is_loopback(parts.hostname):
        return (
            f"{url!r} is plain http: the token would travel unencrypted; use https "
            "(or set allow_insecure_http: true)"
        )
    return None


def normal_url(url: str) -> str:
    """A base URL as the client joins paths to it: ending in ``/`` (an embedded tenant as it is)."""
    return url if url.startswith(EMULATOR_SCHEME) or url.endswith("/") else url + "/"


def is_loopback(host: str) -> bool:
    """Whether plain http to ``host`` stays on this machine (``localhost``, ``127.x``, ``[::1]``): the
    one rule for the config and the client, so a URL one accepts the other does not refuse."""
    if host.lower() in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
