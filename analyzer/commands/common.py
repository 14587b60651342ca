"""What every subcommand shares: exit codes, one-line errors, warnings on stderr."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click

from recorder.capture import CaptureError

EXIT_OK = 0
EXIT_FAILED = 1  # a verdict failed or a regression was found
EXIT_BAD_INPUT = 2  # bad usage or unreadable input, as pytest and click use it


class InputError(click.ClickException):
    """Unreadable input: one line naming the file and what is wrong, exit 2."""

    exit_code = EXIT_BAD_INPUT


@contextlib.contextmanager
def input_errors() -> Iterator[None]:
    """Turns reader errors into one line on stderr and exit code 2, never a traceback."""
    try:
        yield
    except CaptureError as exc:
        raise InputError(str(exc)) from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        raise InputError(f"{where}{exc.strerror or exc}") from None


def warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)
