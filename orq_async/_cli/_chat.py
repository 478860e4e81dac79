"""``orq-async chat``: stream a chat completion for a conversation to stdout.

The conversation is built from the options, in this order: ``--system``, each
``--message ROLE=TEXT``, then the ``MESSAGE`` argument (or stdin) as the last
user message. Streamed calls ask for the usage-only chunk
(``stream_options.include_usage``) so that the stats line counts tokens.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Final, TextIO

import msgspec

from .._chat_wire import ChatCompletion, ChatCompletionChunk
from .._client import AsyncOrq
from .._hooks import ResponseEvent
from ._complete import read_key, read_prompt
from ._completion import recording_hooks, run_loop
from ._options import (
    DEFAULT_CHAT_MODEL,
    EPILOG,
    UsageProblem,
    add_connection_options,
    add_generation_options,
    chat_params,
)
from ._output import Output, Stats
from ._terminal import is_terminal

#: The roles ``--message`` accepts (a tool message needs a tool call id).
ROLES: Final = ("system", "developer", "user", "assistant")

_CHAT_EPILOG = (
    """\
examples:
  orq-async chat "Write a haiku about rivers"
  orq-async chat --system "Answer in French." "How are you?"
  orq-async chat --message user="My name is Ann." \\
      --message assistant="Hello Ann!" "What is my name?"
  git diff | orq-async chat --system "Review this diff." -
  orq-async chat --json --no-stream "Hi" | jq .usage

"""
    + EPILOG
)


def add_parser(commands: argparse._SubParsersAction[Any]) -> None:
    chat = commands.add_parser(
        "chat",
        help="stream a chat completion for MESSAGE to stdout",
        description="Stream a chat completion to stdout: MESSAGE is the last "
        "user message, after the --system and --message ones. The stats line "
        "goes to stderr.",
        epilog=_CHAT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    chat.add_argument(
        "message",
        nargs="?",
        metavar="MESSAGE",
        help="the last user message; '-' reads it from stdin, as does leaving "
        "it out with input piped and no --message",
    )
    request = add_generation_options(chat, max_tokens=None, model=DEFAULT_CHAT_MODEL)
    request.add_argument(
        "--system",
        metavar="TEXT",
        help="a system message, the conversation's first",
    )
    request.add_argument(
        "--message",
        dest="messages",
        action="append",
        metavar="ROLE=TEXT",
        help="a message of the conversation, before MESSAGE; ROLE is "
        f"{', '.join(ROLES[:-1])} or {ROLES[-1]}; repeat it for several, in order",
    )
    add_connection_options(chat)
    chat.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    messages = conversation(args.system, args.messages, args.message, sys.stdin)
    key = read_key(args.api_key_file)
    stats_line = args.stats or (is_terminal(sys.stderr) and not args.quiet)

    async def call() -> None:
        hooks, seen = recording_hooks()
        async with AsyncOrq(
            api_key=key, server_url=args.server_url, hooks=hooks
        ) as orq:
            await chat(orq, args, messages, stats_line=stats_line, last_response=seen)

    run_loop(call)
    return 0


def conversation(
    system: str | None,
    options: list[str] | None,
    last: str | None,
    stdin: TextIO | None,
) -> list[dict[str, str]]:
    """The messages, in order: ``system``, the ``ROLE=TEXT`` options, then
    ``last`` (``-``: read from stdin) as a user message.

    Without ``last``, stdin is read when it is piped and no ``--message`` was
    given (a ``--system`` alone is no conversation).

    :raises UsageProblem: a malformed option, or no user-side message at all.
    """
    messages = [] if system is None else [{"role": "system", "content": system}]
    for option in options or ():
        role, equals, text = option.partition("=")
        if not equals or role.strip() not in ROLES:
            raise UsageProblem(
                f"--message wants ROLE=TEXT with ROLE one of {', '.join(ROLES)}; "
                f"got {option!r}"
            )
        messages.append({"role": role.strip(), "content": text})
    if last is not None or not options:
        messages.append({"role": "user", "content": read_prompt(last, stdin)})
    return messages


async def chat(
    orq: AsyncOrq,
    args: argparse.Namespace,
    messages: list[dict[str, str]],
    *,
    stats_line: bool,
    last_response: list[ResponseEvent],
) -> None:
    """Ask for the chat completion ``args`` describe and print it.

    :param stats_line: print the final stats line to stderr.
    :param last_response: filled by :func:`recording_hooks` (the request id of a
        whole completion).
    """
    output = Output(args, stats=stats_line)
    stats = Stats()
    if args.no_stream:
        await _chat_whole(orq, args, messages, output, stats)
        if last_response:
            stats.request_id = last_response[-1].request_id
    else:
        await _chat_stream(orq, args, messages, output, stats)
    output.out.flush()
    if stats_line:
        output.note(stats.final())


def _message_text(completion: ChatCompletion, index: int) -> str:
    for choice in completion.choices:
        if choice.index == index:
            message = choice.message
            return message.content or message.refusal or ""
    return ""


async def _chat_whole(
    orq: AsyncOrq,
    args: argparse.Namespace,
    messages: list[dict[str, str]],
    output: Output,
    stats: Stats,
) -> None:
    completion = await orq.router.chat.completions.create(
        model=args.model, messages=messages, **chat_params(args)
    )
    stats.chunk()
    if completion.usage:
        stats.tokens = int(completion.usage.completion_tokens)
    if output.json:
        output.out.write(msgspec.json.encode(completion).decode() + "\n")
    elif output.choices == 1:
        output.out.write(_message_text(completion, 0) + "\n")
    else:
        indices = sorted({int(c.index) for c in completion.choices})
        for n, index in enumerate(indices):
            separator = "\n" if n else ""
            output.out.write(
                f"{separator}{output.label(index)}\n"
                f"{_message_text(completion, index)}\n"
            )


async def _chat_stream(
    orq: AsyncOrq,
    args: argparse.Namespace,
    messages: list[dict[str, str]],
    output: Output,
    stats: Stats,
) -> None:
    # With several choices, the first streams live under its label; the others
    # are kept and printed, labelled, after it.
    later: dict[int, list[str]] = {}
    if not output.json:
        later = {i: [] for i in range(1, output.choices)}
    params = chat_params(args)
    params["stream_options"] = {"include_usage": True}  # usage for the stats line
    stream = await orq.router.chat.completions.create(
        model=args.model, messages=messages, stream=True, **params
    )
    try:
        async with stream:
            if output.choices > 1 and not output.json:
                output.out.write(output.label(0) + "\n")
            async for chunk in stream:
                text, carries_text = _chunk_text(chunk, output.json, later)
                if carries_text:
                    stats.chunk()
                if text:
                    output.streamed(text, stats)
            if stream.usage:
                stats.tokens = int(stream.usage.completion_tokens)
            stats.request_id = stream.request_id
    finally:
        output.stream_ended()
    for index, texts in sorted(later.items()):
        output.out.write(f"\n{output.label(index)}\n{''.join(texts)}\n")


def _chunk_text(
    chunk: ChatCompletionChunk, json: bool, later: dict[int, list[str]]
) -> tuple[str, bool]:
    """What to print now for ``chunk`` (its JSON line, or the first choice's
    text; other choices' texts are kept in ``later``), and whether the chunk
    carried text at all (role-only, finish and usage-only chunks do not)."""
    text = ""
    carries_text = False
    for choice in chunk.choices:
        delta = choice.delta
        piece = (delta.content or "") + (delta.refusal or "")
        if not piece:
            continue
        carries_text = True
        if choice.index == 0:
            text += piece
        elif not json:
            later.setdefault(int(choice.index), []).append(piece)
    if json:
        return msgspec.json.encode(chunk).decode() + "\n", carries_text
    return text, carries_text
