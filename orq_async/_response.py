"""HTTPResponse: one response's status, headers and body reads.

Every body read maps aiohttp's failures through :mod:`._transport_errors` and
is time-limited by the loop's clock (:mod:`._timers`): an :class:`Alarm` fails
the pending read with the typed error, or (for best-effort reads) ends it.
The header names of our requests live here too, as multidict ``istr`` objects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from multidict import CIMultiDictProxy, istr

from ._exceptions import (
    DeadlineExceededError,
    OrqError,
    ResponseTooLargeError,
    StreamIdleTimeoutError,
)
from ._pool import ConnectionPool
from ._timers import Alarm, watchdog
from ._transport_errors import translate_error
from ._types import NOT_GIVEN, NotGiven

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "ACCEPT",
    "ATTEMPT",
    "AUTHORIZATION",
    "CONTENT_TYPE",
    "IDEMPOTENCY_KEY",
    "PROXY_AUTHORIZATION",
    "USER_AGENT_HEADER",
    "HTTPResponse",
]

# Our request header names as multidict ``istr`` objects, made once: aiohttp
# copies headers into a case-insensitive multidict, and a plain ``str`` name makes
# it build a new ``istr`` per header per request (CPU, and memory held by every
# open stream's request info: measured ~1 KiB per request for our six headers).
AUTHORIZATION: Final = istr("Authorization")
CONTENT_TYPE: Final = istr("Content-Type")
ACCEPT: Final = istr("Accept")
USER_AGENT_HEADER: Final = istr("User-Agent")
IDEMPOTENCY_KEY: Final = istr("Idempotency-Key")
PROXY_AUTHORIZATION: Final = istr("Proxy-Authorization")
ATTEMPT: Final = istr("X-Orq-Attempt")

_MEDIA_TYPES: Final = {
    t: t for t in ("text/event-stream", "application/json", "text/html", "")
}

_REQUEST_ID_HEADERS: Final = (
    "x-request-id",
    "request-id",
    "x-orq-request-id",
    "x-trace-id",
)


class HTTPResponse:
    """A live response whose body the caller reads, then releases or closes.

    ``close()`` and ``release()`` are synchronous (aiohttp's are), so a stream
    can free its connection from ``__del__`` or a ``break`` without awaiting.
    Either also frees the response's pool slot, exactly once.
    """

    __slots__ = (
        "_done",
        "_pool",
        "_request_id",
        "_resp",
        "content_type",
        "status",
    )

    def __init__(
        self, resp: aiohttp.ClientResponse, pool: ConnectionPool | None
    ) -> None:
        self._resp = resp
        self._pool = pool
        self._done = False  # released or closed (by us)
        self.status: int = resp.status
        raw: CIMultiDictProxy[str] = resp.headers
        # Parsed here rather than with aiohttp's full MIME parser: only the media
        # type matters ("text/event-stream; charset=utf-8" -> "text/event-stream").
        ctype = raw.get(CONTENT_TYPE, "")
        # Shared strings for the usual answers (a held stream keeps this).
        media = _MEDIA_TYPES.get(ctype)
        if media is None:
            media = ctype.partition(";")[0].strip().lower()
            media = _MEDIA_TYPES.get(media, media)
        self.content_type: str = media
        self._request_id: str | None | NotGiven = NOT_GIVEN

    @property
    def request_id(self) -> str | None:
        """The server's id for this response, from the first of the usual
        headers present (looked up on first use: only errors, logs and
        metrics need it, and a missing header costs several lookups)."""
        request_id = self._request_id
        if isinstance(request_id, NotGiven):
            raw = self._resp.headers
            request_id = None
            for name in _REQUEST_ID_HEADERS:
                value = raw.get(name)
                if value:
                    request_id = value
                    break
            self._request_id = request_id
        return request_id

    async def read(
        self, *, idle: float | None, deadline: float | None, limit: int
    ) -> bytes:
        """The whole body, at most ``limit`` bytes.

        :raises StreamIdleTimeoutError: the body stalled longer than ``idle``.
        :raises DeadlineExceededError: the call's deadline passed.
        :raises ResponseTooLargeError: the body is larger than ``limit``.
        :raises APIConnectionError: the connection failed.
        """
        content = self._resp.content
        if content.is_eof():
            # Everything already arrived (the usual case for small bodies): read
            # it without a timer, and without awaiting at all.
            try:
                body = content.read_nowait()
            except Exception as exc:
                self.close()
                raise translate_error(exc, request_id=self.request_id) from exc
            if len(body) > limit:
                self.close()
                raise self._too_large(limit)
            self.release()
            return body
        length = self._resp.content_length
        if length is not None and length > limit:
            self.close()
            raise self._too_large(limit)
        loop = asyncio.get_running_loop()
        alarm = None
        if idle is not None or deadline is not None:
            due = float("inf") if idle is None else loop.time() + idle
            if deadline is not None and deadline < due:
                due = deadline
            alarm = Alarm(due, lambda: self._time_out(deadline))
            watchdog(loop).add(alarm, due)
        try:
            body = await self._read_all(content, limit)
        except BaseException:
            self.close()  # cancelled mid-body: the connection is not reusable
            raise
        finally:
            if alarm is not None:
                watchdog(loop).discard(alarm)
        self.release()
        return body

    async def _read_all(self, content: aiohttp.StreamReader, limit: int) -> bytes:
        parts: list[bytes] = []
        size = 0
        try:
            while True:
                piece = await content.readany()
                if not piece:
                    break
                size += len(piece)
                if size > limit:
                    self.close()
                    raise self._too_large(limit)
                parts.append(piece)
        except OrqError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise translate_error(exc, request_id=self.request_id) from exc
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _too_large(self, limit: int) -> OrqError:
        return ResponseTooLargeError(
            f"the response body is larger than the limit of {limit} bytes",
            request_id=self.request_id,
        )

    def _time_out(self, deadline: float | None) -> None:
        if deadline is not None and asyncio.get_running_loop().time() >= deadline:
            error: OrqError = DeadlineExceededError(
                "the call's deadline passed while reading the response body",
                request_id=self.request_id,
            )
        else:
            error = StreamIdleTimeoutError(
                "the response body stalled longer than the idle limit",
                request_id=self.request_id,
            )
        self._resp.content.set_exception(error)

    @property
    def headers(self) -> Mapping[str, str]:
        """The response headers (case-insensitive)."""
        return self._resp.headers

    def read_buffered(self) -> bytes:
        """What already arrived of the body, without waiting (``b""`` if none)."""
        try:
            return self._resp.content.read_nowait()
        except OrqError:
            raise
        except Exception as exc:
            raise translate_error(
                exc, request_id=self.request_id, mid_stream=True
            ) from exc

    async def read_chunk(self) -> bytes:
        """The next piece of the body, waiting for it (``b""`` at its end).

        :raises OrqError: the connection failed, or a time limit failed the
            read (:meth:`abort_read`).
        """
        try:
            return await self._resp.content.readany()
        except OrqError:
            raise
        except Exception as exc:
            raise translate_error(
                exc, request_id=self.request_id, mid_stream=True
            ) from exc

    async def read_prefix(self, limit: int, seconds: float) -> bytes:
        """Up to ``limit`` bytes of the body, waiting at most ``seconds``; for
        error excerpts. Never raises; the caller closes the response."""
        out = b""
        loop = asyncio.get_running_loop()
        alarm = Alarm(loop.time() + seconds, lambda: self.abort_read(_TimeUp()))
        watchdog(loop).add(alarm, alarm.due)
        try:
            while len(out) < limit:
                piece = await self._resp.content.readany()
                if not piece:
                    break
                out += piece
        except Exception:  # an excerpt is best effort (and _TimeUp ends it)
            pass
        finally:
            watchdog(loop).discard(alarm)
        return out[:limit]

    def abort_read(self, exc: BaseException) -> None:
        """Make the pending (or next) read of the body raise ``exc``."""
        self._resp.content.set_exception(exc)

    def at_eof(self) -> bool:
        return self._resp.content.at_eof()

    def release(self) -> None:
        """Give the connection back to the pool (only after the body ended)."""
        if not self._done:
            self._done = True
            self._resp.release()
            self._free_slot()

    def close(self) -> None:
        """Drop the connection now (never reused); nothing once released."""
        if not self._done:
            self._done = True
            self._resp.close()
            self._free_slot()

    def _free_slot(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.release()

    @property
    def closed(self) -> bool:
        """Closed or released, and its pool slot freed."""
        return self._done

    async def drain(self, seconds: float) -> None:
        """Read what is left of the body for at most ``seconds``, then release
        the connection for reuse, or close it if the body did not end in time.

        A cancellation arriving meanwhile closes the connection first.
        """
        content = self._resp.content
        if content.is_eof():
            # Usually [DONE] and the end of the body came in one read.
            try:
                while content.read_nowait():
                    pass
            except Exception:
                self.close()
                return
        else:
            loop = asyncio.get_running_loop()
            alarm = Alarm(loop.time() + seconds, lambda: self.abort_read(_TimeUp()))
            watchdog(loop).add(alarm, alarm.due)
            try:
                while await content.readany():
                    pass
            except Exception:
                self.close()
                return
            except BaseException:
                self.close()
                raise
            finally:
                watchdog(loop).discard(alarm)
        if content.at_eof():
            self.release()
        else:
            self.close()


class _TimeUp(Exception):
    """Ends a best-effort read whose time is up (never leaves this module)."""
