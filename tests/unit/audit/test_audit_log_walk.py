"""Walking the log: the check runs in a worker thread over pages the event loop reads as the
check reaches them, the loop stays free meanwhile, and the pages are closed however the
check ends."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Iterator

import pytest

from audit.domain.chain import MalformedEntryError
from audit.service.paging import WalkAbandoned, walk_log


class Pages:
    """Pages of numbers, recording which were read, on which thread, and the closing."""

    def __init__(self, *pages: list[int], then: Exception | None = None) -> None:
        self.pages = pages
        self.then = then
        self.read: list[int] = []
        self.threads: set[int] = set()
        self.closed = False

    async def __call__(self) -> AsyncGenerator[list[int], None]:
        try:
            for number, page in enumerate(self.pages):
                self.threads.add(threading.get_ident())
                self.read.append(number)
                yield page
            if self.then is not None:
                raise self.then
        finally:
            self.closed = True


def everything(items: Iterator[int]) -> tuple[list[int], int]:
    return list(items), threading.get_ident()


async def test_the_check_runs_off_the_loop_over_every_page_in_order() -> None:
    pages = Pages([1, 2], [], [3], [4, 5])

    seen, thread = await walk_log(pages(), everything)

    assert seen == [1, 2, 3, 4, 5]
    assert thread != threading.get_ident()
    assert pages.threads == {threading.get_ident()}
    assert pages.closed


async def test_a_check_that_stops_early_leaves_the_rest_unread_and_closes_the_pages() -> None:
    pages = Pages([1, 2], [3, 4], [5, 6])

    first = await walk_log(pages(), lambda items: next(items))

    assert first == 1
    assert pages.read == [0]
    assert pages.closed


async def test_an_error_of_the_pages_reaches_the_check_after_the_items_before_it() -> None:
    pages = Pages([1, 2], [3], then=MalformedEntryError("stored document at position 4"))
    seen: list[int] = []

    def check(items: Iterator[int]) -> str:
        try:
            for item in items:
                seen.append(item)
        except MalformedEntryError as exc:
            return str(exc)
        return "no error"

    assert await walk_log(pages(), check) == "stored document at position 4"
    assert seen == [1, 2, 3]
    assert pages.closed


async def test_an_error_of_the_check_is_raised_and_the_pages_closed() -> None:
    pages = Pages([1], [2])

    def check(items: Iterator[int]) -> None:
        next(items)
        raise ValueError("the check failed")

    with pytest.raises(ValueError, match="the check failed"):
        await walk_log(pages(), check)
    assert pages.closed


async def test_the_loop_runs_other_work_while_the_check_is_busy() -> None:
    # The check goes on only once the loop has done something after the check started: a
    # check holding the loop would wait in vain (and give up after the guard's seconds).
    started, answered = threading.Event(), threading.Event()

    def check(items: Iterator[int]) -> bool:
        started.set()
        return answered.wait(timeout=10) and sum(items) == 3

    walking = asyncio.ensure_future(walk_log(Pages([1, 2])(), check))
    assert await asyncio.to_thread(started.wait, 10)
    answered.set()
    assert await walking


async def test_a_cancelled_walk_reads_no_further_page_and_closes_the_pages() -> None:
    pages = Pages([1], [2], [3])
    holding, release, done = threading.Event(), threading.Event(), threading.Event()
    ended: list[BaseException] = []

    def check(items: Iterator[int]) -> int:
        try:
            first = next(items)
            holding.set()
            release.wait(timeout=10)
            return first + sum(items)
        except BaseException as exc:
            ended.append(exc)
            raise
        finally:
            done.set()

    walking = asyncio.ensure_future(walk_log(pages(), check))
    assert await asyncio.to_thread(holding.wait, 10)
    walking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await walking
    release.set()
    assert await asyncio.to_thread(done.wait, 10)

    assert [type(e) for e in ended] == [WalkAbandoned]
    assert pages.read == [0]
    assert pages.closed
