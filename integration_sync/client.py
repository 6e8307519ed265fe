"""The OData client for one tenant's ``Integrations`` entity set: listing (paged, checked for rows
skipped or moved while it was read), reads by key and by name, creates, updates and deletes, with the
tenant's own property names translated to the schema's here and only here.

``transport.TenantSession`` below it sends (deadlines, retries, capped reads, proxies); the wire contract
both follow is docs/odata.md. Two rules shape the writes:

* A create is not idempotent. When its request *may* have reached the server (a timeout or dropped
  connection after sending, a 5xx), it is never re-sent blindly: the name is read first, and an
  integration found under it is the create's result. So no integration is ever created twice.
* PATCH and DELETE are re-sent (with ``If-Match`` they cannot overwrite anything; without an etag a
  PATCH to the same values is idempotent). When an earlier attempt may have been applied, a 412 on the
  re-send is checked by re-reading (the change is there: success), and a 404 on a DELETE means done.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any, Final, Unpack
from urllib.parse import quote

import httpx

from integration_sync import errors, fields, logs
from integration_sync.config import Settings
from integration_sync.entities import (
    LiveIntegration,
    count_of,
    format_key,
    live_integration,
    odata_string,
    query_string,
)
from integration_sync.fields import UNSET
from integration_sync.plan import equal
from integration_sync.replies import RETRY_STATUSES, shown
from integration_sync.transport import (
    DEFAULT_MAX_RESPONSE_BYTES,
    MAX_RAW_BODY,
    MEDIA_TYPE,
    RawReply,
    RequestStats,
    SessionOptions,
    TenantSession,
    Transport,
    _Lost,
    _OverBudget,
)

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "ENTITY_SET",
    "MAX_RAW_BODY",
    "MEDIA_TYPE",
    "LiveIntegration",
    "RawReply",
    "RequestStats",
    "TenantClient",
    "Transport",
    "format_key",
    "odata_string",
    "query_string",
]

ENTITY_SET: Final = "Integrations"
_NEXT_LINKS: Final = ("@odata.nextLink", "@nextLink")
_COUNTS: Final = ("@odata.count", "@count")
#: Full readings of a listing after the first, when it moved while it was read (a key repeated with
#: different values, a count that changed or does not match the keys read), before the tenant fails.
RELISTS: Final = 2
#: Pages in a row that may bring no key not read before (a server may send an empty page with a next
#: link); one more and the paging is stuck.
IDLE_PAGES: Final = 2
#: Pages one reading may take at most when the tenant serves no count (with a count: count + 3).
MAX_PAGES: Final = 10_000


class _Moved(Exception):
    """Internal: the listing moved while it was read (read it again). ``reading``: when only its count
    disagreed with the keys read, those integrations (the count may be wrong rather than the listing)."""

    def __init__(self, why: str, reading: list[LiveIntegration] | None = None, count: int | None = None):
        super().__init__(why)
        self.reading = reading
        self.count = count


class TenantClient(TenantSession):
    """An async OData client for one tenant: pooled connections, timeouts, retries, typed errors.

    Use it as ``async with TenantClient(...) as client:`` (or call ``aclose()``). A ``transport`` passed
    in stays the caller's: it may be shared by several clients and is not closed here.
    """

    def __init__(
        self,
        tenant: str,
        base_url: str,
        *,
        page_size: int = Settings.page_size,
        odata_names: Mapping[str, str] | None = None,
        **options: Unpack[SessionOptions],
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be >= 1")
        super().__init__(tenant, base_url, **options)
        self.page_size = page_size
        # The tenant's own property names (the config's odata_names), translated here and only here:
        # everything above the client reads and writes the schema's names.
        self._out = fields.renamed(odata_names)
        self._in = {new: old for old, new in self._out.items()}
        #: Set to False once the tenant refuses query options, so later reads skip them.
        self._query_options_ok = True
        #: Set to False once the tenant refuses ``$count`` on a listing.
        self._count_ok = True
        self._checked = False
        #: Whether the last ``list_integrations`` cannot have skipped a row unseen: it was one page, or
        #: the tenant's count matched the keys read. When False, a planned create is confirmed by name.
        self.listing_checked = False

    # -- URLs -------------------------------------------------------------------------------------

    @property
    def collection_url(self) -> httpx.URL:
        return self._under_base(ENTITY_SET)

    def entity_url(self, key: int | str | uuid.UUID) -> httpx.URL:
        return self._under_base(ENTITY_SET + quote(format_key(key), safe="()'"))

    def _collection_with(self, options: Mapping[str, str]) -> httpx.URL:
        return self._under_base(ENTITY_SET + query_string(options))

    def _under_base(self, relative: str) -> httpx.URL:
        """``base_url.join(relative)`` for what this client addresses (a segment, perhaps a key and a
        query; never a dot segment or a scheme): the base ends with ``/`` and has no query (the config
        allows none), so the join is the two texts together, parsed once (``URL.join`` takes four
        times as long, and it is asked for every tenant)."""
        base = self.base_url
        if base.query or base.fragment:
            return base.join(relative)
        return httpx.URL(str(base) + relative)

    def _encode(self, body: Mapping[str, Any]) -> Mapping[str, Any]:
        return {self._out.get(k, k): v for k, v in body.items()}

    def _schema_names(self, entity: Mapping[str, Any]) -> Mapping[str, Any]:
        """A tenant's entity under the schema's property names (a schema name that this tenant uses
        for something else is dropped: it is not the mapped property). Without renames, the entity
        itself (``live_integration`` makes the copy that is kept)."""
        if not self._in:
            return entity
        return {self._in.get(k, k): v for k, v in entity.items() if k not in self._out or k in self._in}

    def _live(self, response: httpx.Response) -> LiveIntegration:
        payload = self._json(response)
        try:
            return live_integration(self._schema_names(payload), response.headers.get("etag"))
        except ValueError as exc:
            raise self._bad_reply(response, str(exc)) from exc

    # -- Reads ------------------------------------------------------------------------------------

    async def _pages(self, first: httpx.URL) -> AsyncIterator[tuple[list[dict[str, Any]], Any, bool]]:
        """Each page of a collection read as ``(entities, count annotation or None, more follow)``,
        following next links (same origin only, never altered). The first non-success reply raises
        (via ``_error``)."""
        url: httpx.URL | None = first
        prefer = {"Prefer": f"odata.maxpagesize={self.page_size}"}
        seen: set[str] = set()
        while url is not None:
            response, _ = await self._request("GET", url, headers=prefer)
            if response.status_code != 200:
                raise self._error(response)
            payload = self._json(response)
            value = payload.get("value")
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise self._bad_reply(response, "the reply has no 'value' list of entities")
            self.stats.pages += 1
            link = next((payload[k] for k in _NEXT_LINKS if payload.get(k)), None)
            count = next((payload[k] for k in _COUNTS if k in payload), None)
            yield value, count, link is not None
            if link is None:
                return
            if not isinstance(link, str):
                raise self._bad_reply(response, "the next link is not a string")
            url = self._same_origin(link, response.request.url, "a next link", "GET")
            if str(url) in seen:
                raise self._bad_reply(response, f"the next link loops back to {self._path(url)}")
            seen.add(str(url))

    async def _collect(self, first: httpx.URL) -> list[LiveIntegration]:
        """One reading of a collection: each key once. A key read again with the same values is
        dropped (offset paging over a shifting order repeats rows); with other values, or a count that
        changes between pages or does not match the keys read, the listing moved (``_Moved``). Paging
        that brings nothing new, or more pages than the count can explain, fails the reading."""
        by_key: dict[int | str, LiveIntegration] = {}
        counted: int | None = None
        pages, idle, limit = 0, 0, MAX_PAGES
        where = f"GET {self._path(first)}"
        async for page, count, more in self._pages(first):
            pages += 1
            new = 0
            for item in page:
                try:
                    live = live_integration(self._schema_names(item))
                except ValueError as exc:
                    raise errors.ApiError(
                        f"a listed integration has no usable {fields.ODATA_KEY!r}",
                        tenant=self.tenant,
                        request=where,
                    ) from exc
                before = by_key.get(live.key)
                if before is None:
                    by_key[live.key] = live
                    new += 1
                elif before.etag != live.etag or not equal(before.values, live.values):
                    raise _Moved(f"integration {live.key} was listed twice with different values")
            if count is not None:
                number = count_of(count)
                if number is None:
                    raise errors.ApiError(
                        f"the listing's count is not a count: {shown(str(count), 40)!r}",
                        tenant=self.tenant,
                        request=where,
                    )
                count = number
                if counted is not None and count != counted:
                    raise _Moved(f"its count went from {counted} to {count} between two pages")
                counted = count
                limit = min(MAX_PAGES, count + IDLE_PAGES + 1)
            idle = 0 if new else idle + 1
            if more and idle > IDLE_PAGES:
                raise errors.ApiError(
                    f"the paging makes no progress: {idle} pages in a row brought no integration not "
                    "already read, and the next link goes on",
                    tenant=self.tenant,
                    request=where,
                )
            if more and pages >= limit:
                explain = f" (its count, {counted}, explains fewer)" if counted is not None else ""
                raise errors.ApiError(
                    f"the listing goes on past {pages} pages{explain}", tenant=self.tenant, request=where
                )
        if counted is not None and counted != len(by_key):
            raise _Moved(
                f"it counts {counted} integrations, but {len(by_key)} were read",
                list(by_key.values()),
                counted,
            )
        self._checked = pages <= 1 or counted is not None
        return list(by_key.values())

    async def _read_all(self, url: httpx.URL) -> list[LiveIntegration]:
        """``_collect``, read again (at most ``RELISTS`` times) while the listing moves under it."""
        why = ""
        misfits: list[_Moved] = []  # readings whose count alone disagreed with their keys
        for _attempt in range(RELISTS + 1):
            try:
                return await self._collect(url)
            except _Moved as moved:
                why = str(moved)
                misfits.append(moved)
                logger.info(
                    "tenant %s: the listing moved while it was read (%s); reading it again", self.tenant, why
                )
        shapes = {
            (m.count, frozenset(i.key for i in m.reading)) if m.reading is not None else None for m in misfits
        }
        last = misfits[-1].reading
        if last is not None and len(shapes) == 1:
            # The same keys under the same count each time: the listing did not move, the tenant's count
            # is not the number of integrations it lists. Used unconfirmed, as if it served no count.
            logger.info(
                "tenant %s: its count disagrees with the integrations it lists, the same way %d times; "
                "the listing is used unconfirmed (a planned create is confirmed by name)",
                self.tenant,
                RELISTS + 1,
            )
            self._checked = False
            return last
        raise errors.ApiError(
            f"the listing changed while it was read, {RELISTS + 1} times in a row ({why}); plan again later",
            tenant=self.tenant,
            request=f"GET {self._path(url)}",
        )

    async def list_integrations(self) -> list[LiveIntegration]:
        """Every integration of the tenant, page by page (the server's page size rules), each key once.
        Asks for ``$count`` (to tell a listing that skipped a row) unless the tenant refuses it."""
        self.listing_checked = False
        if self._query_options_ok and self._count_ok:
            url = self._collection_with({"$count": "true"})
            try:
                live = await self._read_all(url)
                self.listing_checked = self._checked
                return live
            except errors.ApiError as exc:
                if exc.status not in (400, 501) or isinstance(exc, errors.ConflictError):
                    raise
                logger.info("tenant %s refused $count (HTTP %s); listing without it", self.tenant, exc.status)
                self._count_ok = False
        live = await self._read_all(self.collection_url)
        self.listing_checked = self._checked
        return live

    async def get(self, key: int | str | uuid.UUID) -> LiveIntegration:
        """One integration by key; ``NotFoundError`` when there is none."""
        response, _ = await self._request("GET", self.entity_url(key))
        if response.status_code != 200:
            raise self._error(response)
        return self._live(response)

    async def _get_url(self, url: httpx.URL) -> LiveIntegration:
        response, _ = await self._request("GET", url)
        if response.status_code != 200:
            raise self._error(response)
        return self._live(response)

    async def find_by_name(self, name: str) -> LiveIntegration | None:
        """The integration named ``name``, compared case-insensitively (an exact match first), or
        ``None``."""
        matches = await self._named(name)
        exact = [c for c in matches if c.name == name]
        return next(iter(exact or matches), None)

    async def _named(self, name: str) -> list[LiveIntegration]:
        """Integrations whose name equals ``name`` case-insensitively.

        Asks the tenant with ``$filter`` when it allows query options (and the name is ASCII, where
        OData's ``tolower`` and Python agree); a tenant that refuses them (400/501) is read in full,
        and is not asked with query options again.
        """
        candidates: list[LiveIntegration] | None = None
        if self._query_options_ok and name.isascii():
            prop = self._out.get(fields.name_property(), fields.name_property())
            expr = f"tolower({prop}) eq {odata_string(name.lower())}"
            url = self._collection_with({"$filter": expr})
            try:
                candidates = await self._read_all(url)
            except errors.ApiError as exc:
                if exc.status not in (400, 501) or isinstance(exc, errors.ConflictError):
                    raise
                logger.info(
                    "tenant %s refused $filter (HTTP %s); reading the whole list instead",
                    self.tenant,
                    exc.status,
                )
                self._query_options_ok = False
        if candidates is None:
            checked = self.listing_checked  # what the caller's own listing established stays so
            try:
                candidates = await self.list_integrations()
            finally:
                self.listing_checked = checked
        wanted = name.casefold()
        return [c for c in candidates if c.name.casefold() == wanted]

    # -- Writes -----------------------------------------------------------------------------------

    async def create(self, body: Mapping[str, Any]) -> LiveIntegration:
        """Create an integration from a full OData body; returns it as the tenant stored it.

        Accepts 201 with the entity, or 204 with ``OData-EntityId``/``Location`` (then reads it). When
        an attempt may have reached the server (no reply after sending, a 5xx), the name is read
        before anything else is sent: an integration found under exactly that name is the result.
        ``ConflictError`` when the name is taken.
        """
        name = body.get(fields.name_property())
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"a create needs a {fields.name_property()!r}: it is how a lost reply is recovered"
            )
        url = self.collection_url
        maybe_sent = False
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            if maybe_sent and (found := await self._recover(name)) is not None:
                return found
            try:
                response = await self._send_once("POST", url, body=body)
            except _Lost as lost:
                maybe_sent = maybe_sent or lost.maybe_sent
                if not last and lost.recoverable:
                    await self._wait(attempt, None, type(lost.cause).__name__)
                    continue
                if maybe_sent and (found := await self._recover(name)) is not None:
                    return found
                raise self._transport_error("POST", url, lost, attempt + 1) from lost.cause
            status = response.status_code
            if status >= 500:
                maybe_sent = True
            if status in RETRY_STATUSES and not last:
                try:
                    await self._wait(attempt, response)
                except _OverBudget as over:
                    if maybe_sent and (found := await self._recover(name)) is not None:
                        return found
                    raise self._over_budget(over, attempt + 1) from None
                continue
            if status >= 500 and (found := await self._recover(name)) is not None:
                return found
            if status == 400:
                raise await self._refused(response, name, None)
            return await self._created(response)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _refused(
        self, response: httpx.Response, name: str, key: int | str | uuid.UUID | None
    ) -> errors.ApiError:
        """The error for a 400 on a create or rename: a ``ConflictError`` when a read of the name finds
        another integration holding it (a server may refuse a duplicate name with any 400 at all)."""
        exc = self._error(response)
        if isinstance(exc, errors.ConflictError):
            return exc
        try:
            holders = [c for c in await self._named(name) if c.key != key]
        except errors.ApiError:
            return exc  # the refusal itself is what the user needs to see
        if not holders:
            return exc
        holder = next((c for c in holders if c.name == name), holders[0])
        return errors.ConflictError(
            f"{exc.message}; the name is held by integration {holder.key} ({holder.name!r})",
            tenant=exc.tenant,
            request=exc.request,
            status=exc.status,
            code=exc.code,
            target=exc.target,
        )

    async def _recover(self, name: str) -> LiveIntegration | None:
        """After a create whose reply was lost: the integration stored under exactly ``name``, if any.
        (Exact, not case-insensitive: a case variant is someone else's, and a re-send will say 409.)"""
        found = next((c for c in await self._named(name) if c.name == name), None)
        if found is not None:
            self.stats.recovered_creates += 1
            logger.info(
                logs.redact(
                    f"tenant {self.tenant}: the reply to creating {name!r} was lost; "
                    f"found it under key {found.key}, not re-sending"
                )
            )
        return found

    async def _created(self, response: httpx.Response) -> LiveIntegration:
        status = response.status_code
        if status in (200, 201) and response.content:
            return self._live(response)
        if status in (200, 201, 204):
            link = response.headers.get("odata-entityid") or response.headers.get("location")
            if not link:
                raise self._bad_reply(response, "created, but the reply names no OData-EntityId or Location")
            return await self._get_url(
                self._same_origin(link, response.request.url, "OData-EntityId", "POST")
            )
        raise self._error(response)

    async def update(
        self, key: int | str | uuid.UUID, changes: Mapping[str, Any], *, etag: str | None
    ) -> LiveIntegration | None:
        """PATCH only ``changes`` (OData names), with ``If-Match: etag`` when given. Returns the entity
        when the tenant sends it (200), else ``None`` (204). ``PreconditionFailedError`` on a stale etag (412,
        after a read that finds the integration still there) or when the tenant requires one (428);
        ``NotFoundError`` when the key is gone. A 400 on a change of name is a ``ConflictError`` when a
        read of the name finds another integration holding it."""
        headers = {"Prefer": "return=representation"}
        if etag is not None:
            headers["If-Match"] = etag
        url = self.entity_url(key)
        response, maybe_applied = await self._request("PATCH", url, body=changes, headers=headers)
        status = response.status_code
        if status == 200 and response.content:
            return self._live(response)
        if status in (200, 204):
            return None
        if status == 412:
            # Gone, or changed? One read tells (NotFoundError when gone). When an earlier attempt may
            # have gone through and moved the etag, the change may be there: success.
            live = await self.get(key)
            if maybe_applied and all(equal(live.values.get(k, UNSET), v) for k, v in changes.items()):
                return live
            lost = "an earlier attempt's reply was lost; " if maybe_applied else ""
            raise self._error(response, note=f"{lost}it still exists, and changed since its etag was read")
        name = changes.get(fields.name_property())
        if status == 400 and isinstance(name, str):
            raise await self._refused(response, name, key)
        raise self._error(response)

    async def delete(self, key: int | str | uuid.UUID, *, etag: str | None) -> None:
        """DELETE with ``If-Match: etag`` when given. A 404 after an attempt whose reply was lost, or a
        412 after which a read finds nothing, means the integration is deleted: done."""
        headers = {"If-Match": etag} if etag is not None else {}
        response, maybe_applied = await self._request("DELETE", self.entity_url(key), headers=headers)
        if response.status_code in (200, 204) or (response.status_code == 404 and maybe_applied):
            return
        if response.status_code == 412:
            # A server checks the etag of a row that is gone, too (a retry after a lost reply, or a
            # delete by someone else): a read that finds nothing means the integration is deleted.
            try:
                await self.get(key)
            except errors.NotFoundError:
                return
            raise self._error(response, note="it still exists, and changed since its etag was read")
        raise self._error(response)
