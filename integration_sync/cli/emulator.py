"""``integration-sync emulator``: serve the tenant emulator in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import signal
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import click
import uvicorn

from integration_sync.cli.root import fail
from integration_sync.config import is_env_name
from integration_sync.emulator.demo import seed_demo as demo_seeder
from integration_sync.emulator.server import bind, uvicorn_config
from integration_sync.emulator.state import Emulator
from integration_sync.emulator.store import Store
from integration_sync.emulator.variations import Variations, profile
from integration_sync.logs import register_secret

log = logging.getLogger(__name__)


@contextmanager
def _requests_logged() -> Iterator[None]:
    """One log line per request while the emulator serves, whatever -v says."""
    request_log = logging.getLogger("integration_sync.emulator")
    previous_level = request_log.level
    request_log.setLevel(logging.INFO)
    try:
        yield
    finally:
        request_log.setLevel(previous_level)


class _ForegroundServer(uvicorn.Server):
    """uvicorn's server, stopping gracefully on SIGINT/SIGTERM without re-raising the signal after, so
    the command ends with exit code 0 (a second Ctrl-C forces the exit)."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True


def _parse_tenant(spec: str) -> tuple[str, str | None]:
    name, sep, token = spec.partition("=")
    if not sep:
        return name, None
    if token.startswith("env:"):
        var = token[4:]
        if not is_env_name(var):  # never echoed: it may be the token itself
            fail(
                f"--tenant {name}: env:VAR needs an environment variable name (letters, digits and _, "
                "not starting with a digit, at most 64 characters)"
            )
        value = os.environ.get(var)
        if value is None or not value.strip():  # as a tenant's token_env: blank is no token
            fail(
                f"--tenant {name}: environment variable {var} {'is not set' if value is None else 'is empty'}"
            )
        return name, value
    return name, token or None


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _variations(
    tenants: list[str], profiles: tuple[str, ...], varies: tuple[str, ...]
) -> dict[str, dict[str, Any]]:

    out: dict[str, dict[str, Any]] = {name: {} for name in tenants}
    for spec in profiles:
        name, sep, prof = spec.partition("=")
        if not sep or name not in out:
            fail(f"--profile {spec!r}: expected TENANT=PROFILE for a tenant given with --tenant")
        try:
            out[name].update(profile(prof))
        except ValueError as exc:
            fail(f"--profile {spec!r}: {exc}")
    for spec in varies:
        name, sep, switch = spec.partition(":")
        if not sep or name not in out or not switch:
            fail(f"--vary {spec!r}: expected TENANT:SWITCH[=VALUE] for a tenant given with --tenant")
        key, eq, value = switch.partition("=")
        out[name][key] = _parse_value(value) if eq else True
        try:  # a bad value is told as the --vary it came from, not as the tenant it is for
            Variations.from_dict({key: out[name][key]})
        except ValueError as exc:
            fail(f"--vary {spec!r}: {exc}")
    return out


def _faults(tenants: list[str], specs: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for spec in specs:
        name, sep, setting = spec.partition(":")
        key, eq, value = setting.partition("=")
        if not sep or not eq or not key or (name != "*" and name not in tenants):
            fail(f"--fault {spec!r}: expected TENANT:SETTING=VALUE, TENANT given with --tenant or *")
        out.setdefault(name, {})[key] = _parse_value(value)
    return out


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--port", default=8765, show_default=True, type=int, help="Port to bind (0: any free port).")
@click.option(
    "--tenant",
    "tenant_specs",
    multiple=True,
    metavar="NAME[=TOKEN]",
    help="A tenant to serve (repeatable). With a TOKEN it requires 'Authorization: Bearer TOKEN'; "
    "TOKEN may be env:VAR to read it from the environment.",
)
@click.option(
    "--db",
    default=":memory:",
    show_default=True,
    help="SQLite file for the data (kept between runs), or :memory:.",
)
@click.option(
    "--seed-demo", is_flag=True, help="Seed each tenant's first use with demo client-owned integrations."
)
@click.option(
    "--profile",
    "profiles",
    multiple=True,
    metavar="TENANT=PROFILE",
    help="A named set of variation switches for a tenant: default, strict, odata401, minimal, quirky.",
)
@click.option(
    "--vary",
    "varies",
    multiple=True,
    metavar="TENANT:SWITCH[=VALUE]",
    help="One variation switch for a tenant, e.g. acme:post_no_content or acme:page_size=10 "
    "(VALUE is JSON; without it, true). See README, 'The emulator'.",
)
@click.option(
    "--fault",
    "fault_specs",
    multiple=True,
    metavar="TENANT:SETTING=VALUE",
    help="A fault setting at start-up, e.g. '*:p429=0.1' or acme:latency_ms=200 (see POST /_emulator/faults).",
)
def emulator_cmd(
    host: str,
    port: int,
    tenant_specs: tuple[str, ...],
    db: str,
    seed_demo: bool,
    profiles: tuple[str, ...],
    varies: tuple[str, ...],
    fault_specs: tuple[str, ...],
) -> None:
    """Serve the FinanceKey tenant emulator (OData v4) for local tries, tests and demos.

    Tenants are at http://HOST:PORT/NAME/OData/; the admin surface is under /_emulator/.
    Logs one line per request; stop with Ctrl-C.
    """
    with _requests_logged():
        specs = [_parse_tenant(s) for s in tenant_specs] or [("local", None)]
        for _, token in specs:
            register_secret(token)
        names = [name for name, _ in specs]
        variations = _variations(names, profiles, varies)
        faults = _faults(names, fault_specs)
        try:
            if not ipaddress.ip_address(host).is_loopback:
                log.warning(
                    "binding %s: the emulator and its admin surface are reachable from the network", host
                )
        except ValueError:
            log.warning("binding %s: make sure it is a loopback name", host)
        try:
            if db != ":memory:":
                Path(db).parent.mkdir(parents=True, exist_ok=True)
            store = Store(db)
        except (OSError, sqlite3.Error) as exc:
            fail(f"--db {db}: cannot open the emulator's database: {exc}")
        try:
            emu = Emulator(store, demo_seeder if seed_demo else None)
            for name, token in specs:
                try:
                    emu.add_tenant(name, token, variations[name], startup=True)
                except ValueError as exc:
                    fail(f"--tenant {name}: {exc}")
            for name, settings in faults.items():
                try:
                    emu.set_faults(name, settings)
                except ValueError as exc:
                    fail(f"--fault {name}: {exc}")
            try:
                sock = bind(host, port)
            except OSError as exc:
                fail(f"cannot bind {host}:{port}: {exc.strerror or exc}")
            try:
                bound = sock.getsockname()[1]
                shown = f"[{host}]" if ":" in host else host
                for name, token in specs:
                    lock = " (bearer token required)" if token else ""
                    click.echo(f"tenant {name}: http://{shown}:{bound}/{name}/OData/{lock}", err=True)
                click.echo(f"admin: http://{shown}:{bound}/_emulator/  (Ctrl-C to stop)", err=True)
                _ForegroundServer(uvicorn_config(emu)).run(sockets=[sock])
            finally:
                sock.close()
        finally:
            store.close()
        click.echo("emulator stopped", err=True)
