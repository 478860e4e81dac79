"""The connection limit, enforced by us so that waiting for it is a phase of
its own with its own limit and error (aiohttp's connector is unlimited
underneath; in-flight responses hold one slot each until released)."""

from __future__ import annotations

import asyncio
from collections import deque

from ._exceptions import DeadlineExceededError, PoolTimeoutError
from ._timers import Alarm, watchdog

__all__ = ["ConnectionPool"]


class ConnectionPool:
    """``size`` slots; :meth:`acquire` waits in line for one when none is free."""

    __slots__ = ("free", "size", "waiters")

    def __init__(self, size: int) -> None:
        self.size: int = size
        self.free: int = size
        self.waiters: deque[asyncio.Future[None]] = deque()

    def try_acquire(self) -> bool:
        """Take a free slot at once, if there is one and nobody waits."""
        if self.free > 0 and not self.waiters:
            self.free -= 1
            return True
        return False

    async def acquire(self, limit: float | None, deadline: float | None) -> None:
        """A slot, waiting at most ``limit`` seconds and never past ``deadline``.

        :raises PoolTimeoutError: no slot became free within ``limit``.
        :raises DeadlineExceededError: the call's deadline passed first.
        """
        if self.try_acquire():
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self.waiters.append(waiter)
        due = float("inf") if limit is None else loop.time() + limit
        by_deadline = deadline is not None and deadline < due
        if by_deadline:
            due = deadline  # type: ignore[assignment]
        alarm = None
        if due < float("inf"):
            alarm = Alarm(due, lambda: self._time_out(waiter, limit, by_deadline))
            watchdog(loop).add(alarm, due)
        try:
            await waiter  # release() hands the slot over, already counted
        except BaseException:
            if _handed_over(waiter):
                self.release()  # handed over just as we were cancelled
            elif not waiter.done():
                waiter.cancel()
            raise
        finally:
            if waiter in self.waiters:
                self.waiters.remove(waiter)
            if alarm is not None:
                watchdog(loop).discard(alarm)

    def _time_out(
        self, waiter: asyncio.Future[None], limit: float | None, by_deadline: bool
    ) -> None:
        if waiter.done():
            return
        if by_deadline:
            waiter.set_exception(
                DeadlineExceededError(
                    "the call's deadline passed while waiting for a pooled connection"
                )
            )
        else:
            waiter.set_exception(
                PoolTimeoutError(
                    f"no pooled connection became free within {limit}s "
                    f"({self.size} in use)",
                    retryable=False,
                )
            )

    def release(self) -> None:
        """Free a slot: hand it to the first waiter still waiting, if any."""
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1


def _handed_over(waiter: asyncio.Future[None]) -> bool:
    """Whether ``waiter`` got a slot (rather than a cancellation or a timeout)."""
    return waiter.done() and not waiter.cancelled() and waiter.exception() is None
