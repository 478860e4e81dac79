"""What OpenTelemetry costs per chunk: off, on, and against an unhooked baseline.

``python benchmarks/bench_telemetry.py [--baseline-src DIR] [--streams N]
[--repeat N]``

The network is faked as in ``overhead.py`` (the response body is already in
aiohttp's reader), so what is timed is the client's own CPU. Each setting runs
streams of two lengths in a subprocess of its own; the cost per chunk is the
difference of the two CPU times per stream divided by the difference of their
chunk counts, which cancels the per-call cost (span start and end, request
building) out of it:

- ``baseline``: ``AsyncOrq()`` with no hooks and no telemetry, imported from
  ``--baseline-src`` (a checkout of the code without telemetry support; by
  default this tree, so it equals ``off``);
- ``off``: ``AsyncOrq()`` from this tree, telemetry not enabled;
- ``on``: ``AsyncOrq(telemetry=Telemetry(...))`` with the SDK's tracer and
  meter providers (spans recorded, exported nowhere).

The per-call cost is printed too. Timings on a shared machine are noisy: take
the minimum of several ``--repeat`` runs, or count instructions instead
(``valgrind --tool=cachegrind``, as described in ``overhead.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETTINGS = ("baseline", "off", "on")


async def _time_streams(setting: str, tokens: int, count: int) -> float:
    """CPU seconds per stream of ``tokens`` chunks (run in the worker)."""
    import aiohttp

    sys.path.insert(0, str(HERE))
    from overhead import URL, fake_post
    from server import chunk_payload, sse_frame

    from orq_async import AsyncOrq

    events = [sse_frame(chunk_payload(i, tokens)) for i in range(tokens)]
    aiohttp.ClientSession.post = fake_post(  # type: ignore[method-assign, assignment]
        [*events, sse_frame(b"[DONE]")], "text/event-stream"
    )
    options: dict[str, object] = {}
    if setting == "on":
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider

        from orq_async import Telemetry

        options["telemetry"] = Telemetry(
            tracer_provider=TracerProvider(),
            meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]),
        )
    async with AsyncOrq(api_key="bench", server_url=URL, **options) as orq:  # type: ignore[arg-type]

        async def one() -> None:
            stream = await orq.router.completions.create(
                model="bench", prompt="p", stream=True
            )
            async for _ in stream:
                pass

        for _ in range(50):  # warm-up
            await one()
        started = time.process_time()
        for _ in range(count):
            await one()
        return (time.process_time() - started) / count


def _worker(setting: str, short: int, long: int, count: int) -> None:
    per_short = asyncio.run(_time_streams(setting, short, count))
    per_long = asyncio.run(_time_streams(setting, long, count))
    print(per_short, per_long)


def _run(
    setting: str, src: Path, short: int, long: int, count: int
) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run(
        [sys.executable, __file__, "--worker", setting, "--short", str(short),
         "--long", str(long), "--streams", str(count)],
        env=env, check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    per_short, per_long = float(out[0]), float(out[1])
    per_chunk = (per_long - per_short) / (long - short)
    per_call = per_short - short * per_chunk
    return per_chunk, per_call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-src", type=Path, default=HERE.parent)
    parser.add_argument("--streams", type=int, default=400)
    parser.add_argument("--short", type=int, default=10, help="chunks per short stream")
    parser.add_argument("--long", type=int, default=200, help="chunks per long stream")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--worker", choices=SETTINGS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker, args.short, args.long, args.streams)
        return
    best: dict[str, tuple[float, float]] = {}
    for _ in range(args.repeat):
        for setting in SETTINGS:  # interleaved, so drift hits every setting
            src = args.baseline_src if setting == "baseline" else HERE.parent
            chunk, call = _run(setting, src, args.short, args.long, args.streams)
            old = best.get(setting)
            best[setting] = (
                (chunk, call)
                if old is None
                else (min(old[0], chunk), min(old[1], call))
            )
    base_chunk = best["baseline"][0]
    print(f"{'setting':<9} {'per chunk':>10} {'vs baseline':>12} {'per call':>10}")
    for setting in SETTINGS:
        chunk, call = best[setting]
        change = (chunk / base_chunk - 1) * 100
        print(
            f"{setting:<9} {chunk * 1e9:>8.0f}ns {change:>+11.1f}% {call * 1e6:>8.1f}µs"
        )


if __name__ == "__main__":
    main()
