"""Per-chunk CPU cost of :class:`orq_async._sse.SSEDecoder` against a naive splitter.

A script, not a test: ``python benchmarks/bench_sse.py``. It times, per completion
chunk (a realistic ~250-byte legacy-completion JSON):

* ``feed`` of one single-event chunk at a time (the common network read);
* parse only, and parse + typed ``msgspec`` decode, over a ~20 MB stream fed in
  random 1-16 KiB pieces;
* the naive baseline: ``buf.split(b"\\n\\n")`` + slice + the same msgspec decode.
"""

from __future__ import annotations

import random
import timeit
from collections.abc import Callable

import msgspec

from orq_async._sse import SSEDecoder


class Choice(msgspec.Struct):
    text: str
    index: int
    logprobs: None
    finish_reason: str | None


class CompletionChunk(msgspec.Struct):
    # Declares only what a client reads; unknown keys are skipped.
    id: str
    object: str
    created: int
    model: str
    choices: list[Choice]


PAYLOAD = (
    b'{"id":"cmpl-8kFq2R4tYxZ0aBcDeFgHiJkLmNoPqRsT","object":"text_completion",'
    b'"created":1735689600,"model":"gpt-3.5-turbo-instruct","choices":[{"text":'
    b'" world","index":0,"logprobs":null,"finish_reason":null}],'
    b'"system_fingerprint":"fp_0123456789ab"}'
)
FRAME = b"data: " + PAYLOAD + b"\n\n"
DECODER = msgspec.json.Decoder(CompletionChunk)


def per_chunk_us(fn: Callable[[], object], number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=7)) / number * 1e6


def main() -> None:
    print(f"frame: {len(FRAME)} bytes, JSON payload {len(PAYLOAD)} bytes")

    # -- one chunk per read --------------------------------------------------
    dec = SSEDecoder()
    feed = dec.feed

    def parse_one() -> None:
        feed(FRAME)

    def parse_decode_one() -> None:
        for ev in feed(FRAME):
            DECODER.decode(ev.data)

    def naive_one() -> None:
        for part in FRAME.split(b"\n\n"):
            if part.startswith(b"data: "):
                DECODER.decode(part[6:])

    def decode_only() -> None:
        DECODER.decode(PAYLOAD)

    n = 200_000
    print("one chunk per feed:")
    print(f"  msgspec decode alone      {per_chunk_us(decode_only, n):6.3f} us/chunk")
    print(f"  SSEDecoder.feed           {per_chunk_us(parse_one, n):6.3f} us/chunk")
    print(
        f"  feed + msgspec decode     {per_chunk_us(parse_decode_one, n):6.3f} us/chunk"
    )
    print(f"  naive split + decode      {per_chunk_us(naive_one, n):6.3f} us/chunk")

    # -- ~20 MB stream in random 1-16 KiB reads -------------------------------
    count = 20_000_000 // len(FRAME)
    stream = FRAME * count
    rng = random.Random(1234)
    pieces: list[bytes] = []
    pos = 0
    while pos < len(stream):
        step = rng.randint(1024, 16 * 1024)
        pieces.append(stream[pos : pos + step])
        pos += step

    def parse_stream() -> None:
        d = SSEDecoder()
        got = 0
        for p in pieces:
            got += len(d.feed(p))
        assert got == count

    def parse_decode_stream() -> None:
        d = SSEDecoder()
        for p in pieces:
            for ev in d.feed(p):
                DECODER.decode(ev.data)

    def naive_stream() -> None:
        # The naive reader: keep the tail, split the rest on blank lines.
        buf = b""
        for p in pieces:
            buf += p
            *blocks, buf = buf.split(b"\n\n")
            for block in blocks:
                if block.startswith(b"data: "):
                    DECODER.decode(block[6:])

    # The same stream framed with CRLF (as e.g. sse-starlette writes it): this takes
    # the decoder's general line machine instead of its LF fast paths.
    crlf_stream = stream.replace(b"\n", b"\r\n")
    crlf_pieces = [crlf_stream[i : i + 8192] for i in range(0, len(crlf_stream), 8192)]

    def parse_crlf_stream() -> None:
        d = SSEDecoder()
        got = 0
        for p in crlf_pieces:
            got += len(d.feed(p))
        assert got == count

    print(f"~20 MB stream ({count} chunks, {len(pieces)} reads of 1-16 KiB):")
    for name, fn in (
        ("SSEDecoder.feed", parse_stream),
        ("feed + msgspec decode", parse_decode_stream),
        ("naive split + decode", naive_stream),
        ("feed, CRLF, 8 KiB reads", parse_crlf_stream),
    ):
        t = min(timeit.repeat(fn, number=1, repeat=3))
        print(f"  {name:24s}  {t / count * 1e6:6.3f} us/chunk  ({t * 1e3:.0f} ms)")


if __name__ == "__main__":
    main()
