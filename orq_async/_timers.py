"""One loop timer per event loop for every time limit in flight.

Each request has a first-byte limit and each stream an idle limit and maybe a
deadline. A loop timer per limit (``call_at`` then ``cancel``) costs several µs
per request: asyncio keeps cancelled handles in its heap until a rebuild, so a
busy client with long limits (600 s) drags hundreds of dead handles through
every ``heappush``. Measured against a raw aiohttp loop that was about a third
of the client's whole per-request overhead.

Instead, a :class:`Watchdog` holds the watched objects in a set and keeps one
timer armed at the earliest due time it knows of. Adding or dropping an entry
is a set operation. When the timer fires, every entry re-checks itself (its due
time may have moved later) and the timer is re-armed at the new earliest due;
with limits of seconds to minutes that is rare, so the scan costs nothing that
matters. Entries only ever fire late by the loop's own timer resolution.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from typing import Final, Protocol

__all__ = ["Watched", "Watchdog", "watchdog"]


class Watched(Protocol):
    """Something with time limits: ``check`` acts on what is overdue."""

    def check(self, now: float) -> float | None:
        """Act on any limit passed by ``now``; return the next due time, or
        None to stop being watched."""


class Watchdog:
    """The timer of one event loop (see the module doc)."""

    __slots__ = ("__weakref__", "_armed_at", "_entries", "_loop", "_timer")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Weak, so that nothing here keeps a finished loop alive (see _WATCHDOGS).
        self._loop = weakref.ref(loop)
        # Requests are held strongly and remove themselves in a finally; streams
        # are held by weak reference, so an abandoned one is still freed at once
        # by reference counting (its __del__ closes the connection).
        self._entries: set[Watched | weakref.ref[Watched]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._armed_at = math.inf

    def add(self, entry: Watched | weakref.ref[Watched], due: float) -> None:
        """Watch ``entry`` (or what a weak reference points to, so long as it
        lives), whose first limit falls due at loop time ``due``."""
        self._entries.add(entry)
        if due < self._armed_at:
            self._arm(due)

    def discard(self, entry: Watched | weakref.ref[Watched]) -> None:
        """Stop watching ``entry`` (the timer is left to fire harmlessly)."""
        self._entries.discard(entry)

    def _arm(self, due: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        loop = self._loop()
        if loop is None:  # pragma: no cover - nothing runs on a dead loop
            return
        self._armed_at = due
        self._timer = loop.call_at(due, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._armed_at = math.inf
        loop = self._loop()
        if loop is None:  # pragma: no cover - a timer only fires on a live loop
            return
        now = loop.time()
        soonest = math.inf
        for entry in list(self._entries):
            target = entry() if isinstance(entry, weakref.ref) else entry
            due = None if target is None else target.check(now)
            if due is None:
                self._entries.discard(entry)
            elif due < soonest:
                soonest = due
        if soonest < math.inf:
            self._arm(soonest)


#: Each loop's watchdog, weakly both ways: a watchdog lives while its timer is
#: armed (the loop holds the timer) or while a caller holds it, and a closed
#: loop, whose timers are dropped, is freed with its watchdog. A value that
#: held its key (the timer handle refers to the loop) would keep every loop
#: ever used alive.
_WATCHDOGS: Final[
    weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, weakref.ref[Watchdog]]
] = weakref.WeakKeyDictionary()
#: The last watchdog looked up (a program usually runs one loop): a
#: WeakKeyDictionary lookup builds a weak reference every time.
_last: weakref.ref[Watchdog] | None = None


def watchdog(loop: asyncio.AbstractEventLoop) -> Watchdog:
    """The watchdog of ``loop`` (created on first use)."""
    global _last
    dog = None if _last is None else _last()
    if dog is not None and dog._loop() is loop:
        return dog
    ref = _WATCHDOGS.get(loop)
    dog = None if ref is None else ref()
    if dog is None or ref is None:
        dog = Watchdog(loop)
        ref = _WATCHDOGS[loop] = weakref.ref(dog)
    _last = ref
    return dog
