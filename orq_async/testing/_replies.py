"""Scripted answers: what the fake router sends for one request.

A :class:`FakeResponse` is plain data (status, headers, body or SSE pieces,
delays, and what to do after the last piece); the server writes it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

from ._frames import (
    ENCODER,
    chat_completion_object,
    chat_stream_chunks,
    completion_chunk,
    sse_frame,
)


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
            body=ENCODER.encode(obj),
            delay=delay,
        )

    @classmethod
    def completion(cls, text: str, **kw: Any) -> FakeResponse:
        """A 200 JSON completion whose first choice is ``text``."""
        return cls.json(completion_chunk(text, finish_reason="stop"), **kw)

    @classmethod
    def chat_completion(
        cls,
        content: str | None = "Hello!",
        *,
        tool_calls: Sequence[Mapping[str, Any]] | None = None,
        finish_reason: str | None = None,
        usage: Mapping[str, Any] | None = None,
        **kw: Any,
    ) -> FakeResponse:
        """A 200 JSON ``chat.completion`` with one choice: ``content`` and
        ``tool_calls`` (``{"name", "arguments", "id"?}`` mappings);
        ``finish_reason`` defaults to ``"tool_calls"`` with tool calls, else
        ``"stop"``. ``kw``: as for :meth:`json`."""
        return cls.json(
            chat_completion_object(
                content, tool_calls=tool_calls, finish_reason=finish_reason, usage=usage
            ),
            **kw,
        )

    @classmethod
    def chat_stream(
        cls,
        texts: Iterable[str] = ("Hello", " world", "!"),
        *,
        tool_calls: Sequence[Mapping[str, Any]] = (),
        argument_chunks: int = 4,
        finish_reason: str | None = "",
        usage: Mapping[str, Any] | None = None,
        done: bool = True,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        event_delay: float = 0.0,
        then: Literal["end", "abort", "hang", "keepalive"] = "end",
        eol: bytes = b"\n",
    ) -> FakeResponse:
        """A streamed chat answer: a role chunk, one chunk per text delta, each
        tool call's ``arguments`` split over ``argument_chunks`` chunks, the
        finish chunk, the usage-only chunk when ``usage`` is given (what
        ``stream_options={"include_usage": True}`` asks for), then
        ``data: [DONE]`` if ``done``.

        :param tool_calls: ``{"name", "arguments", "id"?}`` mappings.
        :param finish_reason: ``""`` picks ``"tool_calls"`` when there are tool
            calls, else ``"stop"``; ``None`` sends no finish chunk (with
            ``done=False``: a stream cut short).
        """
        events = [
            sse_frame(chunk, eol=eol)
            for chunk in chat_stream_chunks(
                list(texts),
                tool_calls=tool_calls,
                argument_chunks=argument_chunks,
                finish_reason=finish_reason,
                usage=usage,
            )
        ]
        if done:
            events.append(sse_frame("[DONE]", eol=eol))
        return cls.events_(
            events, headers=headers, delay=delay, event_delay=event_delay, then=then
        )

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
