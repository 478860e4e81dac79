"""The clock: one loop timer per event loop for every time limit in flight.

Every time limit of a call is enforced here, the same way:

* **pool** (waiting for a connection slot when the pool is full): an
  :class:`Alarm` fails the wait with ``PoolTimeoutError``;
* **first byte** (from sending to the response headers): an :class:`Alarm`
  cancels the waiting task, which turns the cancellation it takes back into
  ``FirstByteTimeoutError`` (the mechanism of ``asyncio.timeout``);
* **idle** and **deadline** while a body is read (a stream's chunks, a JSON
  body, an error body, the drain after ``[DONE]``): the stream itself, or an
  :class:`Alarm`, fails the pending read with the typed error;
* the **deadline** caps every phase: each due time above is the earlier of the
  phase's own limit and the call's absolute deadline.

The one exception is **connect**: the TCP/TLS set-up happens inside aiohttp's
connector, out of our sight, so it is aiohttp's ``sock_connect`` limit, mapped
to ``ConnectTimeoutError`` (aiohttp's ``total`` and ``sock_read`` stay off:
``total`` kills long generations and keep-alive comments reset ``sock_read``).

Why not an anyio cancel scope or ``asyncio.timeout`` per phase: a scope per
chunk would cost more than the whole parse and decode of the chunk, and a loop
timer per limit (``call_at`` then ``cancel``) several µs per request: asyncio
keeps cancelled handles in its heap until a rebuild, so a busy client with long
limits (600 s) drags hundreds of dead handles through every ``heappush``.
Measured against a raw aiohttp loop that was about a third of the client's
whole per-request overhead.

Instead, a :class:`Watchdog` holds the watched objects in a set and keeps one
timer armed at the earliest due time it knows of. Adding or dropping an entry
is a set operation. When the timer fires, every entry re-checks itself (its due
time may have moved later) and the timer is re-armed at the new earliest due;
with limits of seconds to minutes that is rare, so the scan costs nothing that
matters. Entries only ever fire late by the loop's own timer resolution.
Nothing is cancelled but the first-byte wait, so the caller's own cancel scopes
and ``CancelledError`` stay untouched.
"""

from __future__ import annotations

import asyncio
import math
import sys
import weakref
from collections.abc import Callable
from typing import Final, Protocol

__all__ = ["Alarm", "Watched", "Watchdog", "take_back_cancel", "watchdog"]


class Watched(Protocol):
    """Something with time limits: ``check`` acts on what is overdue."""

    def check(self, now: float) -> float | None:
        """Act on any limit passed by ``now``; return the next due time, or
        None to stop being watched."""


class Alarm:
    """A one-shot limit: calls ``action`` once loop time ``due`` is reached
    (unless discarded first); ``fired`` tells afterwards."""

    __slots__ = ("action", "due", "fired")

    def __init__(self, due: float, action: Callable[[], object]) -> None:
        self.due = due
        self.action = action
        self.fired = False

    def check(self, now: float) -> float | None:
        if now < self.due:
            return self.due
        self.fired = True
        self.action()
        return None


def take_back_cancel(task: asyncio.Task[object] | None) -> bool:
    """Take back the cancellation an :class:`Alarm` requested of ``task``;
    False if someone else cancelled it too (that cancellation must go on)."""
    if task is None or sys.version_info < (3, 11):
        return True
    task.uncancel()
    return task.cancelling() == 0


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
