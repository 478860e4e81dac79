"""Coverage-guided fuzzing of the SSE parser and the decoders with atheris.

Optional (not collected by pytest; atheris is not a dev dependency). Run::

    pip install atheris
    python tests/reliability/fuzz_atheris.py -max_total_time=60   # 1 minute
    python tests/reliability/fuzz_atheris.py -atheris_runs=200000

Any exception other than orq_async's own typed ones is a crash: libFuzzer stops
and writes the input to ``crash-*`` (replay: ``python ... crash-<hash>``).

One input drives everything: its first bytes choose an event size limit and
cut points, the rest is fed to :class:`SSEDecoder` in those pieces; every data
payload is then decoded the way the stream does it (chunk decoder, then the
error envelope), and the whole input goes through ``decode_completion`` and
``parse_error_body``.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    import msgspec

    from orq_async._codec import CHUNK_DECODER, decode_completion, parse_error_body
    from orq_async._exceptions import ResponseDecodeError, SSEProtocolError
    from orq_async._sse import SSEDecoder

_DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError)


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    limit = fdp.ConsumeIntInRange(1, 1 << 16)
    cuts = sorted(
        fdp.ConsumeIntInRange(0, 4096) for _ in range(fdp.ConsumeIntInRange(0, 6))
    )
    body = fdp.ConsumeBytes(fdp.remaining_bytes())

    decoder = SSEDecoder(max_event_size=limit)
    events = []
    try:
        last = 0
        for cut in [*cuts, len(body)]:
            cut = min(cut, len(body))
            if cut > last:
                events += decoder.feed(body[last:cut])
                last = cut
        events += decoder.end()
    except SSEProtocolError:
        pass
    for event in events:
        assert isinstance(event.data, bytes)
        event.text  # noqa: B018 - must never raise
        try:
            CHUNK_DECODER.decode(event.data)
        except _DECODE_ERRORS:
            parse_error_body(event.data)  # the stream's fallback: never raises

    try:
        decode_completion(body, None)
    except ResponseDecodeError:
        pass
    result = parse_error_body(body)
    assert result is None or hasattr(result, "error")


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
