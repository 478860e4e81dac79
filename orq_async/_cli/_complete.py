"""``orq-async complete``: stream a completion for a prompt to stdout."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, TextIO

from .._client import AsyncOrq
from ._completion import complete, recording_hooks, run_loop
from ._options import (
    EPILOG,
    UsageProblem,
    add_connection_options,
    add_generation_options,
)
from ._terminal import is_terminal

_COMPLETE_EPILOG = (
    """\
examples:
  orq-async complete -m openai/gpt-4o-mini -n 50 "Write a haiku about rivers"
  echo "Summarize: ..." | orq-async complete -m openai/gpt-4o-mini
  orq-async complete --n 3 -t 1.2 "Name a cat"
  orq-async complete --json --no-stream "Hi" | jq .usage

"""
    + EPILOG
)


def add_parser(commands: argparse._SubParsersAction[Any]) -> None:
    complete = commands.add_parser(
        "complete",
        help="stream a completion for PROMPT to stdout",
        description="Stream a completion for PROMPT to stdout. The stats line "
        "goes to stderr.",
        epilog=_COMPLETE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    complete.add_argument(
        "prompt",
        nargs="?",
        metavar="PROMPT",
        help="the prompt; '-' or leaving it out (with input piped) reads it from stdin",
    )
    add_generation_options(complete, max_tokens=None)
    add_connection_options(complete)
    complete.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    args.prompt = read_prompt(args.prompt, sys.stdin)
    key = read_key(args.api_key_file)
    stats_line = args.stats or (is_terminal(sys.stderr) and not args.quiet)

    async def call() -> None:
        hooks, seen = recording_hooks()
        async with AsyncOrq(
            api_key=key, server_url=args.server_url, hooks=hooks
        ) as orq:
            await complete(orq, args, stats_line=stats_line, last_response=seen)

    run_loop(call)
    return 0


def read_prompt(prompt: str | None, stdin: TextIO | None) -> str:
    """The prompt argument, or stdin for ``-`` (or no argument with input piped)."""
    if prompt is not None and prompt != "-":
        return prompt
    if stdin is None or (prompt is None and stdin.isatty()):
        raise UsageProblem("no prompt: pass PROMPT, or pipe it on stdin")
    try:
        text = stdin.read().rstrip("\n")
    except UnicodeDecodeError:
        raise UsageProblem("the prompt read from stdin is not UTF-8 text") from None
    if not text:
        raise UsageProblem("the prompt read from stdin is empty")
    return text


def read_key(path: str | None) -> str:
    """The API key from ``path``, else from ``ORQ_API_KEY``."""
    try:
        key = _read_key(path)
    except (OSError, ValueError) as exc:
        raise UsageProblem(
            f"cannot read the API key file: {type(exc).__name__}"
        ) from None
    if not key:
        raise UsageProblem("no API key: set ORQ_API_KEY or pass --api-key-file")
    return key


def _read_key(path: str | None) -> str | None:
    if path is None:
        return os.environ.get("ORQ_API_KEY")
    with open(path, encoding="utf-8") as f:  # UnicodeDecodeError is a ValueError
        return f.read().strip()
