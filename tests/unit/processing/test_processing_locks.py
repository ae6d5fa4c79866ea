"""The per-dossier locks that keep a process's writes of one dossier in single file."""

from __future__ import annotations

import asyncio

import pytest

from processing.adapters.store import DossierLocks


async def test_writers_of_one_dossier_take_turns() -> None:
    locks = DossierLocks()
    inside: list[str] = []
    overlaps: list[tuple[str, str]] = []

    async def write(name: str) -> None:
        async with locks.hold(["d-1"]):
            if inside:
                overlaps.append((inside[-1], name))
            inside.append(name)
            await asyncio.sleep(0.001)
            inside.remove(name)

    await asyncio.gather(*(write(f"w{i}") for i in range(20)))
    assert overlaps == []
    assert len(locks) == 0


async def test_different_dossiers_do_not_wait_for_each_other() -> None:
    locks = DossierLocks()
    async with locks.hold(["d-1"]):
        # Would never finish if d-2 shared d-1's lock.
        await asyncio.wait_for(_hold_briefly(locks, "d-2"), timeout=1)
    assert len(locks) == 0


async def _hold_briefly(locks: DossierLocks, dossier_id: str) -> None:
    async with locks.hold([dossier_id]):
        pass


async def test_overlapping_sets_in_any_order_do_not_deadlock() -> None:
    locks = DossierLocks()

    async def both(order: list[str]) -> None:
        for _ in range(50):
            async with locks.hold(order):
                await asyncio.sleep(0)

    await asyncio.wait_for(
        asyncio.gather(both(["a", "b", "c"]), both(["c", "b", "a"]), both(["b", "a"])),
        timeout=5,
    )
    assert len(locks) == 0


async def test_a_cancelled_waiter_does_not_release_the_holders_lock() -> None:
    locks = DossierLocks()
    holder_may_leave = asyncio.Event()
    holding = asyncio.Event()

    async def holder() -> None:
        async with locks.hold(["d-1"]):
            holding.set()
            await holder_may_leave.wait()

    held = asyncio.create_task(holder())
    await holding.wait()
    waiter = asyncio.create_task(_hold_briefly(locks, "d-1"))
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    # The holder still holds: a third writer must wait for it.
    third = asyncio.create_task(_hold_briefly(locks, "d-1"))
    await asyncio.sleep(0.01)
    assert not third.done()
    holder_may_leave.set()
    await held
    await asyncio.wait_for(third, timeout=1)
    assert len(locks) == 0
