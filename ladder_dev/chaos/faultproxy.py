"""A TCP proxy that drills put between ladder's processes and Postgres or Redis, to break
the network rather than the server.

- `partition()`: nothing gets through any more, in either direction, on open
  connections and on new ones (accepted, then silent), as when a network
  path or an availability zone goes away. Clients see stalls, not errors.
- `heal()`: connections resume for new clients; every connection that lived
  through the partition is reset, as the far side (a failed-over ElastiCache
  node, a restarted proxy) would have forgotten it.
- `reset()`: every open connection is reset now.
- `latency(seconds)`: each chunk waits that long before it is passed on.

Written here because it is a few dozen lines of asyncio and no maintained
Python package offers a controllable in-process TCP fault injector (toxiproxy
is a Go server we could not start from the test suite without a download).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading

from ladder_dev.local_services import free_port

CHUNK = 65536


class _Connection:
    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None

    def reset(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is None:
                continue
            sock = writer.get_extra_info("socket")
            # linger 0: close with RST, as a vanished peer looks (unless already closed)
            with contextlib.suppress(OSError):
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()


class FaultProxy:
    """`with FaultProxy(host, port) as proxy:` listens on 127.0.0.1:`proxy.port`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.delay = 0.0
        self.partitions = 0
        self._loop = asyncio.new_event_loop()
        self._connections: set[_Connection] = set()
        self._cut: set[_Connection] = set()  # open during the current partition
        self._open = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)

    def __enter__(self) -> FaultProxy:
        started = threading.Event()
        self._thread.start()
        self._loop.call_soon_threadsafe(lambda: self._loop.create_task(self._serve(started)))
        if not started.wait(10):
            raise RuntimeError("the fault proxy did not start")
        return self

    def __exit__(self, *exc) -> None:
        self._call(self._close_all)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._open.set()
        self._loop.run_forever()

    async def _serve(self, started: threading.Event) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        started.set()

    def _call(self, function) -> None:
        done = threading.Event()

        def run() -> None:
            function()
            done.set()

        self._loop.call_soon_threadsafe(run)
        done.wait(10)

    # Faults (called from the drill's thread).

    def partition(self) -> None:
        def cut() -> None:
            self.partitions += 1
            self._open.clear()
            self._cut = set(self._connections)

        self._call(cut)

    def heal(self) -> None:
        def mend() -> None:
            for connection in self._cut | self._stalled_since_cut():
                connection.reset()
            self._cut = set()
            self._open.set()

        self._call(mend)

    def reset(self) -> None:
        self._call(self._close_all)

    def latency(self, seconds: float) -> None:
        self.delay = seconds

    # Internals (on the proxy's loop).

    def _stalled_since_cut(self) -> set[_Connection]:
        """Connections accepted during the partition: they never reached the server."""
        return {c for c in self._connections if c.upstream is None}

    def _close_all(self) -> None:
        for connection in list(self._connections):
            connection.reset()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection(writer)
        self._connections.add(connection)
        try:
            await self._open.wait()  # during a partition: accepted, then silence
            up_reader, connection.upstream = await asyncio.open_connection(*self.target)
            await asyncio.gather(
                self._pump(reader, connection.upstream), self._pump(up_reader, writer)
            )
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._connections.discard(connection)
            connection.reset()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(CHUNK):
            if self.delay:
                await asyncio.sleep(self.delay)
            await self._open.wait()  # a partition holds what was sent
            writer.write(data)
            await writer.drain()
        writer.close()
