"""Standard output as cat and jq treat it: when its reader goes away (`wstape analyze CAP | head`),
the rest of the output is dropped quietly and the command goes on, so the files it was asked to
write are written in full and its exit code is still the verdict's."""

from __future__ import annotations

import os
import sys
from typing import IO, Any


class _Reader:
    """Whether stdout's reader is still there; shared by the text stream and its buffer."""

    def __init__(self, stream: IO) -> None:
        self.gone = False
        self._stream = stream

    def left(self) -> None:
        self.gone = True
        # Python flushes what it still holds for stdout at exit: point the descriptor at
        # /dev/null so that flush has somewhere to go instead of raising again.
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self._stream.fileno())
            os.close(null)
        except (OSError, ValueError):
            pass


class _Quiet:
    """A stream whose writes and flushes stop quietly once the reader has left."""

    def __init__(self, stream: IO, reader: _Reader) -> None:
        self._stream = stream
        self._reader = reader

    def write(self, data: Any) -> int:
        if not self._reader.gone:
            try:
                return self._stream.write(data)
            except BrokenPipeError:
                self._reader.left()
        return len(data)

    def flush(self) -> None:
        if not self._reader.gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._reader.left()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class QuietPipe(_Quiet):
    """sys.stdout, and its binary `buffer`, behind _Quiet."""

    def __init__(self, stream: IO) -> None:
        reader = _Reader(stream)
        super().__init__(stream, reader)
        buffer = getattr(stream, "buffer", None)
        self.buffer = _Quiet(buffer, reader) if buffer is not None else None


def quiet_when_reader_leaves() -> None:
    """Puts sys.stdout behind QuietPipe, once."""
    if not isinstance(sys.stdout, QuietPipe) and sys.stdout is not None:
        sys.stdout = QuietPipe(sys.stdout)
