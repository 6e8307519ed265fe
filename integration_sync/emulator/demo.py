"""Demo data: a few client-owned integrations, so that a first plan against a fresh emulated tenant
looks like one against a real tenant (which always has integrations the tool does not own)."""

from __future__ import annotations

import logging
from typing import Any

from integration_sync import fields
from integration_sync.emulator import model
from integration_sync.emulator.store import Store

log = logging.getLogger(__name__)

#: Client-owned (``managed: false``) integrations, as definitions (YAML keys) to stay schema-driven.
DEMO_DEFINITIONS: tuple[dict[str, Any], ...] = (
    {
        "name": "Sage Supplier Import",
        "direction": "Inbound",
        "entity": "Supplier",
        "consent_type": "None",
        "system_id": 3,
        "schedule_id": 2,
        "max_attempts": 3,
        "batch_size": 1,
        "parallel": False,
        "managed": False,
        "active": True,
        "notes": "Nightly import of new suppliers from Sage 200.",
    },
    {
        "name": "Bank Feed Reconciliation",
        "direction": "Inbound",
        "entity": "BankTransaction",
        "consent_type": "OAuth",
        "system_id": 11,
        "element_id": "bank-feed",
        "action_id": 41,
        "schedule_id": 1,
        "allow_schedule_change": True,
        "max_attempts": 5,
        "batch_size": 10,
        "parallel": True,
        "managed": False,
        "active": True,
    },
    {
        "name": "Payroll Journal Export",
        "direction": "Outbound",
        "entity": "Journal",
        "consent_type": "None",
        "filter": 'Status == "Posted" && PostedOn >= DateTime(2026, 1, 1)',
        "system_id": 8,
        "schedule_id": 3,
        "max_attempts": 3,
        "batch_size": 1,
        "parallel": False,
        "include_updates": False,
        "managed": False,
        "active": True,
    },
    {
        "name": "Legacy CSV Drop",
        "direction": "Outbound",
        "entity": "Invoice",
        "consent_type": "None",
        "system_id": 2,
        "max_attempts": 1,
        "batch_size": 1,
        "parallel": False,
        "managed": False,
        "active": False,
        "notes": "Retired in 2025; kept for its history.",
    },
)


def demo_entities() -> list[dict[str, Any]]:
    """The demo integrations as full entities (OData names, defaults filled in)."""
    out = []
    for doc in DEMO_DEFINITIONS:
        entity = {p.name: p.default() for p in model.props()}
        entity.update(fields.to_odata(doc))
        out.append(entity)
    return out


def seed_demo(store: Store, tenant: str) -> None:
    """The seeder of embedded mode and ``--seed-demo``: run on a tenant's first use."""
    for entity in demo_entities():
        store.insert(tenant, entity)
    log.info("seeded tenant %s with %d client-owned integrations", tenant, len(DEMO_DEFINITIONS))
