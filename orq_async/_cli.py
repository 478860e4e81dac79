"""The ``orq-async`` command line (also ``python -m orq_async``).

Exit codes: 0 ok, 1 API or network error (one line, no traceback), 2 usage
error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence

from ._client import AsyncOrq
from ._exceptions import InvalidParameterError, OrqError
from ._hooks import Hooks, ResponseEvent
from ._resources import CompletionParams

__all__ = ["main"]

DEFAULT_MODEL = "openai/gpt-3.5-turbo-instruct"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orq-async", description="Orq AI router completions from the shell."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    complete = sub.add_parser("complete", help="stream a completion to stdout")
    complete.add_argument("prompt")
    complete.add_argument("--model", default=DEFAULT_MODEL)
    complete.add_argument("--max-tokens", type=int)
    complete.add_argument("--temperature", type=float)
    complete.add_argument("--top-p", type=float)
    complete.add_argument("--stop", action="append", help="repeatable")
    complete.add_argument("--seed", type=int)
    complete.add_argument("--no-stream", action="store_true")
    complete.add_argument("--json", action="store_true", help="one JSON line a chunk")
    complete.add_argument("--stats", action="store_true", help="print the stats line")
    complete.add_argument("--server-url")
    complete.add_argument("--api-key-file", help="read the API key from this file")

    demo = sub.add_parser(
        "demo", help="stream a completion from the built-in fake router (no account)"
    )
    demo.add_argument("--prompt", default="Say hello to orq_async")
    demo.add_argument("--max-tokens", type=int, default=24)

    fake = sub.add_parser("fake-server", help="run the fake router")
    fake.add_argument("--host", default="127.0.0.1")
    fake.add_argument("--port", type=int, default=8080)
    fake.add_argument("--api-key", default=None)
    fake.add_argument("--delay", type=float, default=0.0)
    return parser


def _recording_hooks() -> tuple[Hooks, list[ResponseEvent]]:
    """Hooks that keep the last response event (its request id, for --stats)."""
    seen: list[ResponseEvent] = []

    async def on_response(event: ResponseEvent) -> None:
        seen[:] = [event]

    return Hooks(on_response=on_response), seen


async def _complete(
    orq: AsyncOrq,
    args: argparse.Namespace,
    *,
    stats: bool,
    last_response: list[ResponseEvent],
) -> None:
    import msgspec  # local: only the CLI prints JSON lines

    params: CompletionParams = {}
    if getattr(args, "max_tokens", None) is not None:
        params["max_tokens"] = args.max_tokens
    if getattr(args, "temperature", None) is not None:
        params["temperature"] = args.temperature
    if getattr(args, "top_p", None) is not None:
        params["top_p"] = args.top_p
    if getattr(args, "seed", None) is not None:
        params["seed"] = args.seed
    if getattr(args, "stop", None):
        params["stop"] = args.stop
    started = time.perf_counter()
    first: float | None = None
    tokens = 0
    if getattr(args, "no_stream", False):
        completion = await orq.router.completions.create(
            model=args.model, prompt=args.prompt, **params
        )
        request_id = last_response[-1].request_id if last_response else None
        if args.json:
            sys.stdout.write(msgspec.json.encode(completion).decode() + "\n")
        else:
            sys.stdout.write(completion.choices[0].text + "\n")
        tokens = completion.usage.completion_tokens if completion.usage else 0
    else:
        stream = await orq.router.completions.create(
            model=args.model, prompt=args.prompt, stream=True, **params
        )
        async with stream:
            async for chunk in stream:
                if first is None:
                    first = time.perf_counter() - started
                tokens += 1
                if getattr(args, "json", False):
                    sys.stdout.write(msgspec.json.encode(chunk).decode() + "\n")
                elif chunk.choices:
                    sys.stdout.write(chunk.choices[0].text)
                sys.stdout.flush()
        if not getattr(args, "json", False):
            sys.stdout.write("\n")
        request_id = stream.request_id
    total = time.perf_counter() - started
    if stats:
        ttft = f"{first * 1000:.1f} ms" if first is not None else "n/a"
        rate = tokens / total if total > 0 else 0.0
        sys.stderr.write(
            f"[orq-async] first token {ttft}, {tokens} tokens in {total:.3f} s "
            f"({rate:.1f} tok/s), request id {request_id or 'n/a'}\n"
        )


async def _demo(args: argparse.Namespace) -> None:
    from .testing import FakeOrqServer

    async with FakeOrqServer(api_key="demo-key", default_delay=0.02) as server:
        sys.stderr.write(f"[orq-async] fake Orq router on {server.url}\n")
        hooks, seen = _recording_hooks()
        async with AsyncOrq(
            api_key="demo-key", server_url=server.url, hooks=hooks
        ) as orq:
            args.model = DEFAULT_MODEL
            await _complete(orq, args, stats=True, last_response=seen)


def _read_key(path: str | None) -> str | None:
    if path is None:
        return os.environ.get("ORQ_API_KEY")
    with open(path, encoding="utf-8") as f:  # UnicodeDecodeError is a ValueError
        return f.read().strip()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "fake-server":
            from .testing import main as serve

            fake_argv = ["--host", args.host, "--port", str(args.port)]
            fake_argv += ["--delay", str(args.delay)]
            if args.api_key:
                fake_argv += ["--api-key", args.api_key]
            return serve(fake_argv)
        if args.command == "demo":
            asyncio.run(_demo(args))
            return 0
        try:
            key = _read_key(args.api_key_file)
        except (OSError, ValueError) as exc:
            sys.stderr.write(
                f"orq-async: cannot read the API key file: {type(exc).__name__}\n"
            )
            return 2
        if not key:
            sys.stderr.write(
                "orq-async: no API key: set ORQ_API_KEY or pass --api-key-file\n"
            )
            return 2

        async def run() -> None:
            hooks, seen = _recording_hooks()
            async with AsyncOrq(
                api_key=key, server_url=args.server_url, hooks=hooks
            ) as orq:
                await _complete(
                    orq,
                    args,
                    stats=args.stats or sys.stderr.isatty(),
                    last_response=seen,
                )

        asyncio.run(run())
        return 0
    except InvalidParameterError as exc:
        sys.stderr.write(f"orq-async: {exc}\n")
        return 2
    except OrqError as exc:
        sys.stderr.write(f"orq-async: {type(exc).__name__}: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("orq-async: interrupted\n")
        return 130
    except BrokenPipeError:
        # The reader went away (`orq-async complete ... | head`): stop quietly,
        # and keep Python from complaining again while flushing stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
