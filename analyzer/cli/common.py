"""What every subcommand shares: exit codes, one-line errors, warnings on stderr."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import click

from wstape.analyzer.reports.visible import visible
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
    click.echo(f"warning: {visible(message)}", err=True)


_POSITIVE = click.FloatRange(min=0, min_open=True)
_TARGETS = (
    ("--max-first-event-s", "Fail a run whose first event comes later than S seconds after the "
     "user's message (default 2, or the profile's)."),
    ("--max-tool-s", "Fail a run with a tool that runs longer than S seconds (default 10)."),
    ("--max-total-s", "Fail a run that takes longer than S seconds in all (default 30)."),
    ("--max-silence-s", "Fail a run that leaves its user more than S seconds without an event, "
     "time inside a running tool call left out (default 15): long_silence."),
    ("--max-first-text-s", "Fail a run whose first text (a partial result) comes later than S "
     "seconds after the user's message: slow_first_text (no target by default)."),
)  # fmt: skip
_GIVEN = "wstape.targets"  # where the options leave their values, in the click context's meta


def target_options(command: Callable) -> Callable:
    """The --max-* options: the timing targets a run is judged by, the same options in every
    command that judges runs; the command reads them with `given_targets()`."""
    for name, help_text in reversed(_TARGETS):  # click lists options in decoration order
        option = click.option(
            name, type=_POSITIVE, metavar="S", help=help_text, expose_value=False,
            callback=_keep_target,
        )  # fmt: skip
        command = option(command)
    return command


def _keep_target(ctx: click.Context, param: click.Parameter, value: float | None) -> None:
    ctx.meta.setdefault(_GIVEN, {})[param.name] = value


def given_targets() -> dict[str, float | None]:
    """The targets given on the command line, by Targets field name; None where not given."""
    return dict(click.get_current_context().meta.get(_GIVEN, {}))


def profile_option(used_for: str = "", sniffed: bool = True) -> Callable:
    """--profile NAME|FILE, the same option in every command that reads events: a built-in
    profile by name or a TOML file; `used_for` says what the command takes from it."""
    without = " Without it, the protocol is told from the first frames." if sniffed else ""
    return click.option(
        "--profile",
        metavar="NAME|FILE",
        help="A built-in profile (`wstape profiles` lists them) or a TOML file: the backend's "
        f"protocol, field and event names{used_for}.{without}",
    )


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
