"""A fake Orq router for tests and demos: a real aiohttp server on loopback.

Public and supported: use it in your own test suite.

    async with FakeOrqServer() as server:
        server.enqueue(FakeResponse.error(429, "slow", headers={"Retry-After": "1"}))
        async with AsyncOrq(api_key="test", server_url=server.url) as orq:
            await orq.router.completions.create(model="m", prompt="hi")
        assert len(server.requests) == 2

It implements ``POST /v2/router/completions``. With nothing enqueued it answers
like the real router: a JSON completion, or an SSE stream of chunks when the body
says ``"stream": true`` (one chunk per token, ``max_tokens`` tokens, 16 by
default). Enqueued :class:`FakeResponse` objects are served first, in order, and
can script status codes, error bodies, headers, delays, raw bytes, SSE events
and faults (abort the connection, stall, drip one byte at a time, flood an
endless line, redirect). A ``responder`` callable can choose the answer per
request (e.g. from the prompt), for concurrent fault mixes. With ``ssl_context``
the server speaks HTTPS.

Every request is recorded (:attr:`FakeOrqServer.requests`) with its headers, raw
body and decoded JSON, so tests can assert the exact wire bytes.

Stand-alone: ``python -m orq_async.testing --port 8080`` (or
``orq-async fake-server``).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal

import msgspec
from aiohttp import web

__all__ = [
    "FakeOrqServer",
    "FakeResponse",
    "RecordedRequest",
    "completion_chunk",
    "main",
    "sse_frame",
]

_ENCODER = msgspec.json.Encoder()
#: The most tokens a generated answer has (a larger max_tokens gets a 422).
MAX_FAKE_TOKENS = 1_000_000
_ids = itertools.count(1)


def sse_frame(
    data: bytes | str | Mapping[str, Any] | None = None,
    *,
    event: str | None = None,
    id: str | None = None,
    retry: int | None = None,
    comment: str | None = None,
    eol: bytes = b"\n",
) -> bytes:
    """One SSE event (or a comment) as wire bytes, ended by a blank line.

    :param eol: the line end: ``b"\\n"``, ``b"\\r\\n"`` or ``b"\\r"``.
    """
    if eol not in (b"\n", b"\r\n", b"\r"):
        raise ValueError("eol must be LF, CRLF or CR")
    lines: list[bytes] = []
    if comment is not None:
        lines.append(b":" + comment.encode())
    if event is not None:
        lines.append(b"event: " + event.encode())
    if id is not None:
        lines.append(b"id: " + id.encode())
    if retry is not None:
        lines.append(b"retry: " + str(retry).encode())
    if data is not None:
        if isinstance(data, Mapping):
            raw = _ENCODER.encode(data)
        elif isinstance(data, str):
            raw = data.encode()
        else:
            raw = data
        lines.extend(b"data: " + line for line in raw.split(b"\n"))
    return eol.join(lines) + eol + eol


def completion_chunk(
    text: str,
    *,
    id: str = "cmpl-fake",
    model: str = "fake-model",
    finish_reason: str | None = None,
    index: int = 0,
    usage: Mapping[str, int] | None = None,
    created: int = 1735689600,
) -> dict[str, Any]:
    """A completion object (a chunk, or a whole completion) as a dict."""
    chunk: dict[str, Any] = {
        "id": id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "text": text,
                "index": index,
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
    }
    if usage is not None:
        chunk["usage"] = dict(usage)
    return chunk


@dataclasses.dataclass
class FakeResponse:
    """One scripted answer. Build it with the class methods.

    :param status: HTTP status.
    :param headers: extra response headers.
    :param body: the whole body (non-streaming answers).
    :param content_type: the response Content-Type.
    :param events: SSE wire pieces written one after another (streaming answers).
    :param delay: seconds to wait before sending the headers.
    :param event_delay: seconds to wait between pieces.
    :param then: after the pieces: ``"end"`` the body, ``"abort"`` the TCP
        connection (a truncated chunked body), or ``"hang"`` until the client
        goes away; ``"keepalive"`` sends ``: ping`` comments every
        ``event_delay`` seconds until the client goes away.
    :param source: produces more body pieces lazily, written after ``events``
        (and ``event_delay`` apart): large or endless bodies without holding
        them in memory. Called once per response.
    """

    status: int = 200
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    body: bytes | None = None
    content_type: str = "application/json"
    events: list[bytes] | None = None
    delay: float = 0.0
    event_delay: float = 0.0
    then: Literal["end", "abort", "hang", "keepalive"] = "end"
    source: Callable[[], Iterable[bytes]] | None = None

    @property
    def streamed(self) -> bool:
        """Whether the body is written piece by piece (``events`` or ``source``)."""
        return self.events is not None or self.source is not None

    @classmethod
    def json(
        cls,
        obj: Any,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
    ) -> FakeResponse:
        """A JSON answer."""
        return cls(
            status=status,
            headers=dict(headers or {}),
            body=_ENCODER.encode(obj),
            delay=delay,
        )

    @classmethod
    def completion(cls, text: str, **kw: Any) -> FakeResponse:
        """A 200 JSON completion whose first choice is ``text``."""
        return cls.json(completion_chunk(text, finish_reason="stop"), **kw)

    @classmethod
    def error(
        cls,
        status: int,
        message: str = "error",
        *,
        type: str | None = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
    ) -> FakeResponse:
        """An error status with the ``{"error": {...}}`` body the router sends."""
        return cls.json(
            {"error": {"message": message, "type": type, "param": param, "code": code}},
            status=status,
            headers=headers,
            delay=delay,
        )

    @classmethod
    def raw(
        cls,
        body: bytes,
        *,
        status: int = 200,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
    ) -> FakeResponse:
        """Exactly these body bytes (empty, HTML, malformed JSON, ...)."""
        return cls(
            status=status,
            headers=dict(headers or {}),
            body=body,
            content_type=content_type,
            delay=delay,
        )

    @classmethod
    def stream(
        cls,
        texts: Iterable[str] = ("Hello", " world", "!"),
        *,
        finish_reason: str | None = "stop",
        done: bool = True,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        event_delay: float = 0.0,
        then: Literal["end", "abort", "hang", "keepalive"] = "end",
        eol: bytes = b"\n",
    ) -> FakeResponse:
        """An SSE stream: one chunk per text, the last with ``finish_reason``,
        then ``data: [DONE]`` if ``done``; ``eol`` is the line end (LF, CRLF, CR)."""
        texts = list(texts)
        events = [
            sse_frame(
                completion_chunk(
                    text, finish_reason=finish_reason if i == len(texts) - 1 else None
                ),
                eol=eol,
            )
            for i, text in enumerate(texts)
        ]
        if done:
            events.append(sse_frame("[DONE]", eol=eol))
        return cls.events_(
            events,
            headers=headers,
            delay=delay,
            event_delay=event_delay,
            then=then,
        )

    @classmethod
    def events_(
        cls,
        events: Iterable[bytes],
        *,
        headers: Mapping[str, str] | None = None,
        content_type: str = "text/event-stream",
        delay: float = 0.0,
        event_delay: float = 0.0,
        then: Literal["end", "abort", "hang", "keepalive"] = "end",
    ) -> FakeResponse:
        """Raw SSE wire pieces, each written (and flushed) on its own."""
        return cls(
            headers=dict(headers or {}),
            content_type=content_type,
            events=list(events),
            delay=delay,
            event_delay=event_delay,
            then=then,
        )

    @classmethod
    def drip(
        cls,
        data: bytes,
        *,
        piece_size: int = 1,
        interval: float = 0.005,
        headers: Mapping[str, str] | None = None,
        content_type: str = "text/event-stream",
        then: Literal["end", "abort", "hang", "keepalive"] = "end",
    ) -> FakeResponse:
        """``data`` written ``piece_size`` bytes at a time, ``interval`` seconds
        apart (each piece its own HTTP chunk, so the client reads it alone)."""
        if piece_size < 1:
            raise ValueError("piece_size must be >= 1")
        pieces = [data[i : i + piece_size] for i in range(0, len(data), piece_size)]
        return cls.events_(
            pieces,
            headers=headers,
            content_type=content_type,
            event_delay=interval,
            then=then,
        )

    @classmethod
    def flood(
        cls,
        size: int,
        *,
        prefix: bytes = b"data: ",
        fill: bytes = b"x",
        suffix: bytes = b"",
        piece_size: int = 64 * 1024,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        content_type: str = "text/event-stream",
        then: Literal["end", "abort", "hang", "keepalive"] = "end",
    ) -> FakeResponse:
        """A body of ``prefix``, ``size`` bytes of ``fill`` and ``suffix``, made
        and written ``piece_size`` bytes at a time: by default one SSE line with
        no line end, as large as you like, never held in memory whole."""
        if piece_size < 1 or not fill:
            raise ValueError("piece_size must be >= 1 and fill non-empty")
        block = (fill * (piece_size // len(fill) + 1))[:piece_size]

        def pieces() -> Iterator[bytes]:
            if prefix:
                yield prefix
            left = size
            while left > 0:
                n = min(left, piece_size)
                yield block if n == piece_size else block[:n]
                left -= n
            if suffix:
                yield suffix

        return cls(
            status=status,
            headers=dict(headers or {}),
            content_type=content_type,
            source=pieces,
            then=then,
        )

    @classmethod
    def redirect(
        cls,
        location: str,
        *,
        status: int = 307,
        headers: Mapping[str, str] | None = None,
    ) -> FakeResponse:
        """A redirect to ``location`` (any host) with an empty body."""
        return cls(
            status=status,
            headers={**dict(headers or {}), "Location": location},
            body=b"",
        )


@dataclasses.dataclass
class RecordedRequest:
    """What the server received."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    json: Any
    peer: tuple[str, int] | None
    received_at: float


class FakeOrqServer:
    """The fake router (see the module doc). An async context manager.

    :param api_key: when set, requests must carry ``Bearer <api_key>`` or get 401.
    :param host: the loopback address to bind.
    :param port: 0 picks a free port.
    :param default_delay: seconds between generated stream chunks.
    :param ssl_context: a server-side ``ssl.SSLContext``: serve HTTPS.
    :param responder: called with each request when nothing is enqueued; the
        :class:`FakeResponse` it returns is served (``None``: the generated
        answer). For concurrent fault mixes, where arrival order is unknown.
    :param record_requests: keep every request in :attr:`requests`; turn off
        for soak tests (:attr:`request_count` still counts).
    :param backlog: the listening socket's accept backlog (raise it for
        thousands of simultaneous connects).
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        default_delay: float = 0.0,
        ssl_context: ssl.SSLContext | None = None,
        responder: Callable[[RecordedRequest], FakeResponse | None] | None = None,
        record_requests: bool = True,
        backlog: int = 2048,
    ) -> None:
        self.api_key = api_key
        self.host = host
        self.port = port
        self.default_delay = default_delay
        self.ssl_context = ssl_context
        self.responder = responder
        self.record_requests = record_requests
        self.backlog = backlog
        self.requests: list[RecordedRequest] = []
        #: Requests received since start (or the last :meth:`clear`).
        self.request_count = 0
        #: Peer addresses of every TCP connection a request came in on.
        self.connections: set[tuple[str, int]] = set()
        #: Monotonic times at which a client went away mid-response.
        self.disconnects: list[float] = []
        self.active_responses = 0
        #: The most streamed responses that were in progress at once.
        self.max_active_responses = 0
        self._script: deque[FakeResponse] = deque()
        self._runner: web.AppRunner | None = None
        self._disconnected: asyncio.Event | None = None  # created on start

    # -- lifecycle -------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL to pass as ``server_url``."""
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    async def start(self) -> FakeOrqServer:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v2/router/completions", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner,
            self.host,
            self.port,
            reuse_address=True,
            ssl_context=self.ssl_context,
            backlog=self.backlog,
        )
        await site.start()
        server = site._server
        if self.port == 0 and isinstance(server, asyncio.base_events.Server):
            sock: socket.socket = server.sockets[0]
            self.port = sock.getsockname()[1]
        self._disconnected = asyncio.Event()
        return self

    async def aclose(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> FakeOrqServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- scripting -------------------------------------------------------------

    def enqueue(self, *responses: FakeResponse) -> None:
        """Serve these answers next, in order, before generated ones."""
        self._script.extend(responses)

    def clear(self) -> None:
        self._script.clear()
        self.requests.clear()
        self.request_count = 0
        self.connections.clear()
        self.disconnects.clear()

    @property
    def last_request(self) -> RecordedRequest:
        return self.requests[-1]

    async def wait_for_disconnect(self, timeout: float = 5.0) -> float:
        """Wait until a client disconnect was seen mid-response; its time."""
        assert self._disconnected is not None
        await asyncio.wait_for(self._disconnected.wait(), timeout)
        return self.disconnects[-1]

    # -- the handler -----------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            decoded: Any = msgspec.json.decode(body)
        except msgspec.DecodeError:
            decoded = None
        peer = (
            request.transport.get_extra_info("peername") if request.transport else None
        )
        if peer is not None:
            self.connections.add((peer[0], peer[1]))
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            headers=dict(request.headers),
            body=body,
            json=decoded,
            peer=peer,
            received_at=time.monotonic(),
        )
        self.request_count += 1
        if self.record_requests:
            self.requests.append(recorded)
        if self.api_key is not None:
            auth = request.headers.get("Authorization", "")
            if auth != f"Bearer {self.api_key}":
                return _json_response(
                    FakeResponse.error(
                        401, "Invalid API key", type="authentication_error"
                    )
                )
        script: FakeResponse | None = None
        if self._script:
            script = self._script.popleft()
        elif self.responder is not None:
            script = self.responder(recorded)
        if script is None:
            script = self._generate(decoded)
        if script.delay:
            await asyncio.sleep(script.delay)
        if not script.streamed:
            return _json_response(script)
        return await self._stream(request, script)

    def _generate(self, body: Any) -> FakeResponse:
        if not isinstance(body, dict) or "model" not in body or "prompt" not in body:
            return FakeResponse.error(422, "model and prompt are required")
        n = body.get("max_tokens") or 16
        if not isinstance(n, int) or n > MAX_FAKE_TOKENS:
            return FakeResponse.error(
                422, f"the fake router makes at most {MAX_FAKE_TOKENS} tokens"
            )
        tokens = _fake_tokens(int(n))
        cid = f"cmpl-fake-{next(_ids)}"
        model = str(body["model"])
        usage = {"prompt_tokens": 4, "completion_tokens": n, "total_tokens": n + 4}
        if body.get("stream"):
            events = [
                sse_frame(
                    completion_chunk(
                        tok,
                        id=cid,
                        model=model,
                        finish_reason="length" if i == len(tokens) - 1 else None,
                        usage=usage if i == len(tokens) - 1 else None,
                    )
                )
                for i, tok in enumerate(tokens)
            ]
            events.append(sse_frame("[DONE]"))
            return FakeResponse.events_(
                events,
                event_delay=self.default_delay,
                headers={"x-request-id": f"req-{cid}"},
            )
        whole = completion_chunk(
            "".join(tokens), id=cid, model=model, finish_reason="length", usage=usage
        )
        whole["system_fingerprint"] = "fp_fake"
        return FakeResponse.json(whole, headers={"x-request-id": f"req-{cid}"})

    async def _stream(
        self, request: web.Request, script: FakeResponse
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=script.status, headers=script.headers)
        response.content_type = script.content_type
        self.active_responses += 1
        self.max_active_responses = max(
            self.max_active_responses, self.active_responses
        )
        try:
            await response.prepare(request)
            pieces: Iterable[bytes] = script.events or ()
            if script.source is not None:
                pieces = itertools.chain(pieces, script.source())
            for piece in pieces:
                await response.write(piece)
                if script.event_delay:
                    await asyncio.sleep(script.event_delay)
            if script.then == "abort":
                assert request.transport is not None
                request.transport.abort()
                return response
            if script.then in ("hang", "keepalive"):
                while (
                    request.transport is not None and not request.transport.is_closing()
                ):
                    if script.then == "keepalive":
                        await response.write(b": ping\n\n")
                    await asyncio.sleep(script.event_delay or 0.01)
                self._saw_disconnect()
                return response
            await response.write_eof()
        except ConnectionError:
            # The client went away mid-body: expected in fault tests, not a
            # server error worth aiohttp's "Error handling request" log.
            self._saw_disconnect()
            return response
        except asyncio.CancelledError:
            self._saw_disconnect()
            raise
        finally:
            self.active_responses -= 1
        return response

    def _saw_disconnect(self) -> None:
        self.disconnects.append(time.monotonic())
        if self._disconnected is not None:
            self._disconnected.set()


def _json_response(script: FakeResponse) -> web.Response:
    response = web.Response(
        status=script.status, body=script.body or b"", headers=script.headers
    )
    if script.body is not None or script.content_type:
        response.content_type = script.content_type
    return response


def _fake_tokens(n: int) -> list[str]:
    words = [
        "This",
        " is",
        " a",
        " fake",
        " completion",
        " from",
        " the",
        " fake",
        " Orq",
        " router",
        ".",
    ]
    return [words[i % len(words)] for i in range(max(1, n))]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake router until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m orq_async.testing", description="Run the fake Orq router."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--api-key", default=None, help="require this bearer key")
    parser.add_argument(
        "--delay", type=float, default=0.0, help="seconds between stream chunks"
    )
    args = parser.parse_args(argv)

    async def serve() -> None:
        server = FakeOrqServer(
            api_key=args.api_key,
            host=args.host,
            port=args.port,
            default_delay=args.delay,
        )
        async with server:
            print(f"fake Orq router listening on {server.url}", flush=True)
            await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
