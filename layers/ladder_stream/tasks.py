"""What a stream process runs beside serving clients: the relay candidate, the lag
watcher, memory given back after bursts, the metrics server, and the signal handling
that ends streams cleanly before the server stops."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import signal
import threading

from ladder.events.relay import PublishStats, Relay
from ladder.observability import logger
from ladder.settings import Settings
from ladder_stream import metrics as m
from ladder_stream.hub import Hub
from ladder_stream.log import EventLog


def start_relay(settings: Settings, stop: threading.Event) -> threading.Thread:
    """This process's relay candidate, in a thread (one process in the fleet leads)."""

    def record(stats: PublishStats) -> None:
        m.RELAY_PUBLISHED.inc(stats.published)
        if stats.lag_seconds is not None:
            m.RELAY_LAG.set(stats.lag_seconds)

    candidate = Relay(settings, on_publish=record, on_restart=m.RELAY_RESTARTS.inc)
    m.RELAY_LEADER.set_function(lambda: float(candidate.leading.is_set()))
    thread = threading.Thread(target=candidate.run, args=(stop,), name="ladder-relay", daemon=True)
    thread.start()
    return thread


def start_metrics_server(settings: Settings) -> None:
    """Prometheus on 127.0.0.1 only: never on the public listener."""
    from prometheus_client import start_http_server

    try:
        server, _ = start_http_server(settings.stream_metrics_port, addr="127.0.0.1")
        logger.info("metrics on 127.0.0.1", port=server.server_port)
    except OSError as exc:  # another process on this host already serves them
        logger.warning("metrics port unavailable", error=str(exc))


async def watch_lag(hub: Hub, every: float = 2.0) -> None:
    while True:
        try:
            await hub.measure_lag()
            m.HUB_BEHIND.set(hub.behind)
        except Exception:  # a failed look must not end the watching
            logger.exception("could not measure the live reader's lag")
        await asyncio.sleep(every)


async def give_back_freed_memory(hub: Hub, log: EventLog, every: float = 5.0) -> None:
    """After clients leave, hand the memory they used back to the system (and the
    history blocks they shared, once no one has used them for a while).

    Clients' buffers are many medium-sized allocations; once freed, glibc keeps
    the pages in its heap, so RSS stays at its peak long after a burst (a
    replay storm of 2,000 clients left 300 MB behind). `malloc_trim` releases
    free pages; nothing in the standard library does this, hence ctypes.
    """
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to do
        return
    seen = hub.subscribers
    while True:
        await asyncio.sleep(every)
        evicted = log.blocks.evict_if_idle(2 * every)
        if evicted or hub.subscribers < seen:  # some left since the last look
            await asyncio.to_thread(trim, 0)
        seen = hub.subscribers


def end_streams_on_signals(loop: asyncio.AbstractEventLoop, hub: Hub) -> None:
    """Chain our handler before the server's: end streams, then let it shut down."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)

        def handler(signum, frame, previous=previous):
            loop.call_soon_threadsafe(lambda: asyncio.ensure_future(hub.stop()))
            if callable(previous):
                previous(signum, frame)

        signal.signal(sig, handler)
