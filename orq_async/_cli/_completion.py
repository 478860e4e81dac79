"""Run one completion and print it: whole or streamed, text or JSON, one
choice or several, with the stats line. Shared by ``complete`` and ``demo``."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import msgspec

from .._client import AsyncOrq
from .._hooks import Hooks, ResponseEvent
from .._wire import CompletionChunk
from ._options import completion_params
from ._output import Output, Stats


def run_loop(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``main()`` on uvloop when it is installed, else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())


def recording_hooks() -> tuple[Hooks, list[ResponseEvent]]:
    """Hooks that keep the last response event (its request id, for the stats)."""
    seen: list[ResponseEvent] = []

    async def on_response(event: ResponseEvent) -> None:
        seen[:] = [event]

    return Hooks(on_response=on_response), seen


async def complete(
    orq: AsyncOrq,
    args: argparse.Namespace,
    *,
    stats_line: bool,
    last_response: list[ResponseEvent],
) -> None:
    """Ask for the completion ``args`` describe and print it.

    :param stats_line: print the final stats line to stderr.
    :param last_response: filled by :func:`recording_hooks` (the request id of a
        whole completion).
    """
    output = Output(args, stats=stats_line)
    stats = Stats()
    if args.no_stream:
        await _complete_whole(orq, args, output, stats)
        if last_response:
            stats.request_id = last_response[-1].request_id
    else:
        await _complete_stream(orq, args, output, stats)
    output.out.flush()
    if stats_line:
        output.note(stats.final())


async def _complete_whole(
    orq: AsyncOrq, args: argparse.Namespace, output: Output, stats: Stats
) -> None:
    completion = await orq.router.completions.create(
        model=args.model, prompt=args.prompt, **completion_params(args)
    )
    stats.chunk()
    if completion.usage:
        stats.tokens = int(completion.usage.completion_tokens)
    if output.json:
        output.out.write(msgspec.json.encode(completion).decode() + "\n")
    elif output.choices == 1:
        output.out.write(completion.choices[0].text + "\n")
    else:
        for n, choice in enumerate(sorted(completion.choices, key=lambda c: c.index)):
            separator = "\n" if n else ""
            output.out.write(
                f"{separator}{output.label(int(choice.index))}\n{choice.text}\n"
            )


async def _complete_stream(
    orq: AsyncOrq, args: argparse.Namespace, output: Output, stats: Stats
) -> None:
    # With several choices, the first streams live under its label; the others
    # are kept and printed, labelled, after it.
    later: dict[int, list[str]] = {}
    if not output.json:
        later = {i: [] for i in range(1, output.choices)}
    stream = await orq.router.completions.create(
        model=args.model, prompt=args.prompt, stream=True, **completion_params(args)
    )
    try:
        async with stream:
            if output.choices > 1 and not output.json:
                output.out.write(output.label(0) + "\n")
            async for chunk in stream:
                stats.chunk()
                output.streamed(_chunk_text(chunk, output.json, later), stats)
            if stream.usage:
                stats.tokens = int(stream.usage.completion_tokens)
            stats.request_id = stream.request_id
    finally:
        output.stream_ended()
    for index, texts in sorted(later.items()):
        output.out.write(f"\n{output.label(index)}\n{''.join(texts)}\n")


def _chunk_text(chunk: CompletionChunk, json: bool, later: dict[int, list[str]]) -> str:
    """What to print now for ``chunk``: its JSON line, or the first choice's
    text (other choices' texts are kept in ``later``)."""
    if json:
        return msgspec.json.encode(chunk).decode() + "\n"
    text = ""
    for choice in chunk.choices:
        if choice.index == 0:
            text += choice.text
        else:
            later.setdefault(int(choice.index), []).append(choice.text)
    return text
