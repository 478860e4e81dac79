"""The private names of orq_async that tests use, imported in this one place.

Tests go through the public API wherever it offers a view. These few checks
have none: the exception table of the transport, the idempotency-key source,
the span helpers, the command line's parser, and the count of idle pooled
connections. When a private module is renamed, this file is the only one to
change.
"""

from __future__ import annotations

from orq_async import AsyncOrq
from orq_async._cli import _parser as cli_parser
from orq_async._headers import new_key as new_idempotency_key
from orq_async._telemetry import error_type, instrument
from orq_async._transport_errors import EXCEPTION_MAP, translate_error

__all__ = (
    "EXCEPTION_MAP",
    "cli_parser",
    "error_type",
    "instrument",
    "new_idempotency_key",
    "pool_idle",
    "translate_error",
)


def pool_idle(client: AsyncOrq) -> int:
    """Keep-alive connections parked in the client's pool, on every event loop.

    :meth:`AsyncOrq.pool_stats` counts connections in use and requests waiting,
    not idle ones, so this reads aiohttp's connector.
    """
    transport = client._transport
    if transport is None:
        return 0
    count = 0
    for session, *_ in transport._sessions.values():
        connector = session.connector
        if connector is not None:
            count += sum(len(conns) for conns in connector._conns.values())
    return count
