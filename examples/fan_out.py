"""Fan out N completions concurrently in an anyio task group.

* :func:`complete_all`: N non-streaming completions at once, results in order.
* :func:`stream_all`: N streams consumed at once, text deltas collected per prompt.

One :class:`~orq_async.AsyncOrq` serves all the tasks: its connection pool is
shared and safe to use from many tasks (``PoolLimits`` caps the connections;
``limit=`` below caps the calls in flight).

If a call fails, the task group cancels the others and raises an
``ExceptionGroup``; catch :class:`~orq_async.OrqError` inside the task instead
to keep the other results. Cancelling the group (``anyio.move_on_after``,
``fail_after``, an outer cancel scope, a cancelled request handler) cancels
every call, and each open stream closes its upstream connection on the spot.

Run it (the built-in fake router unless ``ORQ_API_KEY`` is set)::

    python examples/fan_out.py
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import Any

import anyio

from orq_async import AsyncOrq
from orq_async.testing import FakeOrqServer

MODEL = os.environ.get("ORQ_MODEL", "openai/gpt-3.5-turbo-instruct")


async def complete_all(
    orq: AsyncOrq,
    prompts: Sequence[str],
    *,
    model: str = MODEL,
    max_tokens: int = 64,
    limit: int | None = None,
) -> list[str]:
    """The text of one completion per prompt, all requested concurrently."""
    results = [""] * len(prompts)
    limiter = anyio.CapacityLimiter(limit or len(prompts) or 1)

    async def one(i: int, prompt: str) -> None:
        async with limiter:
            completion = await orq.router.completions.create(
                model=model, prompt=prompt, max_tokens=max_tokens
            )
        results[i] = completion.choices[0].text

    async with anyio.create_task_group() as tg:
        for i, prompt in enumerate(prompts):
            tg.start_soon(one, i, prompt)
    return results


async def stream_all(
    orq: AsyncOrq,
    prompts: Sequence[str],
    *,
    model: str = MODEL,
    max_tokens: int = 64,
    parts: list[list[str]] | None = None,
) -> list[str]:
    """Stream one completion per prompt, all at once; the whole texts.

    ``parts[i]`` receives prompt ``i``'s text deltas as they arrive, so a caller
    that cancels the fan-out still has what came in so far.
    """
    if parts is None:
        parts = [[] for _ in prompts]
    sinks = parts

    async def one(i: int, prompt: str) -> None:
        stream = await orq.router.completions.create(
            model=model, prompt=prompt, stream=True, max_tokens=max_tokens
        )
        async with stream:
            async for text in stream.aiter_text():
                sinks[i].append(text)

    async with anyio.create_task_group() as tg:
        for i, prompt in enumerate(prompts):
            tg.start_soon(one, i, prompt)
    return ["".join(p) for p in parts]


async def main() -> None:
    prompts = [f"Write a haiku about the number {n}" for n in range(5)]
    async with contextlib.AsyncExitStack() as stack:
        options: dict[str, Any] = {}
        if not os.environ.get("ORQ_API_KEY"):
            fake = await stack.enter_async_context(FakeOrqServer(default_delay=0.05))
            options = {"api_key": "test", "server_url": fake.url}
        orq = await stack.enter_async_context(AsyncOrq(**options))

        for prompt, text in zip(prompts, await complete_all(orq, prompts), strict=True):
            print(f"{prompt!r} -> {text!r}")  # noqa: T201

        parts: list[list[str]] = [[] for _ in prompts]
        with anyio.move_on_after(0.5) as scope:  # cancels all five streams
            await stream_all(orq, prompts, max_tokens=100, parts=parts)
        if scope.cancelled_caught:
            got = [len(p) for p in parts]
            print(f"timed out; deltas received per stream: {got}")  # noqa: T201
        # Every stream closed its connection when it was cancelled.
        print(f"connections in use: {orq.pool_stats().in_use}")  # noqa: T201


if __name__ == "__main__":
    anyio.run(main)
