"""Helpers for the reliability suite: pool, socket and memory probes.

The probes read Linux ``/proc`` (no psutil); tests that need them are skipped
elsewhere.
"""

from __future__ import annotations

import os
import re
import resource
import sys
from typing import Any

import pytest

from orq_async import AsyncOrq

from ..conftest import API_KEY

__all__ = [
    "API_KEY",
    "MIB",
    "linux_only",
    "open_fds",
    "open_sockets",
    "peak_rss",
    "peak_rss_reset",
    "pool_idle",
    "pool_in_use",
    "raise_fd_limit",
    "rss",
]

MIB = 1024 * 1024

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not os.path.exists("/proc/self/status"),
    reason="memory and socket probes read Linux /proc",
)


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


def _entries(client: AsyncOrq) -> list[tuple[Any, Any]]:
    """(aiohttp session, our pool) per event loop."""
    transport = client._transport
    if transport is None:
        return []
    return [(entry[0], entry[1]) for entry in transport._sessions.values()]


def pool_in_use(client: AsyncOrq) -> int:
    """Connections checked out of the client's pool, plus pool slots held."""
    count = 0
    for session, pool in _entries(client):
        connector = session.connector
        if connector is not None:
            count += len(connector._acquired)
        if pool is not None:
            count = max(count, pool.size - pool.free)
            assert not pool.waiters
    return count


def pool_idle(client: AsyncOrq) -> int:
    """Keep-alive connections parked in the client's pool."""
    count = 0
    for session, _ in _entries(client):
        connector = session.connector
        if connector is not None:
            count += sum(len(v) for v in connector._conns.values())
    return count


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft open-file limit toward ``wanted`` (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return int(soft)
