"""A resuming client waits its turn for a replay slot, and stops waiting when it leaves."""

import asyncio

from ladder_stream.hub import GONE, Subscriber
from ladder_stream.sse import _take_slot


def test_a_free_slot_is_taken_at_once():
    async def scenario():
        slots = asyncio.Semaphore(1)
        assert await _take_slot(slots, Subscriber(frozenset({"matches"}), 0, 10))
        assert slots.locked()

    asyncio.run(scenario())


def test_a_client_that_leaves_while_waiting_takes_no_slot_and_holds_up_no_one():
    async def scenario():
        slots = asyncio.Semaphore(1)
        await slots.acquire()  # another client's replay
        leaving = Subscriber(frozenset({"matches"}), 0, 10)
        waiting = asyncio.create_task(_take_slot(slots, leaving))
        await asyncio.sleep(0.01)
        leaving.end(GONE)
        assert await asyncio.wait_for(waiting, 1) is False
        slots.release()  # the other replay ends: the slot is free, not kept by the gone one
        next_one = Subscriber(frozenset({"matches"}), 0, 10)
        assert await asyncio.wait_for(_take_slot(slots, next_one), 1) is True

    asyncio.run(scenario())


def test_a_client_waiting_gets_the_slot_when_it_frees():
    async def scenario():
        slots = asyncio.Semaphore(1)
        await slots.acquire()
        sub = Subscriber(frozenset({"matches"}), 0, 10)
        waiting = asyncio.create_task(_take_slot(slots, sub))
        await asyncio.sleep(0.01)
        slots.release()
        assert await asyncio.wait_for(waiting, 1) is True
        assert slots.locked()

    asyncio.run(scenario())
