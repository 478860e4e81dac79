"""``orq-async fake-server``: the fake router until interrupted (the same as
``python -m orq_async.testing``)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(commands: argparse._SubParsersAction[Any]) -> None:
    fake = commands.add_parser(
        "fake-server",
        help="run the fake router until interrupted",
        description="Run the fake Orq router (for any client) until interrupted.",
    )
    fake.add_argument(
        "--host", default="127.0.0.1", help="the address to bind (default: %(default)s)"
    )
    fake.add_argument(
        "--port",
        type=int,
        default=8080,
        help="the port; 0 picks a free one (default: %(default)s)",
    )
    fake.add_argument(
        "--api-key", default=None, metavar="KEY", help="require this bearer key"
    )
    fake.add_argument(
        "--delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="seconds between stream chunks (default: %(default)s)",
    )
    fake.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..testing import main as serve

    fake_argv = ["--host", args.host, "--port", str(args.port)]
    fake_argv += ["--delay", str(args.delay)]
    if args.api_key:
        fake_argv += ["--api-key", args.api_key]
    return serve(fake_argv)
