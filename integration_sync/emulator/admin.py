"""The admin surface under ``/_emulator/``: faults, request logs, reset, tenants. Outside every tenant's
path and without auth (the emulator binds loopback by default)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from integration_sync.emulator.state import Emulator


def routes(emu: Emulator) -> list[Route]:
    """The admin routes acting on ``emu``."""

    async def read_json(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw.strip():
            return {}
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("the body must be a JSON object")
        return data

    def bad(message: str) -> JSONResponse:
        return JSONResponse({"error": {"code": "BadRequest", "message": message}}, 400)

    async def faults(request: Request) -> Response:
        try:
            data = await read_json(request)
            tenant = data.pop("tenant", "*")
            if not isinstance(tenant, str):
                raise ValueError("tenant must be a string")
            emu.set_faults(tenant, data)
        except ValueError as exc:
            return bad(str(exc))
        return JSONResponse({"tenant": tenant, "faults": emu.fault_settings(tenant)})

    async def requests_(request: Request) -> Response:
        tenant = request.query_params.get("tenant")
        if tenant is None:
            return bad("give ?tenant=NAME")
        if request.method == "DELETE":
            emu.clear_requests(tenant)
            return Response(status_code=204)
        return JSONResponse(emu.requests(tenant))

    async def reset(request: Request) -> Response:
        try:
            data = await read_json(request)
        except ValueError as exc:
            return bad(str(exc))
        emu.reset(data.get("tenant"))
        return Response(status_code=204)

    async def tenants(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        if request.method == "GET":
            with emu.lock:
                listed = [t.public(base) for t in emu.tenants.values()]
            return JSONResponse(listed)
        try:
            data = await read_json(request)
            unknown = set(data) - {"name", "token", "readonly_token", "variations"}
            if unknown:
                raise ValueError(
                    f"unknown {'key' if len(unknown) == 1 else 'keys'}: {', '.join(sorted(unknown))}"
                )
            name, token, readonly = data.get("name"), data.get("token"), data.get("readonly_token")
            if not isinstance(name, str) or not all(
                t is None or isinstance(t, str) for t in (token, readonly)
            ):
                raise ValueError("name must be a string, token and readonly_token strings or null")
            variations = data.get("variations") or {}
            if not isinstance(variations, dict):
                raise ValueError("variations must be an object")
            tenant = emu.add_tenant(name, token, variations, readonly_token=readonly)
        except ValueError as exc:
            return bad(str(exc))
        return JSONResponse(tenant.public(base), 201)

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return [
        Route("/_emulator/faults", faults, methods=["POST"]),
        Route("/_emulator/requests", requests_, methods=["GET", "DELETE"]),
        Route("/_emulator/reset", reset, methods=["POST"]),
        Route("/_emulator/tenants", tenants, methods=["GET", "POST"]),
        Route("/_emulator/health", health, methods=["GET"]),
    ]
