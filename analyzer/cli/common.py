"""What every subcommand shares: exit codes, one-line errors, warnings on stderr."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import click

from wstape.recorder.capture import CaptureError

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


_POSITIVE = click.FloatRange(min=0, min_open=True)
_TARGETS = (
    ("--max-first-event-s", "Fail a run whose first event comes later than S seconds after the "
     "user's message (default 2, or the profile's)."),
    ("--max-tool-s", "Fail a run with a tool that runs longer than S seconds (default 10)."),
    ("--max-total-s", "Fail a run that takes longer than S seconds in all (default 30)."),
)  # fmt: skip


def target_options(command: Callable) -> Callable:
    """--max-first-event-s, --max-tool-s, --max-total-s: the timing targets a run is judged
    by, the same options in every command that judges runs."""
    for name, help_text in reversed(_TARGETS):  # click lists options in decoration order
        command = click.option(name, type=_POSITIVE, metavar="S", help=help_text)(command)
    return command


def require_option(command: Callable) -> Callable:
    """--require EVENT (repeatable): one more event a completed run must carry, the same option
    in every command that judges runs."""
    return click.option(
        "--require",
        multiple=True,
        metavar="EVENT",
        help="Fail a completed run that lacks this event: a canonical kind or any event type "
        "the backend sends (repeatable; adds to the profile's `required`).",
    )(command)
