"""The fake router's HTTP server: routes, request recording, scripted replies.

Each route (an :class:`_Endpoint`) has its own path, its own queue of scripted
answers and its own generator for the answer nobody scripted; receiving,
recording, authenticating and writing the answer are shared by every route.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

import msgspec
from aiohttp import web

from ._generated import generated_chat_completion, generated_completion
from ._replies import FakeResponse

#: The routes the fake router serves.
COMPLETIONS_PATH = "/v2/router/completions"
CHAT_COMPLETIONS_PATH = "/v2/router/chat/completions"


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


@dataclasses.dataclass
class _Endpoint:
    """One route: its path, the answers scripted for it (served first, in
    order), and what it answers when nothing is scripted (from the decoded
    body, ``None`` if it was not JSON)."""

    path: str
    generate: Callable[[Any], FakeResponse]
    script: deque[FakeResponse] = dataclasses.field(default_factory=deque)


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
        self.port: int = port
        self.default_delay = default_delay
        self.ssl_context = ssl_context
        self.responder = responder
        self.record_requests = record_requests
        self.backlog = backlog
        self.requests: list[RecordedRequest] = []
        #: Requests received since start (or the last :meth:`clear`).
        self.request_count: int = 0
        #: Peer addresses of every TCP connection a request came in on.
        self.connections: set[tuple[str, int]] = set()
        #: Monotonic times at which a client went away mid-response.
        self.disconnects: list[float] = []
        self.active_responses: int = 0
        #: The most streamed responses that were in progress at once.
        self.max_active_responses: int = 0
        self._endpoints: list[_Endpoint] = []
        self._completions = self._add_endpoint(
            COMPLETIONS_PATH, self._generate_completion
        )
        self._chat = self._add_endpoint(
            CHAT_COMPLETIONS_PATH, self._generate_chat_completion
        )
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
        for endpoint in self._endpoints:
            app.router.add_post(endpoint.path, self._handler(endpoint))
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
        if self.port == 0:
            # The runner's bound addresses are public and loop-independent (a
            # uvloop server is not an asyncio.base_events.Server).
            self.port = int(self._runner.addresses[0][1])
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
        """Serve these answers to completions requests next, in order, before
        generated ones."""
        self._completions.script.extend(responses)

    def enqueue_chat(self, *responses: FakeResponse) -> None:
        """Serve these answers to chat completions requests next, in order,
        before generated ones."""
        self._chat.script.extend(responses)

    def clear(self) -> None:
        for endpoint in self._endpoints:
            endpoint.script.clear()
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

    # -- routes ----------------------------------------------------------------

    def _add_endpoint(
        self, path: str, generate: Callable[[Any], FakeResponse]
    ) -> _Endpoint:
        """Serve ``POST path``: scripted answers first, then ``generate(body)``."""
        endpoint = _Endpoint(path, generate)
        self._endpoints.append(endpoint)
        return endpoint

    def _generate_completion(self, body: Any) -> FakeResponse:
        return generated_completion(body, chunk_delay=self.default_delay)

    def _generate_chat_completion(self, body: Any) -> FakeResponse:
        return generated_chat_completion(body, chunk_delay=self.default_delay)

    # -- the handler -----------------------------------------------------------

    def _handler(
        self, endpoint: _Endpoint
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._handle(endpoint, request)

        return handle

    async def _handle(
        self, endpoint: _Endpoint, request: web.Request
    ) -> web.StreamResponse:
        recorded = await self._record(request)
        if self.api_key is not None:
            auth = request.headers.get("Authorization", "")
            if auth != f"Bearer {self.api_key}":
                return _json_response(
                    FakeResponse.error(
                        401, "Invalid API key", type="authentication_error"
                    )
                )
        script: FakeResponse | None = None
        if endpoint.script:
            script = endpoint.script.popleft()
        elif self.responder is not None:
            script = self.responder(recorded)
        if script is None:
            script = endpoint.generate(recorded.json)
        if script.delay:
            await asyncio.sleep(script.delay)
        if not script.streamed:
            return _json_response(script)
        return await self._stream(request, script)

    async def _record(self, request: web.Request) -> RecordedRequest:
        """Read the body, note the connection, count and keep the request."""
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
        return recorded

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
