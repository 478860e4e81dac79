"""Relay an Orq completion stream to a browser from an aiohttp web handler.

* One :class:`~orq_async.AsyncOrq` for the whole app, opened and closed in a
  ``cleanup_ctx`` and stored under a typed :class:`aiohttp.web.AppKey`.
* ``GET /sse?prompt=...`` answers ``text/event-stream``: ``await resp.write(frame)``
  for each frame of ``stream.aiter_sse()`` (each upstream chunk as
  ``data: {...}``, then ``data: [DONE]``; an upstream failure mid-stream becomes
  a final ``event: error`` frame).

Connection release when the browser goes away: ``async with stream`` closes
the upstream connection whichever way the handler ends. aiohttp notices the
disconnect in one of two ways:

* with ``handler_cancellation=True`` (``web.run_app(app, handler_cancellation=True)``
  or ``web.AppRunner(app, handler_cancellation=True)``) the handler is cancelled
  at once, even while it waits for a slow upstream token. Recommended for relays.
* by default (no handler cancellation) the next ``resp.write()`` raises
  ``ConnectionResetError``, i.e. the upstream connection is released when the
  next token arrives.

Run it against the built-in fake router::

    python -m orq_async.testing --port 8080 &
    ORQ_API_KEY=test ORQ_SERVER_URL=http://127.0.0.1:8080 \\
        python examples/aiohttp_app.py
    curl -N 'http://127.0.0.1:8000/sse?prompt=Hello'
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from orq_async import AsyncOrq, OrqError

MODEL = os.environ.get("ORQ_MODEL", "openai/gpt-3.5-turbo-instruct")
MAX_TOKENS = 256

ORQ = web.AppKey("orq", AsyncOrq)

#: Keep proxies (nginx) and browsers from buffering or caching the event stream.
SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


async def sse(request: web.Request) -> web.StreamResponse:
    try:
        stream = await request.app[ORQ].router.completions.create(
            model=MODEL,
            prompt=request.query.get("prompt", ""),
            stream=True,
            max_tokens=MAX_TOKENS,
        )
    except OrqError as exc:  # before any byte went out: a proper error status
        return web.json_response(
            {"error": {"message": str(exc), "type": type(exc).__name__}}, status=502
        )
    response = web.StreamResponse(headers=SSE_HEADERS)
    async with stream:  # closes the upstream connection on every exit path
        await response.prepare(request)
        try:
            async for frame in stream.aiter_sse():
                await response.write(frame)
        except ConnectionResetError:  # the browser went away
            return response
    await response.write_eof()
    return response


def create_app(**client_options: Any) -> web.Application:
    """The app; ``client_options`` go to :class:`AsyncOrq` (default: from env)."""

    async def orq_client(app: web.Application) -> AsyncIterator[None]:
        async with AsyncOrq(**client_options) as orq:
            app[ORQ] = orq
            yield

    app = web.Application()
    app.cleanup_ctx.append(orq_client)
    app.router.add_get("/sse", sse)
    return app


if __name__ == "__main__":
    web.run_app(create_app(), host="127.0.0.1", port=8000, handler_cancellation=True)
