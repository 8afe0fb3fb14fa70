"""A live stream's subscription: a bounded queue of notification payloads (no database)."""

from __future__ import annotations

import asyncio

import pytest

from api.broadcast import Broadcast, Delivery, Overflow, Subscription


def subscription(queue_max: int) -> Subscription:
    return Subscription(Broadcast("", "test", application_name="test"), queue_max)


def test_payloads_come_out_in_order_and_once() -> None:
    async def scenario() -> tuple[Delivery | None, Delivery | None]:
        s = subscription(3)
        for payload in ("1", "2", "3"):
            s.push(payload)
        return await s.next(10), await s.next(0)

    assert asyncio.run(scenario()) == (Delivery(["1", "2", "3"], resync=False), None)


def test_a_reconnect_asks_for_a_resync_once() -> None:
    async def scenario() -> tuple[Delivery | None, Delivery | None]:
        s = subscription(3)
        s.resync()
        s.push("7")
        return await s.next(10), await s.next(0)

    assert asyncio.run(scenario()) == (Delivery(["7"], resync=True), None)


def test_a_queue_past_its_bound_overflows_for_good() -> None:
    async def scenario() -> None:
        s = subscription(2)
        for payload in ("1", "2", "3"):
            s.push(payload)
        with pytest.raises(Overflow):
            await s.next(10)
        s.push("4")
        with pytest.raises(Overflow):
            await s.next(10)

    asyncio.run(scenario())
