"""Chat stream accumulation alone, in process: microseconds per chunk.

``python benchmarks/bench_chat_accumulator.py [--quick] [--json]``. The chunks
of the benchmark server's two chat streams (:func:`server.chat_payloads`, with
``include_usage``) are decoded once with the package's ``CHAT_CHUNK_DECODER``;
then only the accumulation is timed, stream after stream:

* ``add``: :meth:`ChatCompletionAccumulator.add` for every chunk of a stream, on
  a fresh accumulator (what ``final_completion()`` does per chunk);
* ``add+result``: the same plus :meth:`~ChatCompletionAccumulator.result` once
  per stream (the assembled ``ChatCompletion``), spread over its chunks;
* ``openai handle_chunk`` (contrast): ``openai``'s
  ``ChatCompletionStreamState.handle_chunk`` over the same chunks as openai's
  pydantic models, then ``get_final_completion()``, as ``AsyncOpenAI``'s
  ``chat.completions.stream()`` helper does.

Streams: ``content``, a role chunk, 100 content deltas, a finish chunk and a
usage-only chunk (103 chunks); ``tool_call``, one tool call whose arguments
arrive over 50 chunks, with the same three around them (53 chunks). CPU time is
``time.process_time``, the best of several repeats.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from server import chat_payloads

from orq_async._chat_codec import CHAT_CHUNK_DECODER, ChatCompletionAccumulator

#: stream name -> (deltas or argument pieces, tool call?)
STREAMS = {"content": (100, False), "tool_call": (50, True)}
#: The issue's target for ``add`` per chunk.
TARGET_US = 0.5


def best_of(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def _orq(chunks: list[Any], streams: int, result: bool) -> Callable[[], object]:
    def run() -> None:
        for _ in range(streams):
            acc = ChatCompletionAccumulator()
            add = acc.add
            for chunk in chunks:
                add(chunk)
            if result:
                acc.result()

    return run


def _openai(payloads: list[bytes], streams: int) -> Callable[[], object]:
    from openai.lib.streaming.chat._completions import ChatCompletionStreamState
    from openai.types.chat import ChatCompletionChunk

    chunks = [ChatCompletionChunk.model_validate_json(p) for p in payloads]

    def run() -> None:
        for _ in range(streams):
            state: Any = ChatCompletionStreamState()
            for chunk in chunks:
                state.handle_chunk(chunk)
            state.get_final_completion()

    return run


def run(quick: bool = False) -> dict[str, Any]:
    """Per stream kind: µs per chunk of each contender, and the chunk count."""
    streams = 500 if quick else 3000
    repeat = 3 if quick else 7
    out: dict[str, Any] = {}
    for name, (deltas, tool) in STREAMS.items():
        payloads = chat_payloads(deltas, tool, usage=True)
        chunks = [CHAT_CHUNK_DECODER.decode(p) for p in payloads]
        acc = ChatCompletionAccumulator()
        for chunk in chunks:
            acc.add(chunk)
        if not acc.complete or acc.result().usage is None:
            raise RuntimeError(f"{name}: the accumulated completion is not complete")
        per = len(chunks) * streams
        us = {
            "add": best_of(_orq(chunks, streams, False), repeat) / per * 1e6,
            "add+result": best_of(_orq(chunks, streams, True), repeat) / per * 1e6,
        }
        few = max(1, streams // 20)  # openai's is ~100x slower
        us["openai handle_chunk"] = (
            best_of(_openai(payloads, few), repeat) / (len(chunks) * few) * 1e6
        )
        out[name] = {"chunks": len(chunks), "us_per_chunk": us}
    return {"streams": out, "target_us": TARGET_US}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter runs")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    res = run(args.quick)
    if args.json:
        sys.stdout.write(json.dumps(res) + "\n")
        return
    for name, r in res["streams"].items():
        print(f"{name} stream, {r['chunks']} chunks  [µs CPU/chunk]")
        for contender, us in r["us_per_chunk"].items():
            print(f"  {contender:22s} {us:8.3f}")
    print(f"target: add <= {res['target_us']} µs/chunk")


if __name__ == "__main__":
    main()
