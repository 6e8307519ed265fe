"""The tenant emulator: FinanceKey's Integrations OData endpoint over real HTTP (Starlette + uvicorn,
SQLite storage), many tenants in one process. The embedded default (``url: emulator:NAME``) and what
every end-to-end test and benchmark talks to.

Tenant base URL ``http://HOST:PORT/{tenant}/OData/``; entity set ``Integrations``; ``$metadata``. The
entity's properties, types, nullability and lengths come from the schema (``fields.py``); the server
owns ``Id`` and ``@odata.etag``.

Python handle (tests, embedded mode)::

    from integration_sync.emulator import start_server
    with start_server(tenants=["acme", ("secure", "TOKEN")]) as emu:
        emu.tenant_url("acme")                     # http://127.0.0.1:PORT/acme/OData/
        emu.add_tenant("odd", variations={"post_no_content": True})
        emu.set_faults("acme", p429=1.0, retry_after=0, count=2)
        emu.requests("acme")                       # [{"method", "path", "query", "status", ...}]
        emu.reset()

Admin surface (outside any tenant's path, no auth; the emulator binds loopback by default):

- ``POST /_emulator/faults`` ``{"tenant": "*"|NAME, "latency_ms", "p429", "p503", "p500", "p_drop",
  "p_commit_drop", "retry_after", "retry_after_http_date", "seed", "count", "methods"}``; a body with
  only ``tenant`` clears that tenant's faults. Probabilities are drawn from ``random.Random(seed)``,
  five draws per request whatever the settings, so runs are reproducible. ``count`` limits how many
  faults are injected (then the tenant behaves); ``methods`` limits them (latency included) to some HTTP methods.
  ``p_drop`` closes the connection before processing; ``p_commit_drop`` commits a successful write and
  closes the connection instead of replying. A tenant's own settings win over ``"*"``.
- ``GET /_emulator/requests?tenant=T``: the tenant's request log, a JSON list of ``{"method", "path",
  "query" (raw), "status" (null when dropped), "fault", "auth" (bool), "headers" (If-Match, Prefer,
  Content-Type, Accept, OData-Version), "body" (writes)}``. Never the Authorization header.
  ``DELETE`` clears it.
- ``POST /_emulator/reset``: back to the start-up state (data, faults, logs cleared; tenants added
  later removed; start-up variations restored; demo data re-seeded if the server seeds). ``{"tenant":
  T}`` resets one tenant.
- ``POST /_emulator/tenants`` ``{"name", "token", "readonly_token", "variations": {...}}`` creates or
  reconfigures a tenant (a request with ``readonly_token`` may read; its writes answer 403);
  ``GET /_emulator/tenants`` lists them (without tokens).

Variation switches, per tenant (``variations`` above, ``--vary``/``--profile`` on the command line), one
for each way ``docs/odata.md`` says a real tenant may differ; all off by default:

- ``relative_next_link``: ``@odata.nextLink`` relative to the request URL (``Integrations?...``).
- ``relative_context``: ``@odata.context`` relative (``$metadata#Integrations``).
- ``relative_location``: ``Location`` of a created entity relative (``Integrations(42)``).
- ``odata_401``: OData 4.01 annotation names without ``odata.`` (``@context``, ``@nextLink``,
  ``@count``, ``@etag``) and ``OData-Version: 4.01``.
- ``ignore_maxpagesize``: ``Prefer: odata.maxpagesize`` ignored; pages are ``page_size`` (default 100;
  ``max_page_size``, default 1000, caps what a client may ask for).
- ``post_no_content``: POST answers 204 with ``OData-EntityId`` (and ``Location``) even without
  ``Prefer: return=minimal``.
- ``patch_returns_entity``: PATCH answers 200 with the entity even without ``return=representation``.
- ``etags_off``: no etags in replies; ``If-Match`` ignored.
- ``etags_required``: PATCH and DELETE without ``If-Match`` answer 428.
- ``query_options_disabled``: ``true`` or a list such as ``["$filter", "$orderby"]``: those options
  answer 400 (ASP.NET's "Query option 'Filter' is not allowed"); plain paging keeps working.
- ``plus_literal``: a ``+`` in the query string is read literally, not as a space.
- ``duplicate_name_400``: a duplicate ``Name`` answers 400 instead of 409.
- ``case_sensitive_names``: names are unique case-sensitively (``A`` and ``a`` may coexist), and
  ``$filter``/``$orderby`` compare strings case-sensitively (a binary collation; by default they fold
  case, as SQL Server's default collation does).
- ``error_body``: ``odata`` (default), ``no_code`` (``{"error": {"message"}}``), ``problem``
  (``application/problem+json``), ``html``, ``text`` or ``empty``.
- ``extra_properties``: replies carry unmapped audit stamps (``CreatedAt``, ``ModifiedAt``).
- ``enforce_rules``: the cross-field rules (``docs/odata.md``) answer 400. Off by default, because live data
  may break them (an API need not enforce what the UI does).
- ``omit_nulls``: null properties are left out of replies (OData allows it).
- ``gone_412``: PATCH or DELETE with ``If-Match`` on a key that is gone answers 412, not 404 (HTTP's
  rule: If-Match fails when there is no current representation).
- ``conflict_reply``: how a duplicate name is refused: ``default`` (409, or 400 with
  ``duplicate_name_400``; code ``DuplicateName``, target ``Name``), ``unique_index`` (400, code
  ``UniqueConstraintViolation``, a database message), ``name_target`` (400, code ``ValidationFailed``,
  target ``Name``, a message in German) or ``opaque`` (400, code ``BadRequest``, no target, nothing said).
- ``page_hook``: a change between the first and the second page of an unfiltered listing:
  ``delete`` (once: the first page's first row is deleted, so the next page skips a row), ``edit``
  (once: the first page's last row is edited and served again on the next page), ``repeat`` (every
  page's last row is served again on the next: an unstable order); ``off`` by default. "Once" is once
  per tenant configuration (``add_tenant`` or a reset arms it again).
- ``ieee754_compatible``: the count (``@odata.count``, an ``Edm.Int64``) is written as a string, as
  OData's ``IEEE754Compatible=true`` format writes every ``Edm.Int64``.

Always on: the ``$skiptoken`` in a nextLink is bound to the query it came from, so a client that adds or
changes query options on a nextLink gets 400 (a nextLink is opaque).
"""

from __future__ import annotations

from integration_sync.emulator.server import EmulatorServer, start_server
from integration_sync.emulator.variations import PROFILES, Variations

__all__ = ["PROFILES", "EmulatorServer", "Variations", "start_server"]
