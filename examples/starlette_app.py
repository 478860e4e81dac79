"""Relay an Orq completion stream to a browser from Starlette (or FastAPI).

FastAPI is Starlette underneath: ``fastapi.responses.StreamingResponse`` *is*
``starlette.responses.StreamingResponse``, so the route below is the same two
lines in a FastAPI app (``docs/embedding.md`` shows the FastAPI form).

* One :class:`~orq_async.AsyncOrq` for the whole app, opened and closed by the
  lifespan; routes reach it through ``request.state.orq``.
* ``GET /sse?prompt=...`` streams ``text/event-stream``: each upstream chunk
  re-encoded as ``data: {...}``, then ``data: [DONE]`` (an ``EventSource`` or an
  OpenAI-style client can read it). An upstream failure mid-stream becomes a
  final ``event: error`` frame.
* ``GET /text?prompt=...`` streams the bare text deltas as ``text/plain``.

``create(..., stream=True)`` is awaited in the route, before the response
starts, so an upstream HTTP error becomes a proper 502 here. Do not wrap the
stream in ``async with`` inside the route: the route returns before the body is
sent. The iterator owns the stream instead. When the browser goes away,
Starlette cancels the iteration and the upstream connection is closed at once
(on ASGI servers reporting spec 2.4, which uvicorn does not, Starlette notices
at the next send instead); if the iterator is merely dropped, it closes the
connection as it is freed.

Run it against the built-in fake router::

    python -m orq_async.testing --port 8080 &
    ORQ_API_KEY=test ORQ_SERVER_URL=http://127.0.0.1:8080 \\
        python examples/starlette_app.py
    curl -N 'http://127.0.0.1:8000/sse?prompt=Hello'
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from orq_async import AsyncOrq, CompletionChunk, EventStream, OrqError

MODEL = os.environ.get("ORQ_MODEL", "openai/gpt-3.5-turbo-instruct")
MAX_TOKENS = 256

#: Keep proxies (nginx) and browsers from buffering or caching the event stream.
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def _open_stream(request: Request) -> EventStream[CompletionChunk]:
    orq: AsyncOrq = request.state.orq
    return await orq.router.completions.create(
        model=MODEL,
        prompt=request.query_params.get("prompt", ""),
        stream=True,
        max_tokens=MAX_TOKENS,
    )


def _upstream_failed(exc: OrqError) -> Response:
    return JSONResponse(
        {"error": {"message": str(exc), "type": type(exc).__name__}}, status_code=502
    )


async def sse(request: Request) -> Response:
    try:
        stream = await _open_stream(request)
    except OrqError as exc:
        return _upstream_failed(exc)
    return StreamingResponse(
        stream.aiter_sse(), media_type="text/event-stream", headers=SSE_HEADERS
    )


async def text(request: Request) -> Response:
    try:
        stream = await _open_stream(request)
    except OrqError as exc:
        return _upstream_failed(exc)
    return StreamingResponse(stream.aiter_text(), media_type="text/plain")


def create_app(**client_options: Any) -> Starlette:
    """The app; ``client_options`` go to :class:`AsyncOrq` (default: from env)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with AsyncOrq(**client_options) as orq:
            yield {"orq": orq}  # lifespan state: request.state.orq

    return Starlette(
        routes=[Route("/sse", sse), Route("/text", text)], lifespan=lifespan
    )


app = create_app()  # uvicorn --app-dir examples starlette_app:app

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
