"""Exact shared rate counters with group commit: concurrent calls for one key share one round trip.

Every call must be counted in Postgres before it is forwarded (that is what keeps the limit exact across
replicas). For a hot key, one statement per call means one row-lock hand-off per call between replicas and
a round trip each. Instead, while a key's statement is in flight the calls that arrive for it wait together,
and the next statement counts all of them (`rate_hit(..., n)`), handing out their numbers in arrival order.
A lone call goes out at once, so a quiet key sees no added delay.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import asyncpg

from hearth_gateway import repository

_Key = tuple[str, datetime, int]  # key id, window start, limit


class RateCounter:
    """`hit()` → this call's number in the window, or None past the limit."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._waiting: dict[_Key, list[asyncio.Future[int | None]]] = {}
        self._running: set[_Key] = set()
        self.statements = 0  # round trips made (tests and metrics read it)

    async def hit(self, *, key_id: str, window_start: datetime, limit: int) -> int | None:
        key = (key_id, window_start, limit)
        fut: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(fut)
        if key not in self._running:
            self._running.add(key)
            asyncio.get_running_loop().create_task(self._drain(key))
        return await fut

    async def _drain(self, key: _Key) -> None:
        try:
            while batch := self._waiting.pop(key, None):
                try:
                    self.statements += 1
                    before, after = await repository.hit_many(self.pool, key_id=key[0], window_start=key[1],
                                                              limit=key[2], n=len(batch))
                except BaseException as exc:
                    for f in batch:
                        if not f.done():
                            f.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for i, f in enumerate(batch):
                    number = before + i + 1
                    if not f.done():  # (a caller that gave up still used its number: it was counted)
                        f.set_result(number if number <= after else None)
        finally:
            self._running.discard(key)
