"""A TCP relay in front of the hub that can fail one user's server stops.

The platform's hub connect URL (``COURSEHUB_HUB_CONNECT_URL``) points at the relay, so the
proxy, the notebook pods and the coursehub service reach the real hub through it; every
byte is passed on unchanged. ``refuse_stops_of(name)`` makes it answer the requests that
stop ``name``'s default server (``DELETE /hub/api/users/<name>/server``) itself with a 503,
as a hub that is briefly unreachable or fails the request would, until ``allow_stops()``.
Only the first request of a connection is looked at: the service's HTTP client opens one
connection per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from coursehub.dev.processes import free_port

_BODY = b'{"status": 503, "message": "the hub is unreachable"}'
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(_BODY), _BODY)
)


class HubRelay:
    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self.port = free_port(host)
        self.target_port = free_port(host)  # give it to the hub as its port
        self.url = f"http://{host}:{self.port}"
        self._refused_users: set[str] = set()
        self._refused: dict[str, int] = {}
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="hub-relay", daemon=True)
        self._thread.start()
        assert self._started.wait(10), "the hub relay did not start"

    def refuse_stops_of(self, username: str) -> None:
        with self._lock:
            self._refused_users.add(username)

    def allow_stops(self) -> None:
        with self._lock:
            self._refused_users.clear()

    def refused(self, username: str) -> int:
        """How many stops of ``username``'s server were refused."""
        with self._lock:
            return self._refused.get(username, 0)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    # ----- the relay's own loop --------------------------------------------------------

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._relay, self.host, self.port)
        )
        self._started.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            self._loop.close()

    def _refuses(self, request_line: bytes) -> bool:
        with self._lock:
            for username in self._refused_users:
                stop = f"DELETE /hub/api/users/{username}/server ".encode()
                if request_line.startswith(stop):
                    self._refused[username] = self._refused.get(username, 0) + 1
                    return True
        return False

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            first = await reader.readline()
            if self._refuses(first):
                writer.write(REFUSAL)
                await writer.drain()
                writer.close()
                return
            upstream_reader, upstream_writer = await asyncio.open_connection(
                self.host, self.target_port
            )
        except OSError:
            writer.close()
            return
        upstream_writer.write(first)
        await asyncio.gather(
            _pipe(reader, upstream_writer), _pipe(upstream_reader, writer), return_exceptions=True
        )
        for stream in (writer, upstream_writer):
            with contextlib.suppress(OSError):
                stream.close()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while chunk := await source.read(65536):
            sink.write(chunk)
            await sink.drain()
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if sink.can_write_eof():
                sink.write_eof()
