"""Checking the log in a worker thread while the store is read on the event loop.

Checking a backlog of entries (hashing each, extending the Merkle tree) is CPU work of
seconds that must not hold up the event loop, and the domain's checkers consume a plain
iterator. The store's client, though, lives on the event loop. ``walk_log`` joins the two:
the check runs in a worker thread over an iterator that asks the loop for one page at a
time, so each page costs the loop one round trip to the store and the thread the rest.

The walks have threads of their own: a page read may need the loop's default executor (a
new connection resolves its host name there), which walks waiting on the loop must not
be able to fill.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import threading
from collections.abc import AsyncGenerator, Callable, Coroutine, Generator, Iterator
from typing import Any, TypeVar

__all__ = ["WalkAbandoned", "walk_log"]

T = TypeVar("T")
R = TypeVar("R")

# Walks at once; more wait their turn (the checkpoint round, verifications, proofs).
_WALKERS = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="audit-walk")
# How often a walk waiting for a page looks whether the loop is gone (shut down under it).
_LOOP_CHECK_S = 1.0


def _on_loop(coroutine: Coroutine[Any, Any, R], loop: asyncio.AbstractEventLoop) -> R:
    future = asyncio.run_coroutine_threadsafe(coroutine, loop)
    while True:
        try:
            return future.result(timeout=_LOOP_CHECK_S)
        except concurrent.futures.TimeoutError:
            if loop.is_closed():
                future.cancel()
                raise RuntimeError("the event loop closed during a walk of the log") from None


async def _next_page(pages: AsyncGenerator[list[T], None]) -> list[T] | None:
    try:
        return await anext(pages)
    except StopAsyncIteration:
        return None


class WalkAbandoned(Exception):
    """Raised to the check at its next page once the walk's caller is cancelled: the rest
    of the log is not read for a caller that no longer waits."""


def _blocking(
    pages: AsyncGenerator[list[T], None],
    loop: asyncio.AbstractEventLoop,
    abandoned: threading.Event,
) -> Generator[T, None, None]:
    try:
        while True:
            if abandoned.is_set():
                raise WalkAbandoned("the walk of the log was cancelled")
            page = _on_loop(_next_page(pages), loop)
            if page is None:
                return
            yield from page
    finally:
        _on_loop(pages.aclose(), loop)


def _check(
    pages: AsyncGenerator[list[T], None],
    loop: asyncio.AbstractEventLoop,
    abandoned: threading.Event,
    check: Callable[[Iterator[T]], R],
) -> R:
    items = _blocking(pages, loop, abandoned)
    try:
        return check(items)
    finally:
        items.close()


async def walk_log(pages: AsyncGenerator[list[T], None], check: Callable[[Iterator[T]], R]) -> R:
    """``check`` over the items of ``pages``, in a worker thread; the pages are read on
    this event loop as the check reaches them, and closed when it returns or raises."""
    loop = asyncio.get_running_loop()
    abandoned = threading.Event()
    context = contextvars.copy_context()
    call = functools.partial(context.run, _check, pages, loop, abandoned, check)
    try:
        return await loop.run_in_executor(_WALKERS, call)
    except asyncio.CancelledError:
        abandoned.set()
        raise
