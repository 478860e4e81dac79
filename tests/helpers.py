"""Plain helpers shared by test modules (fixtures live in the conftest.py files).

* Stream bodies and reading them: :func:`frame`, :func:`hanging_stream`,
  :func:`read_into`, :func:`texts_of`.
* Process probes for the memory and leak tests: :func:`rss`, :func:`peak_rss`,
  :func:`open_fds`, :func:`open_sockets`, :func:`raise_fd_limit`. They read Linux
  ``/proc`` (no psutil); mark tests that need them :data:`linux_only`.

Everything here uses the public API only; the few private names tests reach
for are imported in :mod:`tests.internals`.
"""

from __future__ import annotations

import asyncio
import os
import re
import resource
import sys
from collections.abc import AsyncIterable
from typing import Any

import pytest

from orq_async import CompletionChunk
from orq_async.testing import FakeResponse, completion_chunk, sse_frame

MIB = 1024 * 1024

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not os.path.exists("/proc/self/status"),
    reason="memory and socket probes read Linux /proc",
)


# -- stream bodies ---------------------------------------------------------------------


def frame(
    text: str, finish_reason: str | None = None, *, index: int = 0, **extra: Any
) -> bytes:
    """One completion-chunk event (LF line ends) for choice ``index``; ``extra``
    sets or replaces top-level fields of the chunk (``id=``, ``choices=[]``...)."""
    chunk = completion_chunk(text, finish_reason=finish_reason, index=index)
    chunk.update(extra)
    return sse_frame(chunk)


def hanging_stream() -> FakeResponse:
    """Two chunks, then the server keeps the body open until the client leaves."""
    return FakeResponse.stream(["a", "b"], finish_reason=None, done=False, then="hang")


async def read_into(
    stream: AsyncIterable[CompletionChunk],
    texts: list[str],
    seen: asyncio.Event | None = None,
) -> None:
    """Append each chunk's text as it arrives (kept when the stream then raises);
    set ``seen`` after the second chunk."""
    async for chunk in stream:
        texts.append(chunk.choices[0].text)
        if seen is not None and len(texts) == 2:
            seen.set()


async def texts_of(stream: AsyncIterable[CompletionChunk]) -> list[str]:
    """The text of every chunk of ``stream``, read to its end."""
    texts: list[str] = []
    await read_into(stream, texts)
    return texts


# -- process probes (Linux /proc) ------------------------------------------------------


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        match = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.MULTILINE)
    assert match is not None
    return int(match.group(1))


def rss() -> int:
    """Resident set size now, in bytes."""
    return _status_kib("VmRSS") * 1024


def peak_rss_reset() -> bool:
    """Reset the peak-RSS mark (VmHWM) to the current RSS; False if unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def peak_rss() -> int:
    """Peak resident set size since the last :func:`peak_rss_reset`, in bytes."""
    return _status_kib("VmHWM") * 1024


def open_fds() -> int:
    """Open file descriptors of this process."""
    return len(os.listdir("/proc/self/fd"))


def open_sockets() -> int:
    """File descriptors of this process that are sockets."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:  # noqa: PERF203 - closed while we looked
            pass
    return count


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft open-file limit toward ``wanted`` (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return int(soft)
