"""The stand-alone fake router: ``python -m orq_async.testing``."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from ._server import FakeOrqServer


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake router until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m orq_async.testing", description="Run the fake Orq router."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--api-key", default=None, help="require this bearer key")
    parser.add_argument(
        "--delay", type=float, default=0.0, help="seconds between stream chunks"
    )
    args = parser.parse_args(argv)

    async def serve() -> None:
        server = FakeOrqServer(
            api_key=args.api_key,
            host=args.host,
            port=args.port,
            default_delay=args.delay,
        )
        async with server:
            print(f"fake Orq router listening on {server.url}", flush=True)
            await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        return 130
    return 0
