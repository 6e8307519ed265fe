"""A small HTTP server that misbehaves on purpose, for what the emulator should never learn: replies
that trickle or never end, compression bombs, broken framing, a proxy that only records.

``HostileServer(script)`` listens on loopback in a thread of its own; ``script(conn)`` runs for each
connection with a ``Conn`` that has read the request head (``conn.request_line``, ``conn.headers``) and
can ``send`` bytes or ``pause``. Every request head is recorded in ``server.requests``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    request_line: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def pause(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    @property
    def path(self) -> str:
        parts = self.request_line.split(" ")
        return parts[1] if len(parts) > 1 else ""


Script = Callable[[Conn], Awaitable[None]]


class HostileServer:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[Conn] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            tasks = asyncio.all_tasks(self._loop)
            for task in tasks:
                task.cancel()
            with contextlib.suppress(BaseException):
                self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                conn = Conn(reader, writer)
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                conn.request_line = lines[0]
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        conn.headers[k.strip().lower()] = v.strip()
                length = int(conn.headers.get("content-length", "0") or 0)
                if length:
                    conn.body = await reader.readexactly(length)
                self.requests.append(conn)
                await self.script(conn)
                if conn.request_line.startswith("CONNECT"):
                    break
        except (
            asyncio.IncompleteReadError,
            ConnectionError,
            asyncio.LimitOverrunError,
            asyncio.CancelledError,
        ):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()


def reply(status: int, body: bytes, ctype: str = "application/json", **headers: str) -> bytes:
    """A complete HTTP/1.1 reply with a Content-Length."""
    extra = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
    head = f"HTTP/1.1 {status} X\r\ncontent-type: {ctype}\r\ncontent-length: {len(body)}\r\n{extra}\r\n"
    return head.encode("latin-1") + body
