"""A fake Orq router for tests and demos: a real aiohttp server on loopback.

Public and supported: use it in your own test suite.

    async with FakeOrqServer() as server:
        server.enqueue(FakeResponse.error(429, "slow", headers={"Retry-After": "1"}))
        async with AsyncOrq(api_key="test", server_url=server.url) as orq:
            await orq.router.completions.create(model="m", prompt="hi")
        assert len(server.requests) == 2

It implements ``POST /v2/router/completions`` and
``POST /v2/router/chat/completions`` (scripted with :meth:`FakeOrqServer.enqueue`
and :meth:`FakeOrqServer.enqueue_chat`). With nothing enqueued it answers
like the real router: a JSON completion, or an SSE stream of chunks when the body
says ``"stream": true`` (one chunk per token, ``max_tokens`` tokens, 16 by
default; for chat, a forced ``tool_choice`` gets a tool call). The text is a
short paragraph of plain English, one word a token, and there are ``n``
choices when the body asks for them. Enqueued
:class:`FakeResponse` objects are served first, in order, and can script
status codes, error bodies, headers, delays, raw bytes, SSE events and faults
(abort the connection, stall, drip one byte at a time, flood an endless line,
redirect). A ``responder`` callable can choose the answer per
request (e.g. from the prompt), for concurrent fault mixes. With ``ssl_context``
the server speaks HTTPS.

Every request is recorded (:attr:`FakeOrqServer.requests`) with its headers, raw
body and decoded JSON, so tests can assert the exact wire bytes.

:func:`serve_in_thread` runs one on a thread of its own (for blocking clients
and servers shared across event loops), and the pytest plugin
(:mod:`orq_async.pytest_plugin`) hands tests a started one as a fixture.

Stand-alone: ``python -m orq_async.testing --port 8080`` (or
``orq-async fake-server``).
"""

from __future__ import annotations

from .._public import publish
from ._command import main as main
from ._frames import chat_chunk as chat_chunk
from ._frames import chat_completion_object as chat_completion_object
from ._frames import chat_stream_chunks as chat_stream_chunks
from ._frames import completion_chunk as completion_chunk
from ._frames import sse_frame as sse_frame
from ._generated import MAX_FAKE_CHOICES as MAX_FAKE_CHOICES
from ._generated import MAX_FAKE_TOKENS as MAX_FAKE_TOKENS
from ._replies import FakeResponse as FakeResponse
from ._server import FakeOrqServer as FakeOrqServer
from ._server import RecordedRequest as RecordedRequest
from ._thread import serve_in_thread as serve_in_thread

__all__ = [
    "FakeOrqServer",
    "FakeResponse",
    "RecordedRequest",
    "chat_chunk",
    "chat_completion_object",
    "chat_stream_chunks",
    "completion_chunk",
    "main",
    "serve_in_thread",
    "sse_frame",
]

publish(__name__, [globals()[name] for name in __all__])
