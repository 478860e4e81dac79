"""What a completion command prints: the text, the choice labels, the stats.

Text goes to stdout; the stats line and notes go to stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO

from ._terminal import LiveLine, is_terminal, style, wants_colour

#: Seconds between redraws of the live stats line.
LIVE_INTERVAL = 0.1


class Stats:
    """The numbers of one call, and the stats lines made from them."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.first: float | None = None
        self.chunks = 0
        self.tokens: int | None = None  # from usage, when the answer has it
        self.request_id: str | None = None

    def chunk(self) -> None:
        if self.first is None:
            self.first = time.perf_counter() - self.started
        self.chunks += 1

    def _counts(self) -> tuple[int, float, float]:
        tokens = self.tokens if self.tokens is not None else self.chunks
        elapsed = time.perf_counter() - self.started
        return tokens, elapsed, tokens / elapsed if elapsed > 0 else 0.0

    def live(self) -> str:
        tokens, elapsed, rate = self._counts()
        unit = "token" if tokens == 1 else "tokens"
        return f"[orq-async] {tokens} {unit}, {elapsed:.1f} s, {rate:.1f} tok/s"

    def final(self) -> str:
        tokens, elapsed, rate = self._counts()
        first = f"{self.first * 1000:.1f} ms" if self.first is not None else "n/a"
        return (
            f"[orq-async] first token {first}, {tokens} tokens in {elapsed:.3f} s "
            f"({rate:.1f} tok/s), request id {self.request_id or 'n/a'}"
        )


class Output:
    """Where the text, the choices and the stats go, and how they look."""

    def __init__(self, args: argparse.Namespace, *, stats: bool) -> None:
        self.out: TextIO = sys.stdout
        self.err: TextIO = sys.stderr
        self.json: bool = args.json
        self.choices: int = args.choices or 1
        self.colour_out = wants_colour(self.out)
        self.colour_err = wants_colour(self.err)
        self.live: LiveLine | None = None
        if stats and not args.no_stream and is_terminal(self.err):
            self.live = LiveLine(
                self.err, under_text=is_terminal(self.out), colour=self.colour_err
            )
        self._status = ""
        self._next_status = 0.0

    def label(self, index: int) -> str:
        return style(f"[choice {index + 1} of {self.choices}]", "1", self.colour_out)

    def note(self, line: str) -> None:
        self.err.write(style(line, "2", self.colour_err) + "\n")

    def streamed(self, text: str, stats: Stats) -> None:
        """Write a streamed piece of text, with the live stats line under it."""
        live = self.live
        if live is not None:
            live.before_text()
        self.out.write(text)
        self.out.flush()
        if live is not None:
            live.after_text(text)
            if time.perf_counter() >= self._next_status:
                self._status = stats.live()
                self._next_status = time.perf_counter() + LIVE_INTERVAL
            live.show(self._status)

    def stream_ended(self) -> None:
        """Take the live stats line away and end the streamed text's line."""
        if self.live is not None:
            self.live.clear()
        if not self.json:
            self.out.write("\n")
