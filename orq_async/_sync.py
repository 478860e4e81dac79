"""Orq: the synchronous facade over AsyncOrq.

No second implementation: every call runs the async core on a private event
loop in a daemon thread (an anyio blocking portal), and :class:`Stream` wraps an
:class:`EventStream` (:class:`SyncChatStream` a :class:`ChatStream`) in a plain
iterator. A daemon thread, so a forgotten
``close()`` can never keep the interpreter from exiting.

Interrupts: when the calling thread gets ``KeyboardInterrupt`` (or any other
exception) while it waits, the pending async operation is cancelled, which
closes its connection, before the exception propagates.
"""

from __future__ import annotations

import concurrent.futures
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar, overload

import anyio
from anyio.from_thread import BlockingPortal
from typing_extensions import Unpack

from ._chat_params import ChatCompletionCreateParams
from ._chat_stream import ChatStream, ChatTextDeltas
from ._chat_wire import ChatCompletion, ChatCompletionChunk
from ._client import AsyncOrq, ClientOptions, PoolStats, mark_closed
from ._exceptions import ClientClosedError
from ._hooks import StreamMetrics
from ._resources import CompletionCreateParams
from ._streaming import EventStream
from ._types import NOT_GIVEN, NotGiven
from ._wire import Completion, CompletionChunk, Usage

__all__ = ["Orq", "Stream", "SyncChatStream"]

T = TypeVar("T")


class _LoopThread:
    """A daemon thread running an event loop with a blocking portal."""

    def __init__(self) -> None:
        ready: concurrent.futures.Future[BlockingPortal] = concurrent.futures.Future()
        self._stopped = threading.Event()

        async def serve() -> None:
            async with BlockingPortal() as portal:
                ready.set_result(portal)
                await portal.sleep_until_stopped()

        def run() -> None:
            try:
                anyio.run(serve)
            except BaseException as exc:  # pragma: no cover - start-up failure
                if not ready.done():
                    ready.set_exception(exc)
            finally:
                self._stopped.set()

        self._thread = threading.Thread(target=run, name="orq-async-loop", daemon=True)
        self._thread.start()
        self.portal: BlockingPortal = ready.result()

    def call(self, func: Callable[..., Awaitable[T]], *args: object) -> T:
        """Run ``func(*args)`` on the loop; cancel it if the caller is interrupted.

        A concurrent future cannot be cancelled once running, so the task runs
        in a cancel scope we can reach from here.
        """
        scopes: list[anyio.CancelScope] = []

        async def run() -> T:
            with anyio.CancelScope() as scope:
                scopes.append(scope)
                return await func(*args)
            raise ClientClosedError("the call was cancelled")  # pragma: no cover

        try:
            future = self.portal.start_task_soon(run)
        except RuntimeError as exc:  # the portal (and its loop) has stopped
            raise ClientClosedError("this client is closed") from exc
        try:
            return future.result()
        except BaseException:
            if not future.done() and scopes:
                try:
                    self.portal.call(scopes[0].cancel)
                    concurrent.futures.wait([future], timeout=5)
                except RuntimeError:  # pragma: no cover - the loop already ended
                    pass
            raise

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        try:
            self.portal.call(self.portal.stop)
        except RuntimeError:  # pragma: no cover - the loop already ended
            pass
        self._thread.join(timeout=5)


class Stream(Generic[T]):
    """A blocking iterator over an :class:`EventStream`; also a context manager.

    ``break`` out of the loop, ``close()``, leaving ``with`` and dropping the
    object all release the connection.
    """

    def __init__(self, loop: _LoopThread, stream: EventStream[T]) -> None:
        self._loop = loop
        self._stream = stream

    @property
    def request_id(self) -> str | None:
        return self._stream.request_id

    @property
    def chunks_received(self) -> int:
        return self._stream.chunks_received

    @property
    def attempts(self) -> int:
        return self._stream.attempts

    @property
    def partial_text(self) -> str:
        return self._stream.partial_text

    @property
    def metrics(self) -> StreamMetrics:
        return self._stream.metrics

    @property
    def headers(self) -> Mapping[str, str]:
        return self._stream.headers

    @property
    def usage(self) -> Usage | None:
        return self._stream.usage

    def text(self) -> str:
        """Read the stream to its end; the first choice's whole text."""
        return self._loop.call(self._stream.text)

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        try:
            return self._loop.call(self._stream.__anext__)
        except StopAsyncIteration:
            raise StopIteration from None
        except BaseException:
            # KeyboardInterrupt can land just after a chunk arrived (between
            # two calls): close here too, so the connection never outlives it.
            self.close()
            raise

    def __enter__(self) -> Stream[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the stream and free its connection (idempotent)."""
        try:
            self._loop.call(self._stream.aclose)
        except RuntimeError:  # the portal is gone: its loop closed everything
            pass

    def __del__(self) -> None:
        stream = getattr(self, "_stream", None)
        if stream is None:
            return
        try:
            # Never block in a finaliser: ask the loop thread to close it.
            self._loop.portal.start_task_soon(stream.aclose)
        except Exception:  # pragma: no cover - interpreter or portal shutting down
            pass


class Completions:
    """``orq.router.completions`` (blocking)."""

    def __init__(self, owner: Orq) -> None:
        self._owner = owner

    @overload
    def create(
        self,
        *,
        stream: Literal[False] | None | NotGiven = NOT_GIVEN,
        **params: Unpack[CompletionCreateParams],
    ) -> Completion: ...

    @overload
    def create(
        self, *, stream: Literal[True], **params: Unpack[CompletionCreateParams]
    ) -> Stream[CompletionChunk]: ...

    @overload
    def create(
        self, *, stream: bool | None, **params: Unpack[CompletionCreateParams]
    ) -> Completion | Stream[CompletionChunk]: ...

    def create(
        self,
        *,
        stream: bool | None | NotGiven = NOT_GIVEN,
        **params: Unpack[CompletionCreateParams],
    ) -> Completion | Stream[CompletionChunk]:
        """Blocking :meth:`AsyncCompletions.create`: the same arguments and errors.

        :param stream: return a blocking :class:`Stream` once the headers arrive.
        :param params: as for :meth:`AsyncCompletions.create`.
        :return: a :class:`Completion`, or with ``stream=True`` a :class:`Stream`
            of :class:`CompletionChunk`.
        :raises OrqError: as :meth:`AsyncCompletions.create` raises.
        """
        owner = self._owner
        loop = owner._running_loop()
        create = owner._async.router.completions.create

        async def run() -> Completion | EventStream[CompletionChunk]:
            return await create(stream=stream, **params)

        result = loop.call(run)
        if isinstance(result, EventStream):
            return Stream(loop, result)
        return result


class SyncChatStream(Stream[ChatCompletionChunk]):
    """A blocking iterator over a :class:`ChatStream`; also a context manager.

    Everything :class:`Stream` offers, plus :meth:`iter_text`,
    :meth:`final_completion` and :attr:`partial_completion`.
    """

    def __init__(self, loop: _LoopThread, stream: ChatStream) -> None:
        super().__init__(loop, stream)
        self._chat = stream

    def __enter__(self) -> SyncChatStream:
        return self

    @property
    def partial_completion(self) -> ChatCompletion:
        """The completion as assembled from the chunks received so far."""
        return self._chat.partial_completion

    def iter_text(self) -> Iterator[str]:
        """The text deltas of the choice with index 0 (see
        :meth:`ChatStream.aiter_text`)."""
        return _SyncTextDeltas(self)

    def final_completion(self) -> ChatCompletion:
        """Read the rest of the stream; the assembled :class:`ChatCompletion`.

        :raises OrqError: as iterating would.
        """
        try:
            return self._loop.call(self._chat.final_completion)
        except BaseException:
            self.close()
            raise


class _SyncTextDeltas:
    """``SyncChatStream.iter_text()``: a plain iterator object."""

    def __init__(self, stream: SyncChatStream) -> None:
        self._stream = stream
        self._deltas = ChatTextDeltas(stream._chat)

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        try:
            return self._stream._loop.call(self._deltas.__anext__)
        except StopAsyncIteration:
            raise StopIteration from None
        except BaseException:
            self._stream.close()
            raise


class ChatCompletions:
    """``orq.router.chat.completions`` (blocking)."""

    def __init__(self, owner: Orq) -> None:
        self._owner = owner

    @overload
    def create(
        self,
        *,
        stream: Literal[False] | None | NotGiven = NOT_GIVEN,
        **params: Unpack[ChatCompletionCreateParams],
    ) -> ChatCompletion: ...

    @overload
    def create(
        self, *, stream: Literal[True], **params: Unpack[ChatCompletionCreateParams]
    ) -> SyncChatStream: ...

    @overload
    def create(
        self, *, stream: bool | None, **params: Unpack[ChatCompletionCreateParams]
    ) -> ChatCompletion | SyncChatStream: ...

    def create(
        self,
        *,
        stream: bool | None | NotGiven = NOT_GIVEN,
        **params: Unpack[ChatCompletionCreateParams],
    ) -> ChatCompletion | SyncChatStream:
        """Blocking :meth:`AsyncChatCompletions.create`: the same arguments and
        errors.

        :param stream: return a blocking :class:`SyncChatStream` once the
            headers arrive.
        :param params: as for :meth:`AsyncChatCompletions.create`.
        :return: a :class:`ChatCompletion`, or with ``stream=True`` a
            :class:`SyncChatStream` of :class:`ChatCompletionChunk`.
        :raises OrqError: as :meth:`AsyncChatCompletions.create` raises.
        """
        owner = self._owner
        loop = owner._running_loop()
        create = owner._async.router.chat.completions.create

        async def run() -> ChatCompletion | ChatStream:
            return await create(stream=stream, **params)

        result = loop.call(run)
        if isinstance(result, ChatStream):
            return SyncChatStream(loop, result)
        return result


class Chat:
    """``orq.router.chat`` (blocking)."""

    def __init__(self, owner: Orq) -> None:
        self.completions: ChatCompletions = ChatCompletions(owner)


class Router:
    """``orq.router`` (blocking)."""

    def __init__(self, owner: Orq) -> None:
        self.completions: Completions = Completions(owner)
        self.chat: Chat = Chat(owner)


def _shutdown(loop: _LoopThread, client: AsyncOrq) -> None:
    try:
        loop.call(client.aclose)
    except Exception:  # pragma: no cover - best effort at exit
        pass
    loop.stop()


class Orq:
    """The blocking client: the same surface and arguments as :class:`AsyncOrq`.

    >>> with Orq(api_key="...") as orq:
    ...     res = orq.router.completions.create(model="m", prompt="Hi")

    It runs :class:`AsyncOrq` on a private event-loop thread, started lazily.
    """

    def __init__(
        self,
        api_key: str | Callable[[], str] | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        self._async = AsyncOrq(api_key, **options)
        self._loop: _LoopThread | None = None
        self._lock = threading.Lock()
        self._finalizer: weakref.finalize[Any, Orq] | None = None
        self.router: Router = Router(self)

    def __repr__(self) -> str:
        return f"Orq(server_url={self._async.server_url!r})"

    def _running_loop(self) -> _LoopThread:
        if self._async.is_closed:
            raise ClientClosedError("this client is closed")
        with self._lock:
            if self._loop is None:
                self._loop = _LoopThread()
                self._finalizer = weakref.finalize(
                    self, _shutdown, self._loop, self._async
                )
            return self._loop

    def pool_stats(self) -> PoolStats:
        """The connection pool's gauges right now."""
        return self._async.pool_stats()

    def close(self) -> None:
        """Close open streams, pooled connections and the loop thread."""
        if self._finalizer is not None:
            self._finalizer()
        mark_closed(self._async)

    def __enter__(self) -> Orq:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
