"""The life of one request, from arguments to answer, for every endpoint.

A resource method (``completions.create``) validates and encodes its arguments
into a :class:`Request` and hands it to :meth:`ClientContext.run`. Everything
after that happens here, in this order, once per call:

1. **Options**: the call's retry policy and time limits (the client's unless
   given) and its headers (:mod:`._headers`), all checked before any I/O.
2. **Attempts** (:meth:`Call.send`, in :mod:`._attempts`): one
   ``X-Orq-Attempt`` per attempt, the ``on_request`` / ``on_response`` hooks,
   a non-2xx status read into its :class:`APIError`, and a retry (backoff,
   ``on_retry``) while the policy and the deadline allow. The transport maps
   every network failure to an :class:`APIConnectionError` (:mod:`._transport`).
3. **The answer**, decided by the response's content type, not by the call: an
   event stream becomes the endpoint's :class:`EventStream` (or, for a call
   without ``stream=True``, is read into one result); JSON is read and decoded
   (or, for a stream call, handed out as the stream's one chunk).
4. **Failure reporting** (:meth:`Call.failed`: log line, span,
   ``on_error``): from :meth:`ClientContext.run` for everything until an answer
   is handed out, and from the stream for everything after; the two never
   overlap, so every failure is reported exactly once.

A stream that fails before its first chunk reached the caller asks
:meth:`Call.reopen` for a fresh response, the one way back in here.

**Adding an endpoint** is a small resource module that builds an
:class:`Endpoint` once (its path, JSON decoder, chunk decoder, the function
assembling a result from chunks, the stream class that accounts for chunks,
and the telemetry operation name) and a :class:`Request` per call. Nothing
here knows completion types. Time limits are described once, in :mod:`._timers`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Generic, Protocol, TypeVar, final

from ._attempts import Call
from ._config import Timeouts
from ._exceptions import (
    EXCERPT_LIMIT,
    InvalidParameterError,
    InvalidParameterTypeError,
    OrqError,
    ResponseDecodeError,
    ResponseTooLargeError,
)
from ._headers import HeaderFactory
from ._hooks import Hooks
from ._http_errors import content_type_error
from ._retry import RetryConfig, RetryPolicy, resolve_retries
from ._streaming import EventStream
from ._transport import HTTPResponse, Transport
from ._types import NOT_GIVEN, NotGiven

if TYPE_CHECKING:
    from ._telemetry import Instrumentation

__all__ = [
    "ClientContext",
    "Decoder",
    "Endpoint",
    "Request",
    "RetriesOption",
    "TimeoutsOption",
]

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
C = TypeVar("C")

RetriesOption = RetryPolicy | RetryConfig | int | bool | None
TimeoutsOption = Timeouts | float | None

_NO_TIMEOUTS: Final = Timeouts(
    connect=None, pool=None, first_byte=None, stream_idle=None, deadline=None
)


class Decoder(Protocol[R_co]):
    """Decodes a 200 JSON body into an endpoint's result type."""

    def __call__(
        self,
        body: bytes,
        request_id: str | None,
        *,
        scrub: Callable[[bytes], bytes] = ...,
    ) -> R_co: ...


@final
@dataclasses.dataclass(frozen=True, slots=True)
class Endpoint(Generic[R, C]):
    """What differs between endpoints; built once per endpoint."""

    #: The URL path, e.g. ``/v2/router/completions``.
    path: str
    #: ``decode(body, request_id, scrub=...)``: a 200 JSON body as the result
    #: type; raises :class:`ResponseDecodeError` (``scrub`` masks excerpts).
    decode: Decoder[R]
    #: One SSE message's data as the chunk type (raises msgspec's errors).
    decode_chunk: Callable[[bytes], C]
    #: The result assembled from a whole stream's chunks (None: no chunk).
    assemble: Callable[[list[C]], R | None]
    #: The stream class: its per-chunk accounting (text, finish reasons).
    stream_type: type[EventStream[Any]] = EventStream
    #: ``gen_ai.operation.name`` of the call's telemetry span.
    operation: str = "text_completion"


@final
class Request(Generic[R, C]):
    """One call's validated input, built by a resource method.

    A plain class rather than a frozen dataclass: one is built per call, and a
    frozen dataclass's ``__init__`` costs about 0.8 µs.
    """

    __slots__ = (
        "body",
        "endpoint",
        "extra_headers",
        "fields",
        "idempotency_key",
        "retries",
        "stream",
        "timeouts",
    )

    def __init__(
        self,
        endpoint: Endpoint[R, C],
        body: bytes,
        fields: Mapping[str, object],
        *,
        stream: bool,
        retries: RetriesOption | NotGiven = NOT_GIVEN,
        timeouts: TimeoutsOption | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        self.endpoint: Endpoint[R, C] = endpoint
        #: The encoded request body.
        self.body: bytes = body
        #: The body fields (for the telemetry span's attributes).
        self.fields: Mapping[str, object] = fields
        #: Whether the caller asked for a stream.
        self.stream: bool = stream
        self.retries: RetriesOption | NotGiven = retries
        self.timeouts: TimeoutsOption | NotGiven = timeouts
        self.extra_headers: Mapping[str, str] | None = extra_headers
        self.idempotency_key: str | None = idempotency_key


class ClientContext:
    """What a client gives each of its requests: built once by the client."""

    __slots__ = (
        "headers",
        "hooks",
        "max_event_size",
        "max_response_size",
        "open_stream",
        "policy",
        "server_url",
        "telemetry",
        "timeouts",
        "transport",
    )

    def __init__(
        self,
        *,
        server_url: str,
        headers: HeaderFactory,
        policy: RetryPolicy,
        timeouts: Timeouts,
        hooks: Hooks,
        telemetry: Instrumentation | None,
        max_event_size: int,
        max_response_size: int,
        transport: Callable[[], Transport],
        open_stream: Callable[[EventStream[Any]], None],
    ) -> None:
        self.server_url: str = server_url
        self.headers: HeaderFactory = headers
        self.policy: RetryPolicy = policy
        self.timeouts: Timeouts = timeouts
        self.hooks: Hooks = hooks
        self.telemetry: Instrumentation | None = telemetry
        self.max_event_size: int = max_event_size
        self.max_response_size: int = max_response_size
        #: The client's transport (raises ClientClosedError once closed).
        self.transport: Callable[[], Transport] = transport
        #: Registers a stream handed out, so the client's aclose() can end it.
        self.open_stream: Callable[[EventStream[Any]], None] = open_stream

    async def run(self, request: Request[R, C]) -> R | EventStream[C]:
        """Make the call ``request`` describes (see the module doc).

        :raises InvalidParameterError: a client-side option is invalid.
        :raises OrqError: the call failed (after any retries).
        """
        call = self._start(request)
        endpoint = request.endpoint
        try:
            response = await call.send()
            content_type = response.content_type
            if content_type == "text/event-stream":
                stream = self._stream(call, endpoint, response)
                if request.stream:
                    return stream
            elif content_type == "application/json":
                data = await response.read(
                    idle=call.timeouts.stream_idle,
                    deadline=call.deadline,
                    limit=self.max_response_size,
                )
                result = endpoint.decode(data, response.request_id, scrub=call.scrub)
                if request.stream:
                    # A cache or gateway answered the stream with the whole
                    # result: hand it over as the stream's one chunk.
                    return self._stream(call, endpoint, response, whole=data)
                if call.span is not None:
                    call.span.end_completion(result)  # type: ignore[arg-type]
                return result
            else:
                # An HTML page from a proxy, say: say what it was, with an excerpt.
                head = await response.read_prefix(EXCERPT_LIMIT * 4, 1.0)
                response.close()
                raise content_type_error(response, call.scrub(head))
        except OrqError as exc:
            await call.failed(exc)
            raise
        except BaseException as exc:  # cancelled: the span still ends
            if call.span is not None:
                call.span.fail(exc)
            raise
        # An event stream answered a call without stream=True.
        return await self._assemble(call, endpoint, stream)

    def _start(self, request: Request[R, C]) -> Call:
        """The call's options, checked, and its attempts (no I/O yet)."""
        policy = (
            self.policy
            if isinstance(request.retries, NotGiven)
            else resolve_retries(request.retries)
        )
        timeouts = (
            self.timeouts
            if request.timeouts is NOT_GIVEN
            else _resolve_timeouts(request.timeouts, self.timeouts)
        )
        headers, secret = self.headers.build(
            request.stream, request.extra_headers, request.idempotency_key
        )
        transport = self.transport()
        span = (
            None
            if self.telemetry is None
            else self.telemetry.start(
                request.fields, headers, operation=request.endpoint.operation
            )
        )
        return Call(
            transport,
            self.server_url + request.endpoint.path,
            request.body,
            headers,
            policy=policy,
            timeouts=timeouts,
            hooks=self.hooks,
            secret=secret,
            span=span,
        )

    def _stream(
        self,
        call: Call,
        endpoint: Endpoint[R, C],
        response: HTTPResponse,
        *,
        whole: bytes | None = None,
    ) -> EventStream[C]:
        stream: EventStream[C] = endpoint.stream_type(
            call,
            response,
            decoder=endpoint.decode_chunk,
            max_event_size=self.max_event_size,
            whole=whole,
        )
        self.open_stream(stream)
        return stream

    async def _assemble(
        self, call: Call, endpoint: Endpoint[R, C], stream: EventStream[C]
    ) -> R:
        """Read an event stream that answered a non-stream call into one result.

        The stream reports its own failures (as one the caller asked for); the
        whole body is held to the response size limit, as a JSON answer is.
        """
        limit = self.max_response_size
        chunks: list[C] = []
        error: OrqError | None = None
        async with stream:
            async for chunk in stream:
                chunks.append(chunk)
                if stream.metrics.bytes > limit:
                    error = ResponseTooLargeError(
                        f"the response body is larger than the limit of {limit} bytes",
                        request_id=stream.request_id,
                    )
                    break
        result = endpoint.assemble(chunks)
        if error is None and result is not None:
            return result
        if error is None:
            error = ResponseDecodeError(
                "the event stream ended without a completion chunk",
                request_id=stream.request_id,
            )
        await call.failed(error)
        raise error


def request_from_keywords(
    endpoint: Endpoint[R, C],
    fields: dict[str, Any],
    stream: object,
    *,
    required: tuple[str, ...],
    encode: Callable[[dict[str, Any]], bytes],
) -> Request[R, C]:
    """A resource's ``create(**keywords)`` as a :class:`Request`: the call
    options taken out of ``fields`` (which is the caller's copy and becomes
    the body fields), the required keywords and ``stream`` checked, and the
    body encoded by ``encode`` (which validates it; it warns with
    ``stacklevel=5``, to point at the caller of ``create()``).

    :raises InvalidParameterError: an argument is invalid.
    """
    retries = fields.pop("retries", NOT_GIVEN)
    timeouts = fields.pop("timeouts", NOT_GIVEN)
    extra_headers: Mapping[str, str] | None = fields.pop("extra_headers", None)
    idempotency_key: str | None = fields.pop("idempotency_key", None)
    for name in required:
        if name not in fields:
            # A TypeError, as Python raises for a missing keyword argument.
            raise InvalidParameterTypeError(name, "is a required keyword argument")
    if stream is not NOT_GIVEN and stream is not None:
        # (None on this non-nullable field means "left off", as in the SDK.)
        if stream is not True and stream is not False:
            raise InvalidParameterTypeError("stream", "expected bool")
        fields["stream"] = stream
    return Request(
        endpoint,
        encode(fields),
        fields,
        stream=stream is True,
        retries=retries,
        timeouts=timeouts,
        extra_headers=extra_headers,
        idempotency_key=idempotency_key,
    )


def _resolve_timeouts(value: TimeoutsOption | NotGiven, default: Timeouts) -> Timeouts:
    if isinstance(value, NotGiven):
        return default
    if value is None:
        return _NO_TIMEOUTS
    if isinstance(value, Timeouts):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParameterTypeError(
            "timeouts",
            f"expected Timeouts, seconds or None, got {type(value).__name__}",
        )
    if not value > 0:
        raise InvalidParameterError("timeouts", "must be > 0 seconds")
    return default.replace(deadline=float(value))
