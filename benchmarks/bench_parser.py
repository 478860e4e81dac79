"""The SSE parser alone, in process: microseconds per completion chunk.

``python benchmarks/bench_parser.py [--quick] [--json]``. A ~20 MB stream of
realistic ~250-byte legacy-completion events (the same bytes the benchmark server
sends) is cut into random 1-16 KiB pieces, and each decoder is fed those pieces as
a network read would hand them over:

* ``orq_async`` :meth:`orq_async.SSEDecoder.feed_data` (what the client's streams
  use: each message event as its data bytes), parse only, and parse + typed
  decode with the package's ``CHUNK_DECODER`` (msgspec);
* ``naive``: ``buf.split(b"\\n\\n")`` + slice + the same msgspec decode, the floor
  (not spec-compliant: no CR line ends, no multi-line data, no comments, no BOM);
* ``openai``: ``openai._streaming.SSEDecoder.iter_bytes`` (its CR/LF/CRLF line
  splitter + field decoder), parse only and + the same msgspec decode of ``.data``;
* ``httpx-sse``: what ``EventSource.aiter_sse`` does over ``aiter_text``: an
  incremental UTF-8 decoder, ``_decoders.SSELineDecoder``, ``SSEDecoder.decode``
  per line; parse only and + the same msgspec decode.

Also the single-event read (one ``data: {...}\\n\\n`` per feed, the common case
with a real model) for ``orq_async`` and the naive split.
"""

from __future__ import annotations

import argparse
import codecs
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from server import chunk_payload, sse_frame

from orq_async._codec import CHUNK_DECODER
from orq_async._sse import SSEDecoder

decode = CHUNK_DECODER.decode


def build_stream(size: int) -> tuple[bytes, int]:
    frames = [sse_frame(chunk_payload(i, 100)) for i in range(100)]
    block = b"".join(frames)
    reps = max(1, size // len(block))
    return block * reps, reps * 100


def cut(stream: bytes, seed: int = 1234) -> list[bytes]:
    rng = random.Random(seed)
    pieces: list[bytes] = []
    pos = 0
    while pos < len(stream):
        step = rng.randint(1024, 16 * 1024)
        pieces.append(stream[pos : pos + step])
        pos += step
    return pieces


# --- the contenders: each returns the number of events it produced -------------


def orq_parse(pieces: list[bytes]) -> int:
    d = SSEDecoder()
    feed = d.feed_data
    n = 0
    for p in pieces:
        n += len(feed(p))
    return n


def orq_parse_decode(pieces: list[bytes]) -> int:
    d = SSEDecoder()
    feed = d.feed_data
    n = 0
    for p in pieces:
        for item in feed(p):
            if type(item) is bytes:  # a message event's data
                decode(item)
                n += 1
    return n


def naive_split(pieces: list[bytes]) -> int:
    n = 0
    buf = b""
    for p in pieces:
        buf += p
        *blocks, buf = buf.split(b"\n\n")
        n += len(blocks)
    return n


def naive_split_decode(pieces: list[bytes]) -> int:
    n = 0
    buf = b""
    for p in pieces:
        buf += p
        *blocks, buf = buf.split(b"\n\n")
        for block in blocks:
            if block.startswith(b"data: "):
                decode(block[6:])
                n += 1
    return n


def openai_parse(pieces: list[bytes]) -> int:
    from openai._streaming import SSEDecoder as OpenAIDecoder

    return sum(1 for _ in OpenAIDecoder().iter_bytes(iter(pieces)))


def openai_parse_decode(pieces: list[bytes]) -> int:
    from openai._streaming import SSEDecoder as OpenAIDecoder

    n = 0
    for sse in OpenAIDecoder().iter_bytes(iter(pieces)):
        decode(sse.data)
        n += 1
    return n


def _httpx_sse_events(pieces: list[bytes]):  # type: ignore[no-untyped-def]
    from httpx_sse._decoders import SSEDecoder as HDecoder
    from httpx_sse._decoders import SSELineDecoder

    text_decoder = codecs.getincrementaldecoder("utf-8")()  # httpx's aiter_text
    lines = SSELineDecoder()
    events = HDecoder()
    for p in pieces:
        for line in lines.decode(text_decoder.decode(p)):
            sse = events.decode(line.rstrip("\n"))
            if sse is not None:
                yield sse


def httpx_sse_parse(pieces: list[bytes]) -> int:
    return sum(1 for _ in _httpx_sse_events(pieces))


def httpx_sse_parse_decode(pieces: list[bytes]) -> int:
    n = 0
    for sse in _httpx_sse_events(pieces):
        decode(sse.data)
        n += 1
    return n


CONTENDERS: dict[str, Callable[[list[bytes]], int]] = {
    "orq_async parse": orq_parse,
    "orq_async parse+msgspec": orq_parse_decode,
    "naive split": naive_split,
    "naive split+msgspec": naive_split_decode,
    "openai parse": openai_parse,
    "openai parse+msgspec": openai_parse_decode,
    "httpx-sse parse": httpx_sse_parse,
    "httpx-sse parse+msgspec": httpx_sse_parse_decode,
}


def best_of(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def single_event(number: int) -> dict[str, float]:
    """One event per feed, on a decoder that already started (the common read)."""
    frame = sse_frame(chunk_payload(3, 100))
    d = SSEDecoder()
    d.feed_data(frame)
    feed = d.feed_data
    out: dict[str, float] = {}

    def orq() -> None:
        for _ in range(number):
            for item in feed(frame):
                if type(item) is bytes:
                    decode(item)

    def naive() -> None:
        for _ in range(number):
            for block in frame.split(b"\n\n"):
                if block.startswith(b"data: "):
                    decode(block[6:])

    out["orq_async parse+msgspec"] = best_of(orq, 5) / number * 1e6
    out["naive split+msgspec"] = best_of(naive, 5) / number * 1e6
    return out


def run(quick: bool = False) -> dict[str, object]:
    size = 5_000_000 if quick else 20_000_000
    stream, count = build_stream(size)
    pieces = cut(stream)
    results: dict[str, float] = {}
    for name, fn in CONTENDERS.items():
        got = fn(pieces)
        if got != count:
            raise RuntimeError(f"{name}: {got} events, expected {count}")
        seconds = best_of(lambda fn=fn: fn(pieces), 2 if quick else 3)
        results[name] = seconds / count * 1e6
    return {
        "bytes": len(stream),
        "events": count,
        "reads": len(pieces),
        "us_per_chunk": results,
        "single_event_us": single_event(50_000 if quick else 200_000),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 5 MB stream")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    res = run(args.quick)
    if args.json:
        sys.stdout.write(json.dumps(res) + "\n")
        return
    print(
        f"{res['bytes'] / 1e6:.1f} MB, {res['events']} events, "
        f"{res['reads']} reads of 1-16 KiB"
    )
    per = res["us_per_chunk"]
    assert isinstance(per, dict)
    floor = per["naive split+msgspec"]
    for name, us in per.items():
        print(f"  {name:26s} {us:7.3f} us/chunk  {us / floor:6.2f}x naive+msgspec")
    single = res["single_event_us"]
    assert isinstance(single, dict)
    print("one event per feed:")
    for name, us in single.items():
        print(f"  {name:26s} {us:7.3f} us/chunk")


if __name__ == "__main__":
    main()
