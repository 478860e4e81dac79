"""The terminal: colour, text width, and the live stats line.

Colour appears only on a terminal, and never when ``NO_COLOR`` is set
(https://no-color.org) or ``TERM=dumb``.
"""

from __future__ import annotations

import os
import unicodedata
from typing import TextIO


def is_terminal(stream: TextIO | None) -> bool:
    return stream is not None and stream.isatty()


def wants_colour(stream: TextIO) -> bool:
    return (
        is_terminal(stream)
        and not os.environ.get("NO_COLOR")
        and os.environ.get("TERM") != "dumb"
    )


def style(text: str, code: str, on: bool) -> str:
    """``text`` in an SGR style (``2`` dim, ``1`` bold, ``31`` red) when ``on``."""
    return f"\x1b[{code}m{text}\x1b[0m" if on else text


def width(text: str) -> int:
    """Terminal columns ``text`` takes (wide East Asian characters count 2)."""
    return sum(
        0
        if unicodedata.combining(ch) or not ch.isprintable()
        else 2
        if unicodedata.east_asian_width(ch) in "WF"
        else 1
        for ch in text
    )


class LiveLine:
    """A stats line on stderr that is redrawn in place while text streams.

    When stdout is on the same terminal, the line sits under the streamed text:
    it is erased before each piece of text and drawn again after it, the cursor
    going back to the end of the text in between.
    """

    def __init__(self, err: TextIO, *, under_text: bool, colour: bool) -> None:
        self._err = err
        self._under_text = under_text
        self._colour = colour
        try:
            self._columns = os.get_terminal_size(err.fileno()).columns or 80
        except (OSError, ValueError):
            self._columns = 80
        self._column = 0  # where the streamed text's last line ends
        self._shown = False

    def before_text(self) -> None:
        if self._shown and self._under_text:
            column = self._column % self._columns + 1
            self._err.write(f"\r\x1b[K\x1b[1A\x1b[{column}G")
            self._err.flush()
            self._shown = False

    def after_text(self, text: str) -> None:
        tail = text.rsplit("\n", 1)
        self._column = width(tail[-1]) + (self._column if len(tail) == 1 else 0)

    def show(self, status: str) -> None:
        status = style(status[: self._columns - 1], "2", self._colour)
        if not self._under_text:
            self._err.write(f"\r\x1b[K{status}")
        elif self._column and self._column % self._columns == 0:
            return  # the cursor waits to wrap: moving it would lose a character
        else:
            self._err.write(f"\n{status}")
            self._shown = True
        self._err.flush()

    def clear(self) -> None:
        if self._under_text:
            self.before_text()
        else:
            self._err.write("\r\x1b[K")
            self._err.flush()
