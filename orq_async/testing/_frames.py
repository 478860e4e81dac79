"""SSE frames and completion objects as the router sends them.

Pure helpers: bytes and dicts out, no I/O. Used by the scripted replies, the
generated answers, and by tests that build wire bytes by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
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
