"""Apply a ``Plan`` exactly: every item as planned, or refused; never overwrite what moved since.

Per tenant (the wire rules are in docs/odata.md, the plan it applies in docs/plan-format.md):

- The tenant must be in the config with the url the plan names and must have been planned (no
  ``error``). Then, from the list read before the first write, it must be within its safety thresholds
  (recomputed over that list with the config's limits, never read from the file) unless ``force``, and
  its deletes must still be permitted (``plan.deletes_permitted``: the plan records who allowed them)
  and touch only integrations that are ``IsManaged`` in the plan and in that list. Otherwise the tenant
  is refused whole, before any write, naming every setting or flag it needs at once: a saved plan is
  applied whole or not at all.
- Order: renames, updates, creates, deletes, so that names never collide. Renames run one at a time in
  an order where each target name is already free; a cycle (a swap of names, case-only ones included)
  is broken by moving one integration to a temporary name first. The two steps of such a move are one
  item: once started, an interrupt lets it finish.
- Before its first write, the tenant is listed once (one paged GET) and the digest of what it holds is
  compared with the plan's ``live_digest``. When it moved, every item is checked against the fresh list
  before anything is sent: an integration gone, with another etag or other values, or a name that a
  create or rename needs now held by someone else's integration (a case variant on a tenant that
  compares names case-sensitively, which would not answer 409) makes the item stale at once; an item
  the tenant already holds exactly as planned (the same plan applied again) is done, nothing sent.
- Each write carries ``If-Match`` with the planned etag. A tenant without etags gets a read of the item
  right before the write, compared with the plan's ``before`` values. An item whose live state moved
  (412, 404, a 409 on create or rename, values that differ) is *stale*: refused, reported, never
  overwritten. The rest of the tenant goes on, except the items a stale or failed one blocks (a rename
  or create whose name is still held by it).
- A create whose reply was lost is never re-sent blindly (``TenantClient.create`` reads the name first),
  so no integration is ever created twice. When the listing before the writes could have skipped a
  row (several pages that no count confirms), each create first reads its name.
- Tenants run concurrently (``parallelism``); within a tenant at most ``per_tenant`` writes are in
  flight at once (renames always one at a time).
- ``Interrupt``: once requested, nothing new starts; writes in flight may finish until its grace period
  ends, then they are cancelled and reported as "outcome unknown".

The result is one ``TenantResult`` per tenant (``apply_report``); ``fleet.apply_plan`` runs the tenants
of a plan and gathers them into an ``ApplyReport``. No token ever reaches it: reasons come from
``ApiError`` messages, which are built without headers, and are redacted again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Final

from integration_sync import errors, fields, logs
from integration_sync.apply_checks import (
    ETAG_MOVED,
    GONE,
    NOT_YET,
    ApplyOptions,
    NotYet,
    as_planned,
    moved_item,
    moved_values,
    refusal,
    refusal_after_listing,
)
from integration_sync.apply_report import ItemResult, Status, TenantResult, item_result
from integration_sync.config import TenantConfig
from integration_sync.connect import TenantConnector
from integration_sync.errors import past_deadline
from integration_sync.interrupt import Interrupt, TenantStop
from integration_sync.plan import (
    Change,
    Create,
    Delete,
    Key,
    Rename,
    SafetyVerdict,
    TenantPlan,
    Update,
    deletes_permitted,
    form_values,
    key_text,
    live_form,
    mapped_digest,
    safety_base,
)
from integration_sync.runner import internal_error

if TYPE_CHECKING:
    from integration_sync.client import LiveIntegration, TenantClient

log = logging.getLogger(__name__)


class _Unchecked:
    """Marks an etag not yet read: the item has still to be checked against the plan."""


_UNCHECKED: Final = _Unchecked()


class _Blocked(Exception):
    pass


class _Stale(Exception):
    pass


def _describe(exc: errors.SyncError, tenant: str) -> str:
    return logs.redact(errors.under_tenant(exc, tenant))


# ---------------------------------------------------------------------------------------------- one tenant


class _TenantRun:
    """Applies one tenant's plan through one client."""

    def __init__(
        self,
        client: TenantClient,
        plan: TenantPlan,
        tenant: TenantConfig,
        options: ApplyOptions,
        interrupt: Interrupt | None,
        known_names: frozenset[str] = frozenset(),
    ) -> None:
        self.known_names = known_names
        self.client = client
        self.plan = plan
        self.tenant = tenant
        self.options = options
        self.interrupt = interrupt
        self.results: dict[int, ItemResult] = {}
        # Names held by the items of this plan (casefolded) -> the key holding it, as writes succeed.
        self.holders: dict[str, Key] = {}
        self.fatal: str | None = None
        # Keys of the integrations created, by item index.
        self.created: dict[int, Key] = {}
        # Why an item is stale already, found by the refresh before the first write (by ``id(change)``).
        self.moved: dict[int, str] = {}
        # Items the refresh found already as planned (by ``id(change)``), with the key (a create's).
        self.already: dict[int, Key | None] = {}
        # Keys the refresh found not IsManaged: never deleted, whatever the plan file says.
        self.unmanaged: set[Key] = set()
        # Why the tenant is refused whole after its listing (``refusal_after_listing``), or None.
        self.refused: str | None = None

    @property
    def _name_limit(self) -> int | None:
        """The most UTF-16 code units a name may have on this tenant (the config's ``max_lengths``
        first, then the schema's)."""
        return self.tenant.max_lengths.get("name") or fields.max_length("name")

    @property
    def allow_delete(self) -> bool:
        return deletes_permitted(
            self.plan.delete_permission, self.options.allow_delete, self.tenant.safety.allow_delete
        )

    async def run(self) -> TenantResult:
        changes = list(self.plan.changes)
        for change in changes:
            if isinstance(change, Rename):
                self.holders[change.from_name.casefold()] = change.key
            elif isinstance(change, Update | Delete):
                self.holders[change.name.casefold()] = change.key
        if not (self.interrupt is not None and self.interrupt.is_requested):
            await self._refresh(changes)
        if self.refused is not None:
            items = tuple(item_result(c, "skipped", self.refused) for c in changes)
            return TenantResult(self.tenant.name, items, error=self.refused)
        idx = {id(c): i for i, c in enumerate(changes)}
        for change in changes:
            if id(change) in self.already:
                self._already_done(idx[id(change)], change, self.already[id(change)])
        todo = [c for c in changes if id(c) not in self.already]
        renames = [c for c in todo if isinstance(c, Rename)]
        await self._renames(renames, idx)
        for kind in (Update, Create, Delete):
            batch = [c for c in todo if isinstance(c, kind)]
            await self._bounded(batch, idx)
        items = tuple(self.results[i] for i in range(len(changes)))
        return TenantResult(self.tenant.name, items, error=self.fatal)

    # -- the refresh --------------------------------------------------------------------------------

    async def _refresh(self, changes: Sequence[Change]) -> None:
        """List the tenant once; when its state is not the one planned, find the items that moved.
        A read: an interrupt stops it at once (the items are then not started)."""
        listing = asyncio.ensure_future(self.client.list_integrations())
        if self.interrupt is not None:
            stop = asyncio.ensure_future(self.interrupt.requested.wait())
            await asyncio.wait({listing, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if not listing.done():
                listing.cancel()
                await asyncio.gather(listing, return_exceptions=True)
                return
        live = await listing
        forms = [live_form(i.values) for i in live]  # each entity mapped once, for all of the below
        values = [form_values(f) for f in forms]
        self.unmanaged = {i.key for i, v in zip(live, values, strict=True) if v.get("managed") is not True}
        verdict = SafetyVerdict.assess(changes, safety_base(values, self.known_names), self.tenant.safety)
        self.refused = refusal_after_listing(self.plan, self.tenant, self.options, verdict, self.unmanaged)
        if self.refused is not None:
            return
        digest = mapped_digest((i.key, i.etag, f) for i, f in zip(live, forms, strict=True))
        if self.plan.live_digest is not None and digest == self.plan.live_digest:
            return
        log.info("tenant %s: its live state moved since the plan; checking each item", self.tenant.name)
        by_key = {item.key: item for item in live}
        by_name: dict[str, list[LiveIntegration]] = {}
        for item in live:
            by_name.setdefault(item.name.casefold(), []).append(item)
        for change in changes:
            # A delete that may not run is reported as refused (not allowed, partial), gone or not.
            deletable = not isinstance(change, Delete) or (self.allow_delete and not self.plan.partial)
            found = as_planned(change, by_key, by_name) if deletable else NOT_YET
            if not isinstance(found, NotYet):
                self.already[id(change)] = found
                continue
            why = self._taken(change, by_name) if isinstance(change, Create | Rename) else None
            if why is None and not isinstance(change, Create):
                why = moved_item(change, by_key.get(change.key))
            if why is not None:
                self.moved[id(change)] = why

    def _already_done(self, i: int, change: Change, key: Key | None) -> None:
        """Record an item the tenant already holds as planned (an earlier apply of this plan, say)."""
        if isinstance(change, Create) and key is not None:
            self.created[i] = key
            self.holders[change.name.casefold()] = key
        elif isinstance(change, Rename):
            self._moved_name(change.key, change.from_name, change.to_name)
        elif isinstance(change, Delete) and self.holders.get(change.name.casefold()) == change.key:
            del self.holders[change.name.casefold()]
        reason = "already gone" if isinstance(change, Delete) else "already as planned"
        self._record(i, change, "done", f"{reason} (an earlier apply?): nothing was sent")

    def _taken(self, change: Create | Rename, by_name: Mapping[str, Sequence[LiveIntegration]]) -> str | None:
        """Why the name ``change`` needs is not free as planned: held by an integration that is neither
        the item itself nor the one the plan expects to move out of it first."""
        expected = {self.holders.get(change.name.casefold())}
        if isinstance(change, Rename):
            expected.add(change.key)
        others = [i for i in by_name.get(change.name.casefold(), ()) if i.key not in expected]
        if not others:
            return None
        holder = others[0]
        shown = f" as {holder.name!r}" if holder.name != change.name else ""
        return (
            f"the name {change.name!r} now exists on the tenant{shown} (key {key_text(holder.key)}), made since the "
            "plan; nothing was sent"
        )

    def _check_fresh(self, change: Change) -> None:
        if (why := self.moved.get(id(change))) is not None:
            raise _Stale(why)

    # -- bookkeeping --------------------------------------------------------------------------------

    def _record(self, i: int, change: Change, status: Status, reason: str = "") -> None:
        self.results[i] = item_result(change, status, reason, self.created.get(i))
        log.info("tenant %s: %s %r: %s %s", self.tenant.name, change.action, change.name, status, reason)

    def _why_not_start(self, committed: bool = False) -> str | None:
        if self.fatal is not None:
            return "not attempted: the tenant failed earlier"
        if not committed and self.interrupt is not None and self.interrupt.is_requested:
            return self.interrupt.reason
        return None

    async def _guarded(
        self,
        i: int,
        change: Change,
        step: Callable[[], Awaitable[str]],
        *,
        committed: bool = False,
        record: bool = True,
    ) -> Status:
        """Run one item's writes, bounded by the interrupt's grace period once one is requested.
        ``committed``: the second half of a started swap, which an interrupt does not stop (its grace
        period still bounds it). ``record`` False: only a failure is recorded (the first half of a swap)."""
        if (why := self._why_not_start(committed)) is not None:
            self._record(i, change, "skipped", why)
            return "skipped"
        task = asyncio.ensure_future(self._outcome(change, step))
        if self.interrupt is None:
            status, reason = await task
        else:
            expiry = asyncio.ensure_future(self.interrupt.expired.wait())
            done, _ = await asyncio.wait({task, expiry}, return_when=asyncio.FIRST_COMPLETED)
            expiry.cancel()
            if task in done:
                status, reason = task.result()
            else:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                status, reason = "failed", "interrupted in flight: it may or may not have applied (run plan)"
        if record or status != "done":
            self._record(i, change, status, reason)
        return status

    async def _outcome(self, change: Change, step: Callable[[], Awaitable[str]]) -> tuple[Status, str]:
        try:
            return "done", await step()
        except _Blocked as exc:
            return "skipped", str(exc)
        except _Stale as exc:
            return "stale", str(exc)
        except errors.PreconditionFailedError as exc:
            if exc.status == 412:
                return "stale", ETAG_MOVED
            return "failed", _describe(exc, self.plan.tenant)
        except errors.NotFoundError:
            return "stale", GONE
        except errors.ConflictError:
            if isinstance(change, Create | Rename):
                return "stale", f"the name {change.name!r} now exists on the tenant; nothing was overwritten"
            return "failed", "the tenant refused the change as a conflict"
        except errors.AuthError as exc:  # every later request would fail the same way
            self.fatal = f"stopped at the first authentication failure: {_describe(exc, self.plan.tenant)}"
            return "failed", _describe(exc, self.plan.tenant)
        except errors.SyncError as exc:
            return "failed", _describe(exc, self.plan.tenant)

    async def _bounded(self, batch: Sequence[Change], idx: Mapping[int, int]) -> None:
        gate = asyncio.Semaphore(max(1, self.options.per_tenant))

        async def one(change: Change) -> None:
            async with gate:
                await self._guarded(idx[id(change)], change, partial(self._write, idx[id(change)], change))

        await asyncio.gather(*(one(c) for c in batch))

    # -- renames ------------------------------------------------------------------------------------

    async def _renames(self, renames: list[Rename], idx: Mapping[int, int]) -> None:
        """One at a time, each when its target name is free. When every remaining target is held by
        another pending rename (a swap, or a longer cycle), one member moves to a temporary name; the
        cycle's renames then run even if an interrupt comes, so that no temporary name is left."""
        pending = list(renames)
        parked: dict[Key, str] = {}  # key -> the temporary name it was moved to
        committed: set[Key] = set()
        while pending:
            ready = next((r for r in pending if self._free(r.to_name, r.key)), None)
            if ready is not None:
                pending.remove(ready)
                i = idx[id(ready)]
                if ready.key in parked:
                    step = partial(self._rename, ready, parked[ready.key])
                else:
                    step = partial(self._rename, ready, None)
                await self._guarded(i, ready, step, committed=ready.key in committed)
                continue
            keys = {r.key for r in pending}
            blocked = [r for r in pending if self.holders.get(r.to_name.casefold()) not in keys]
            for r in blocked:  # its target is held by an item whose own change did not apply
                pending.remove(r)
                reason = self._held_reason(r.to_name)
                if r.key in parked:
                    self._record(
                        idx[id(r)], r, "failed", f"left under the temporary name {parked[r.key]!r}: {reason}"
                    )
                else:
                    self._record(idx[id(r)], r, "skipped", reason)
            if blocked:
                continue
            cycle = self._cycle(pending)
            first = cycle[0]
            temporary = _temporary_name(first.from_name, self._name_limit)
            status = await self._guarded(
                idx[id(first)], first, partial(self._park, first, temporary), record=False
            )
            if status == "done":
                parked[first.key] = temporary
                committed.update(r.key for r in cycle)
            else:
                pending.remove(first)

    def _cycle(self, pending: Sequence[Rename]) -> list[Rename]:
        """The renames of one cycle of "my target is held by your key", starting from the first."""
        by_key = {r.key: r for r in pending}
        seen: list[Rename] = []
        current = pending[0]
        while current not in seen:
            seen.append(current)
            current = by_key[self.holders[current.to_name.casefold()]]
        return seen[seen.index(current) :]

    def _free(self, name: str, key: Key | None) -> bool:
        holder = self.holders.get(name.casefold())
        return holder is None or holder == key

    def _held_reason(self, name: str) -> str:
        return (
            f"not attempted: the name {name!r} is still held by an integration whose planned change "
            "did not apply"
        )

    def _claim(self, change: Create | Rename) -> None:
        key = change.key if isinstance(change, Rename) else None
        if not self._free(change.name, key):
            raise _Blocked(self._held_reason(change.name))

    def _moved_name(self, key: Key, old: str, new: str) -> None:
        if self.holders.get(old.casefold()) == key:
            del self.holders[old.casefold()]
        self.holders[new.casefold()] = key

    async def _park(self, change: Rename, temporary: str, etag: str | _Unchecked | None = _UNCHECKED) -> str:
        """The first half of a swap: move ``change``'s integration to a temporary name (``etag`` given:
        the item was already checked against the plan)."""
        if isinstance(etag, _Unchecked):
            self._check_fresh(change)
            etag = await self._precondition(change)
        await self.client.update(change.key, {fields.name_property(): temporary}, etag=etag)
        self._moved_name(change.key, change.from_name, temporary)
        return ""

    async def _rename(self, change: Rename, temporary: str | None) -> str:
        """PATCH the new name and the rename's field changes; after ``_park``, from the temporary name
        (the item was checked before it was parked, and is read again for its new etag)."""
        self._claim(change)
        body = fields.to_odata({fc.field: fc.after for fc in change.fields})
        if temporary is None:
            self._check_fresh(change)
            etag = await self._precondition(change)
        else:
            etag = (await self.client.get(change.key)).etag
        try:
            await self.client.update(change.key, {**body, fields.name_property(): change.to_name}, etag=etag)
        except errors.ConflictError:
            if temporary is not None or change.from_name.casefold() != change.to_name.casefold():
                raise
            holder = await self.client.find_by_name(change.to_name)  # an exact match comes first
            if holder is not None and holder.key != change.key:
                raise  # another integration holds the name (a case-sensitive tenant): a real conflict
            # A tenant whose uniqueness check counts the integration itself refuses a change of case
            # alone: go through a temporary name (the refused PATCH changed nothing, the etag holds).
            temporary = _temporary_name(change.from_name, self._name_limit)
            await self._park(change, temporary, etag)
            return await self._rename(change, temporary)
        self._moved_name(change.key, temporary or change.from_name, change.to_name)
        return f"through the temporary name {temporary!r}" if temporary else ""

    # -- writes -------------------------------------------------------------------------------------

    async def _precondition(self, change: Update | Rename | Delete) -> str | None:
        """The etag to send as ``If-Match``. Without a planned etag: read the item now and refuse it
        unless its values are still those the plan was made against."""
        if change.etag is not None:
            return change.etag
        live = await self.client.get(change.key)
        if (why := moved_values(change, live.values)) is not None:
            raise _Stale(f"changed since the plan: {why}; it was left as it is (make a new plan)")
        return live.etag

    async def _write(self, i: int, change: Change) -> str:
        if isinstance(change, Create):
            self._check_fresh(change)
            self._claim(change)
            if not self.client.listing_checked:
                # The listing before the writes may have skipped a row (several pages, no count to
                # confirm them): one read of the name, so that a server that does not refuse a
                # duplicate name never gets one.
                holder = await self.client.find_by_name(change.name)
                if holder is not None:
                    raise _Stale(
                        f"the name {change.name!r} now exists on the tenant (key {key_text(holder.key)}), made since "
                        "the plan; nothing was sent"
                    )
            created = await self.client.create(fields.to_odata(dict(change.body)))
            self.holders[change.name.casefold()] = created.key
            self.created[i] = created.key
            return ""
        if isinstance(change, Update):
            self._check_fresh(change)
            etag = await self._precondition(change)
            await self.client.update(
                change.key, fields.to_odata({fc.field: fc.after for fc in change.fields}), etag=etag
            )
            return ""
        if isinstance(change, Delete):
            if self.plan.partial:
                raise _Blocked("not deleted: a partial plan (--integration) never deletes")
            if not self.allow_delete:
                raise _Blocked(
                    "not deleted: deletes are not allowed for this tenant "
                    "(safety.allow_delete: true in the config, or --allow-delete)"
                )
            if dict(change.before).get("managed") is not True or change.key in self.unmanaged:
                raise _Blocked("not deleted: only IsManaged integrations are ever deleted")
            self._check_fresh(change)
            etag = await self._precondition(change)
            await self.client.delete(change.key, etag=etag)
            return ""
        raise AssertionError(f"unexpected change {change!r}")  # pragma: no cover


def _temporary_name(name: str, limit: int | None) -> str:
    """A name no one holds, made from ``name``, that fits ``limit`` UTF-16 code units (as the tenant
    counts, ``fields.text_length``; ``None``: no limit), cut between characters."""
    tag = uuid.uuid4().hex[:8]
    suffix = f" (renaming {tag})"
    if limit is None:
        return name + suffix
    room = limit - len(suffix)
    if room < 1:
        return tag[:limit]
    kept, units = [], 0
    for char in name:
        units += fields.text_length(char)
        if units > room:
            break
        kept.append(char)
    return "".join(kept) + suffix


# ---------------------------------------------------------------------------------------------- a tenant


async def apply_tenant(
    tenants: TenantConnector,
    tenant_plan: TenantPlan,
    tenant: TenantConfig | None,
    options: ApplyOptions,
    interrupt: Interrupt | None = None,
    known_names: frozenset[str] = frozenset(),
) -> TenantResult:
    """Apply one tenant's plan (or refuse it as a whole, every item ``skipped``); ``known_names``: the
    plan's (``Plan.known_names``), for the safety thresholds recomputed over the live listing."""
    why = refusal(tenant_plan, tenant, options)
    if why is None and interrupt is not None and interrupt.is_requested:
        why = "not started: interrupted"
    if why is not None or tenant is None:
        reason = why or "refused"
        items = tuple(item_result(c, "skipped", reason) for c in tenant_plan.changes)
        return TenantResult(tenant_plan.tenant, items, error=reason)
    if not tenant_plan.changes:
        return TenantResult(tenant_plan.tenant)
    deadline = tenants.settings.tenant_deadline_s
    stop = TenantStop(interrupt, deadline)
    run: _TenantRun | None = None
    try:
        async with tenants.client(tenant) as client:
            run = _TenantRun(client, tenant_plan, tenant, options, stop.local, known_names)
            result = await run.run()
    except errors.SyncError as exc:  # the tenant could not be reached at all (a missing token, ...)
        reason = _describe(exc, tenant_plan.tenant)
        items = tuple(item_result(c, "skipped", reason) for c in tenant_plan.changes)
        return TenantResult(tenant_plan.tenant, items, error=reason)
    except Exception as exc:  # a bug, or a reply no rule foresaw: this tenant fails, the others go on
        reason = errors.under_tenant(internal_error(exc, tenant_plan.tenant), tenant_plan.tenant)
        done = run.results if run is not None else {}
        unknown = f"{reason}: it may or may not have applied (run plan)"
        items = tuple(
            done.get(i) or item_result(c, "failed", unknown) for i, c in enumerate(tenant_plan.changes)
        )
        return TenantResult(tenant_plan.tenant, items, error=reason)
    finally:
        stop.close()
    if stop.timed_out and result.error is None:
        result = replace(
            result, error=errors.under_tenant(past_deadline(tenant.name, deadline, "the apply"), tenant.name)
        )
    return result
