"""SSE frames, completion and chat completion objects as the router sends them.

Pure helpers: bytes and dicts out, no I/O. Used by the scripted replies, the
generated answers, and by tests that build wire bytes by hand.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

ENCODER = msgspec.json.Encoder()


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
            raw = ENCODER.encode(data)
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


def chat_chunk(
    content: str | None = None,
    *,
    role: str | None = None,
    tool_calls: Sequence[Mapping[str, Any]] | None = None,
    finish_reason: str | None = None,
    index: int = 0,
    id: str = "chatcmpl-fake",
    model: str = "fake-model",
    usage: Mapping[str, Any] | None = None,
    created: int = 1735689600,
    choices: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """A ``chat.completion.chunk`` as a dict: one choice whose ``delta`` holds
    what is given (``role``, ``content``, ``tool_calls`` fragments), or exactly
    ``choices`` (``[]`` for the usage-only chunk)."""
    if choices is None:
        delta: dict[str, Any] = {}
        if role is not None:
            delta["role"] = role
        if content is not None:
            delta["content"] = content
        if tool_calls is not None:
            delta["tool_calls"] = [dict(call) for call in tool_calls]
        choices = [
            {
                "index": index,
                "delta": delta,
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ]
    chunk: dict[str, Any] = {
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [dict(choice) for choice in choices],
    }
    if usage is not None:
        chunk["usage"] = dict(usage)
    return chunk


def chat_completion_object(
    content: str | None = "Hello!",
    *,
    tool_calls: Sequence[Mapping[str, Any]] | None = None,
    finish_reason: str | None = None,
    id: str = "chatcmpl-fake",
    model: str = "fake-model",
    usage: Mapping[str, Any] | None = None,
    created: int = 1735689600,
) -> dict[str, Any]:
    """A whole ``chat.completion`` as a dict, with one choice.

    :param tool_calls: ``{"name", "arguments", "id"?}`` mappings (``id``
        defaults to ``call_<i>``).
    :param finish_reason: default ``"tool_calls"`` with tool calls, else ``"stop"``.
    """
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = [
            {
                "id": call.get("id", f"call_{i}"),
                "type": "function",
                "function": {
                    "name": call["name"],
                    "arguments": call.get("arguments", ""),
                },
            }
            for i, call in enumerate(tool_calls)
        ]
    if finish_reason is None:
        finish_reason = "tool_calls" if tool_calls else "stop"
    whole: dict[str, Any] = {
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
    }
    if usage is not None:
        whole["usage"] = dict(usage)
    return whole


def chat_stream_chunks(
    texts: Sequence[str] = (),
    *,
    tool_calls: Sequence[Mapping[str, Any]] = (),
    argument_chunks: int = 4,
    finish_reason: str | None = "",
    usage: Mapping[str, Any] | None = None,
    index: int = 0,
    id: str = "chatcmpl-fake",
    model: str = "fake-model",
) -> list[dict[str, Any]]:
    """The chunks of a streamed chat answer, as the router sends them.

    A role chunk first (``content: ""``, or ``null`` when only tools are
    called), one chunk per text piece, then per tool call a chunk with its
    ``id``, ``type`` and ``name`` followed by its ``arguments`` split over
    ``argument_chunks`` chunks, then the finish chunk (``delta: {}``) and, with
    ``usage``, the usage-only chunk (``choices: []``).

    :param tool_calls: ``{"name", "arguments", "id"?}`` mappings (``id``
        defaults to ``call_<i>``).
    :param finish_reason: ``""`` picks ``"tool_calls"`` when there are tool
        calls, else ``"stop"``; ``None`` sends no finish chunk.
    """
    if argument_chunks < 1:
        raise ValueError("argument_chunks must be >= 1")
    piece = functools.partial(chat_chunk, id=id, model=model, index=index)
    chunks = [piece("" if texts or not tool_calls else None, role="assistant")]
    chunks.extend(piece(text) for text in texts)
    for i, call in enumerate(tool_calls):
        arguments = str(call.get("arguments", ""))
        header = {
            "index": i,
            "id": call.get("id", f"call_{i}"),
            "type": "function",
            "function": {"name": call["name"], "arguments": ""},
        }
        chunks.append(piece(tool_calls=[header]))
        size = max(1, -(-len(arguments) // argument_chunks))
        chunks.extend(
            piece(
                tool_calls=[
                    {"index": i, "function": {"arguments": arguments[a : a + size]}}
                ],
            )
            for a in range(0, len(arguments), size)
        )
    if finish_reason == "":
        finish_reason = "tool_calls" if tool_calls else "stop"
    if finish_reason is not None:
        chunks.append(piece(finish_reason=finish_reason))
    if usage is not None:
        chunks.append(chat_chunk(choices=[], usage=usage, id=id, model=model))
    return chunks
