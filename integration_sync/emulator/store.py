"""SQLite storage for the emulator: one table of integrations for all tenants, one of tenants.

One connection shared by the server's event-loop thread and any caller's thread (``check_same_thread``
off), every statement under one re-entrant lock; callers that need a check-then-write to be atomic
(duplicate names, If-Match) run both in one ``store.transaction()``, which other processes sharing the
file respect too (two ``apply`` runs on the embedded tenant each serve it from their own emulator). Columns are derived from the schema, so a
field added to the schema is added to an existing database file on open.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from integration_sync.emulator import model

log = logging.getLogger(__name__)

Entity = dict[str, Any]


def _col(name: str) -> str:
    return f'"{name}"'


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Store:
    """Integrations of many tenants in one SQLite database (a file, or ``:memory:``)."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self._depth = 0  # transactions open on this connection (nested ones join the outer)
        self._conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False, isolation_level=None)
        self._conn.create_function("fold", 1, _fold, deterministic=True)
        self._conn.create_function("lower_u", 1, _lower, deterministic=True)
        self._conn.create_function("upper_u", 1, _upper, deterministic=True)
        self._create()

    def _create(self) -> None:
        props = model.props()
        cols = ", ".join(f"{_col(p.name)} {_sql_type(p)}" for p in props)
        with self.lock:
            self._conn.execute(
                "PRAGMA journal_mode=WAL" if self.path != ":memory:" else "PRAGMA temp_store=MEMORY"
            )
            self._conn.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
            self._conn.execute("INSERT OR IGNORE INTO meta (k, v) VALUES ('version', 0)")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS tenants (name TEXT PRIMARY KEY, next_id INTEGER NOT NULL DEFAULT 1)"
            )
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS integrations (tenant TEXT NOT NULL, "
                f'{_col(model.KEY)} INTEGER NOT NULL, version INTEGER NOT NULL, "CreatedAt" TEXT, '
                f'"ModifiedAt" TEXT, {cols}, PRIMARY KEY (tenant, {_col(model.KEY)}))'
            )
            have = {r[1] for r in self._conn.execute("PRAGMA table_info(integrations)")}
            for p in props:
                if p.name not in have:
                    log.info("adding column %s to %s", p.name, self.path)
                    self._conn.execute(f"ALTER TABLE integrations ADD COLUMN {_col(p.name)} {_sql_type(p)}")
                    self._conn.execute(
                        f"UPDATE integrations SET {_col(p.name)} = ?", (_to_sql(p, p.default()),)
                    )

    def close(self) -> None:
        with self.lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One SQLite write transaction (``BEGIN IMMEDIATE``: it holds the database's write lock from
        its start, so a check and the write that depends on it are atomic across every connection and
        process on the file). Re-entrant: a transaction inside one joins it."""
        with self.lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._depth = 0
                self._conn.execute("ROLLBACK")
                raise
            self._depth = 0
            self._conn.execute("COMMIT")

    # --- tenants -------------------------------------------------------------------------------------

    def ensure_tenant(self, name: str) -> bool:
        """Register ``name``; True when it is new to this database (its first use)."""
        with self.lock:
            cur = self._conn.execute("INSERT OR IGNORE INTO tenants (name) VALUES (?)", (name,))
            return cur.rowcount == 1

    def forget_tenant(self, name: str) -> None:
        with self.transaction():
            self._conn.execute("DELETE FROM integrations WHERE tenant = ?", (name,))
            self._conn.execute("DELETE FROM tenants WHERE name = ?", (name,))

    def clear(self, tenant: str | None = None) -> None:
        """Delete every integration (of one tenant, or of all) and restart its ids at 1."""
        with self.transaction():
            if tenant is None:
                self._conn.execute("DELETE FROM integrations")
                self._conn.execute("UPDATE tenants SET next_id = 1")
            else:
                self._conn.execute("DELETE FROM integrations WHERE tenant = ?", (tenant,))
                self._conn.execute("UPDATE tenants SET next_id = 1 WHERE name = ?", (tenant,))

    # --- reads ---------------------------------------------------------------------------------------

    def select(
        self,
        tenant: str,
        where: str = "",
        params: Sequence[Any] = (),
        order: str = "",
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Entity]:
        sql = f"SELECT {_entity_columns()} FROM integrations WHERE tenant = ?{' AND (' + where + ')' if where else ''}"
        sql += f" ORDER BY {order + ', ' if order else ''}{_col(model.KEY)}"
        sql += " LIMIT ? OFFSET ?"
        args = [tenant, *params, -1 if limit is None else limit, offset]
        with self.lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [_from_row(row) for row in rows]

    def count(self, tenant: str, where: str = "", params: Sequence[Any] = ()) -> int:
        sql = f"SELECT COUNT(*) FROM integrations WHERE tenant = ?{' AND (' + where + ')' if where else ''}"
        with self.lock:
            return int(self._conn.execute(sql, [tenant, *params]).fetchone()[0])

    def get(self, tenant: str, key: int) -> Entity | None:
        rows = self.select(tenant, f"{_col(model.KEY)} = ?", (key,))
        return rows[0] if rows else None

    def find_name(
        self, tenant: str, name: str, *, case_sensitive: bool, exclude: int | None = None
    ) -> int | None:
        """The key of another integration called ``name``, or None."""
        col = _col(model.name_prop())
        where = f"{col} = ?" if case_sensitive else f"fold({col}) = fold(?)"
        sql = f"SELECT {_col(model.KEY)} FROM integrations WHERE tenant = ? AND {where}"
        args: list[Any] = [tenant, name]
        if exclude is not None:
            sql += f" AND {_col(model.KEY)} <> ?"
            args.append(exclude)
        with self.lock:
            row = self._conn.execute(sql + " LIMIT 1", args).fetchone()
        return int(row[0]) if row else None

    # --- writes --------------------------------------------------------------------------------------

    def _next_version(self) -> int:
        """The next row version, global to the database (like SQL Server's rowversion): every write
        gives a new etag, also across processes sharing the file. Call inside a transaction."""
        row = self._conn.execute("UPDATE meta SET v = v + 1 WHERE k = 'version' RETURNING v").fetchone()
        return int(row[0])

    def insert(self, tenant: str, values: Entity) -> Entity:
        """Insert a full entity (every property present); returns it with ``Id`` and version."""
        props = model.props()
        with self.transaction():
            self._conn.execute("INSERT OR IGNORE INTO tenants (name) VALUES (?)", (tenant,))
            key = int(
                self._conn.execute("SELECT next_id FROM tenants WHERE name = ?", (tenant,)).fetchone()[0]
            )
            self._conn.execute("UPDATE tenants SET next_id = ? WHERE name = ?", (key + 1, tenant))
            now = _now()
            cols = ["tenant", model.KEY, "version", "CreatedAt", "ModifiedAt", *(p.name for p in props)]
            args = [tenant, key, self._next_version(), now, now, *(_to_sql(p, values[p.name]) for p in props)]
            self._conn.execute(
                f"INSERT INTO integrations ({', '.join(map(_col, cols))}) VALUES ({', '.join('?' * len(cols))})",
                args,
            )
        got = self.get(tenant, key)
        assert got is not None
        return got

    def insert_many(self, tenant: str, entities: Sequence[Entity]) -> int:
        """Insert full entities (every property present) in one transaction, for bulk seeding (a
        benchmark's 10,000 tenants); the same rows, keys and versions as ``insert`` one by one, without
        reading each back. Returns how many were inserted."""
        props = model.props()
        cols = ["tenant", model.KEY, "version", "CreatedAt", "ModifiedAt", *(p.name for p in props)]
        sql = f"INSERT INTO integrations ({', '.join(map(_col, cols))}) VALUES ({', '.join('?' * len(cols))})"
        count = len(entities)
        with self.transaction():
            self._conn.execute("INSERT OR IGNORE INTO tenants (name) VALUES (?)", (tenant,))
            first = int(
                self._conn.execute("SELECT next_id FROM tenants WHERE name = ?", (tenant,)).fetchone()[0]
            )
            self._conn.execute("UPDATE tenants SET next_id = ? WHERE name = ?", (first + count, tenant))
            row = self._conn.execute(
                "UPDATE meta SET v = v + ? WHERE k = 'version' RETURNING v", (count,)
            ).fetchone()
            version = int(row[0]) - count
            now = _now()
            self._conn.executemany(
                sql,
                (
                    [tenant, first + i, version + i + 1, now, now, *(_to_sql(p, e[p.name]) for p in props)]
                    for i, e in enumerate(entities)
                ),
            )
        return count

    def update(self, tenant: str, key: int, values: Entity) -> Entity | None:
        """Set some properties; a new version either way. None when the key does not exist."""
        table = model.by_name()
        sets = [f"{_col(n)} = ?" for n in values]
        args = [_to_sql(table[n], v) for n, v in values.items()]
        with self.transaction():
            cur = self._conn.execute(
                f"UPDATE integrations SET {', '.join([*sets, 'version = ?', 'ModifiedAt = ?'])} "
                f"WHERE tenant = ? AND {_col(model.KEY)} = ?",
                [*args, self._next_version(), _now(), tenant, key],
            )
            if cur.rowcount == 0:
                return None
        return self.get(tenant, key)

    def delete(self, tenant: str, key: int) -> bool:
        with self.transaction():
            cur = self._conn.execute(
                f"DELETE FROM integrations WHERE tenant = ? AND {_col(model.KEY)} = ?", (tenant, key)
            )
            return cur.rowcount == 1


def _sql_type(p: model.Prop) -> str:
    return "TEXT" if p.kind == "string" else "INTEGER"


def _to_sql(p: model.Prop, value: Any) -> Any:
    if value is None:
        return None
    if p.kind == "boolean":
        return 1 if value else 0
    return value


@cache
def _entity_names() -> tuple[str, ...]:
    """An entity's keys, in order: the key, its version, the properties, the audit stamps."""
    return (model.KEY, "_version", *(p.name for p in model.props()), *model.AUDIT_PROPS)


@cache
def _entity_columns() -> str:
    """The columns ``select`` reads, in the order of ``_entity_names``."""
    return ", ".join(
        [_col(model.KEY), "version", *(_col(p.name) for p in model.props()), *map(_col, model.AUDIT_PROPS)]
    )


@cache
def _boolean_names() -> tuple[str, ...]:
    return tuple(p.name for p in model.props() if p.kind == "boolean")


def _from_row(row: Sequence[Any]) -> Entity:
    """An entity from a row of ``_entity_columns``; booleans back from SQLite's integers."""
    out: Entity = dict(zip(_entity_names(), row, strict=True))
    for name in _boolean_names():
        v = out[name]
        if v is not None:
            out[name] = bool(v)
    return out


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value
