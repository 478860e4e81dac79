"""The ``client.router.completions`` namespaces and ``create()``."""

from __future__ import annotations

import os
import random
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypedDict, cast, overload

from typing_extensions import Unpack

from ._call import IDEMPOTENCY_HEADER, Call
from ._codec import (
    CHUNK_DECODER,
    build_request,
    check_header_value,
    decode_completion,
)
from ._config import Timeouts
from ._exceptions import (
    EXCERPT_LIMIT,
    InvalidParameterError,
    InvalidParameterTypeError,
    OrqError,
    UnexpectedContentTypeError,
    excerpt,
)
from ._retry import RetryConfig, RetryPolicy, resolve_retries
from ._streaming import EventStream
from ._transport import HTTPResponse
from ._types import NOT_GIVEN, NotGiven
from ._wire import (
    Cache,
    Completion,
    CompletionChunk,
    Fallback,
    LoadBalancer,
    OrqConfig,
    PiiRedactionPlugin,
    Retry,
    Thinking,
    Timeout,
)

if TYPE_CHECKING:
    from ._client import AsyncOrq

__all__ = ["AsyncCompletions", "AsyncRouter", "CompletionParams"]

PromptInput = str | Sequence[str] | Sequence[int] | Sequence[Sequence[int]]
Nested = Mapping[str, Any]


class CompletionParams(TypedDict, total=False):
    """The optional body fields of ``POST /v2/router/completions`` (wire spec §2).

    Nested fields take the typed struct or a plain dict with the same keys; both
    give identical bytes. ``retry``, ``fallbacks``, ``fallback_on_codes``,
    ``timeout``, ``cache`` and ``load_balancer`` configure the Orq gateway
    (server side), not this client.
    """

    echo: bool | None
    frequency_penalty: float | None
    max_tokens: int | None
    presence_penalty: float | None
    seed: int | None
    stop: str | Sequence[str] | None
    temperature: float | None
    top_p: float | None
    n: int | None
    user: str
    name: str
    fallback_on_codes: Sequence[int]
    fallbacks: Sequence[Fallback | Nested]
    retry: Retry | Nested
    cache: Cache | Nested
    load_balancer: LoadBalancer | Nested
    timeout: Timeout | Nested
    thinking: Thinking | Nested | None
    plugins: Sequence[PiiRedactionPlugin | Nested]
    orq: OrqConfig | Nested


RetriesOption = RetryPolicy | RetryConfig | int | bool | None
TimeoutsOption = Timeouts | float | None


class AsyncCompletions:
    """``client.router.completions``."""

    __slots__ = ("_client",)

    def __init__(self, client: AsyncOrq) -> None:
        self._client = client

    @overload
    async def create(
        self,
        *,
        model: str,
        prompt: PromptInput,
        stream: Literal[False] | NotGiven = NOT_GIVEN,
        retries: RetriesOption | NotGiven = NOT_GIVEN,
        timeouts: TimeoutsOption | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        **params: Unpack[CompletionParams],
    ) -> Completion: ...

    @overload
    async def create(
        self,
        *,
        model: str,
        prompt: PromptInput,
        stream: Literal[True],
        retries: RetriesOption | NotGiven = NOT_GIVEN,
        timeouts: TimeoutsOption | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        **params: Unpack[CompletionParams],
    ) -> EventStream[CompletionChunk]: ...

    @overload
    async def create(
        self,
        *,
        model: str,
        prompt: PromptInput,
        stream: bool,
        retries: RetriesOption | NotGiven = NOT_GIVEN,
        timeouts: TimeoutsOption | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        **params: Unpack[CompletionParams],
    ) -> Completion | EventStream[CompletionChunk]: ...

    async def create(
        self,
        *,
        model: str,
        prompt: PromptInput,
        stream: bool | NotGiven = NOT_GIVEN,
        retries: RetriesOption | NotGiven = NOT_GIVEN,
        timeouts: TimeoutsOption | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        **params: Unpack[CompletionParams],
    ) -> Completion | EventStream[CompletionChunk]:
        """Create a completion; with ``stream=True``, stream it chunk by chunk.

        Every argument is validated before any network I/O.

        :param model: model id, ``provider/model``.
        :param prompt: ``str``, ``list[str]``, ``list[int]`` or ``list[list[int]]``.
        :param stream: return an :class:`EventStream` once the headers arrive.
        :param retries: client-side retries for this call: a :class:`RetryPolicy`,
            the SDK's :class:`RetryConfig`, an int (``max_retries``), or
            ``None``/``False`` for none. Default: the client's.
        :param timeouts: a :class:`Timeouts`, or a float for the overall deadline
            in seconds. Default: the client's.
        :param extra_headers: added to (and overriding, case-insensitively) the
            request headers.
        :param idempotency_key: sent as ``Idempotency-Key`` on every attempt;
            generated when not given.
        :raises InvalidParameterError: an argument is invalid (no request sent).
        :raises APIError: the server answered with an error status.
        :raises APIConnectionError: the network failed or a time limit ran out.
        :raises ProtocolError: the response could not be read.
        """
        client = self._client
        body_params: dict[str, Any] = {"model": model, "prompt": prompt, **params}
        given: object = stream
        if given is not NOT_GIVEN and given is not None:
            # (None on this non-nullable field means "left off", as in the SDK.)
            if given is not True and given is not False:
                raise InvalidParameterTypeError("stream", "expected bool")
            body_params["stream"] = given
        body = build_request(body_params)
        policy = (
            client._retry_policy if retries is NOT_GIVEN else resolve_retries(retries)
        )
        call_timeouts = (
            client.timeouts
            if timeouts is NOT_GIVEN
            else _resolve_timeouts(timeouts, client.timeouts)
        )
        streaming = given is True
        headers = client._build_headers(streaming, extra_headers)
        if (
            idempotency_key is None
            and not extra_headers
            and not client._default_headers
        ):
            headers[IDEMPOTENCY_HEADER] = _new_key()
        else:
            _set_idempotency_key(headers, idempotency_key)
        api_key = client._api_key
        call = Call(
            client._ensure_transport(),
            client._completions_url,
            body,
            headers,
            policy=policy,
            timeouts=call_timeouts,
            hooks=client.hooks,
            secret=_secret_of(headers.get("Authorization", ""))
            if api_key.dynamic
            else api_key.secret_bytes,
        )
        response = await call.send()
        if streaming and response.content_type != "text/event-stream":
            # An HTML page from a proxy, say: say what it was, with an excerpt.
            head = call.scrub(await response.read_prefix(EXCERPT_LIMIT * 4, 1.0))
            response.close()
            error = _content_type_error(response, "text/event-stream", head)
            await call.failed(error)
            raise error
        if streaming:
            return client._track_stream(
                EventStream(
                    call,
                    response,
                    decoder=CHUNK_DECODER.decode,
                    max_event_size=client.max_event_size,
                )
            )
        try:
            data = await response.read(
                idle=call_timeouts.stream_idle,
                deadline=call.deadline,
                limit=client.max_response_size,
            )
        except OrqError as exc:
            await call.failed(exc)
            raise
        if response.content_type != "application/json":
            error = _content_type_error(response, "application/json", call.scrub(data))
            await call.failed(error)
            raise error
        try:
            return decode_completion(data, response.request_id, scrub=call.scrub)
        except OrqError as exc:
            await call.failed(exc)
            raise


def _set_idempotency_key(headers: dict[str, str], key: str | None) -> None:
    """The ``Idempotency-Key`` header: ``key`` if given, else one from
    ``extra_headers`` or the client's default headers, else a new one."""
    if key is not None:
        if not isinstance(cast(object, key), str) or not key:
            raise InvalidParameterTypeError(
                "idempotency_key", "expected a non-empty str"
            )
        check_header_value("idempotency_key", key)
    given = [k for k in headers if k.lower() == "idempotency-key"]
    if key is not None or not given:
        for name in given:
            del headers[name]
        headers[IDEMPOTENCY_HEADER] = key or _new_key()


def _secret_of(authorization: str) -> bytes:
    """The key inside an ``Authorization`` value, to mask echoes of it."""
    key = authorization[7:] if authorization[:7].lower() == "bearer " else ""
    return key.encode()


_keys = random.Random()
if hasattr(os, "register_at_fork"):  # pragma: no branch - not on Windows
    # A forked worker (gunicorn, multiprocessing) would otherwise draw the very
    # same keys as its parent and siblings, and a server deduplicating by key
    # would answer one worker's request with another's.
    os.register_at_fork(after_in_child=_keys.seed)


def _new_key() -> str:
    """A fresh idempotency key: 128 random bits as hex.

    Uniqueness is all it needs, so a seeded PRNG does instead of ``uuid4()``,
    whose ``os.urandom`` system call costs 2 µs per request.
    """
    return f"{_keys.getrandbits(128):032x}"


def _content_type_error(
    response: HTTPResponse, expected: str, body: bytes
) -> UnexpectedContentTypeError:
    ctype = response.content_type or "no content type"
    return UnexpectedContentTypeError(
        f"expected {expected}, got {ctype!r} (HTTP {response.status}): "
        f"{excerpt(body)!r}",
        status_code=response.status,
        content_type=response.content_type,
        body_excerpt=excerpt(body),
        request_id=response.request_id,
    )


def _resolve_timeouts(value: TimeoutsOption | NotGiven, default: Timeouts) -> Timeouts:
    if isinstance(value, NotGiven):
        return default
    if value is None:
        return Timeouts(
            connect=None, pool=None, first_byte=None, stream_idle=None, deadline=None
        )
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


class AsyncRouter:
    """``client.router``."""

    __slots__ = ("completions",)

    def __init__(self, client: AsyncOrq) -> None:
        self.completions = AsyncCompletions(client)
