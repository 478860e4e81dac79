"""``orq-async demo``: a completion from the built-in fake router, no account."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from .._client import AsyncOrq
from ._completion import complete, recording_hooks, run_loop
from ._options import EPILOG, add_generation_options
from ._output import Output

DEMO_PROMPT = "Say hello to orq_async"
DEMO_MAX_TOKENS = 24


def add_parser(commands: argparse._SubParsersAction[Any]) -> None:
    demo = commands.add_parser(
        "demo",
        help="stream a completion from the built-in fake router (no account needed)",
        description="Start the built-in fake router on 127.0.0.1 and stream a "
        "completion from it: no account, no network.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--prompt",
        default=DEMO_PROMPT,
        metavar="TEXT",
        help="the prompt (default: %(default)r)",
    )
    add_generation_options(demo, max_tokens=DEMO_MAX_TOKENS)
    demo.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    run_loop(lambda: _demo(args))
    return 0


def _loop_name() -> str:
    return type(asyncio.get_running_loop()).__module__.partition(".")[0]


async def _demo(args: argparse.Namespace) -> None:
    from ..testing import FakeOrqServer

    async with FakeOrqServer(api_key="demo-key", default_delay=0.02) as server:
        if not args.quiet:
            Output(args, stats=False).note(
                f"[orq-async] fake Orq router on {server.url} "
                f"(event loop: {_loop_name()})"
            )
        hooks, seen = recording_hooks()
        async with AsyncOrq(
            api_key="demo-key", server_url=server.url, hooks=hooks
        ) as orq:
            await complete(orq, args, stats_line=not args.quiet, last_response=seen)
