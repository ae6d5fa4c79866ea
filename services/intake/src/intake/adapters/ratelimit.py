"""Rate limits on top of the `limits` library: per portal client, per citizen IP."""

from __future__ import annotations

import math
import time

import limits
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from chassis.problems import TOO_MANY_REQUESTS

__all__ = ["RateLimit"]


class RateLimit:
    """One or more limits (``"20/second;600/minute"``) applied to a key together."""

    def __init__(self, name: str, spec: str, storage_uri: str) -> None:
        self._name = name
        self._items = limits.parse_many(spec)
        # The async flavour of a storage is chosen by the "async+" scheme prefix.
        uri = storage_uri if storage_uri.startswith("async+") else f"async+{storage_uri}"
        self._limiter = SlidingWindowCounterRateLimiter(storage_from_string(uri))

    async def retry_after(self, key: str, *, cost: int = 1) -> int | None:
        """Count one use of ``key``; the seconds to wait if that use is over a limit."""
        for item in self._items:
            if not await self._limiter.hit(item, self._name, key, cost=cost):
                stats = await self._limiter.get_window_stats(item, self._name, key)
                return max(1, math.ceil(stats.reset_time - time.time()))
        return None

    async def would_exceed(self, key: str) -> int | None:
        """Whether one more use would be refused, without counting it."""
        for item in self._items:
            if not await self._limiter.test(item, self._name, key):
                stats = await self._limiter.get_window_stats(item, self._name, key)
                return max(1, math.ceil(stats.reset_time - time.time()))
        return None

    async def enforce(self, key: str) -> None:
        wait = await self.retry_after(key)
        if wait is not None:
            raise TOO_MANY_REQUESTS(
                f"slow down and retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )
