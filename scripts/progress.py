"""A progress line that updates in place on a terminal and prints sparingly in a CI log."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO


class Progress:
    """`update` often; a terminal sees one line rewritten, a log sees a line now and then.

    Without a TTY a line is printed when the caller forces it, or when the text changed and
    `interval` seconds passed since the last printed line, so a log stays short.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        tty: bool | None = None,
        interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.interval = interval
        self.clock = clock
        self._shown = ""  # the text on the terminal line, or the last line printed
        self._printed_at: float | None = None

    def update(self, text: str, *, force: bool = False) -> None:
        """Show `text` as the current state."""
        if self.tty:
            self._rewrite(text)
        elif text != self._shown and (force or self._due()):
            self._print(text)

    def done(self, text: str) -> None:
        """Show the final state and end the line."""
        if self.tty:
            self._rewrite(text)
            self.stream.write("\n")
            self.stream.flush()
            self._shown = ""
        elif text != self._shown:
            self._print(text)

    def _due(self) -> bool:
        return self._printed_at is None or self.clock() - self._printed_at >= self.interval

    def _rewrite(self, text: str) -> None:
        # Pad with spaces so that a shorter text leaves nothing of the previous one behind.
        padding = " " * max(0, len(self._shown) - len(text))
        self.stream.write(f"\r{text}{padding}")
        self.stream.flush()
        self._shown = text

    def _print(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
        self._shown = text
        self._printed_at = self.clock()
