"""The egress a NetworkPolicy allows a pod the kubelet isolates: relays from the pod's own
network namespace to single address and port pairs on the machine's network.

A pod whose policies allow egress to, say, ``127.0.0.1:8090`` only, runs in a network
namespace with only loopback (``netns.py``). For each allowed pair the kubelet listens on that
very address and port inside the namespace, and copies each connection's bytes to the same
pair on the machine's network and back. So the pod connects to the address it was given, and
every other address and port in its namespace refuses: nothing but loopback is up. A relay
starts listening before the pod's containers start, and closes with the pod.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from coursehub.devcluster import netns

__all__ = ["EgressRelays"]

CHUNK = 64 * 1024


class EgressRelays:
    """The relays of one pod; :meth:`close` when the pod's sandbox goes."""

    def __init__(self) -> None:
        self._servers: list[asyncio.Server] = []
        self._sockets: list[socket.socket] = []
        self._streams: set[asyncio.StreamWriter] = set()

    def listen(self, namespace_fd: int, allowed: tuple[tuple[str, int], ...]) -> None:
        """Listening sockets inside the namespace, one per allowed pair (now, synchronously:
        a container that connects first waits in the backlog, never meets a refusal)."""
        for address, port in allowed:
            sock = netns.socket_inside(namespace_fd)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, port))
            sock.listen(64)
            sock.setblocking(False)
            self._sockets.append(sock)

    async def serve(self) -> None:
        for sock in self._sockets:
            address, port = sock.getsockname()
            self._servers.append(
                await asyncio.start_server(
                    lambda reader, writer, a=address, p=port: self._relay(reader, writer, a, p),
                    sock=sock,
                )
            )

    async def _relay(self, inside_reader, inside_writer, address: str, port: int) -> None:
        self._streams.add(inside_writer)
        try:
            outside_reader, outside_writer = await asyncio.open_connection(address, port)
        except OSError:
            inside_writer.close()
            self._streams.discard(inside_writer)
            return
        self._streams.add(outside_writer)
        await asyncio.gather(
            _pump(inside_reader, outside_writer),
            _pump(outside_reader, inside_writer),
            return_exceptions=True,
        )
        for writer in (inside_writer, outside_writer):
            writer.close()
            self._streams.discard(writer)

    def close(self) -> None:
        for server in self._servers:
            server.close()
        for writer in list(self._streams):
            writer.close()
        for sock in self._sockets:
            sock.close()
        self._servers, self._sockets, self._streams = [], [], set()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(CHUNK):
            writer.write(chunk)
            await writer.drain()
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()
