"""`wstape watch`: a verdict per chat run as soon as the run is judged, from a capture that is
still being written (`--follow`, like `tail -f`) or a finished one; `wstape record --live` prints
the same beside the recorder."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import IO

import click

from wstape.analyzer.cli.common import (
    EXIT_FAILED,
    InputError,
    given_targets,
    input_errors,
    profile_option,
    target_options,
    warn,
)
from wstape.analyzer.live import LiveVerdict, live_json, live_line, summary_line, watch
from wstape.analyzer.profile import ProfileError
from wstape.analyzer.reports.report import Report
from wstape.analyzer.reports.text import render_summary


class LiveOutput:
    """Where live verdicts go: a line each to `echo`, and a JSON line each to `json_lines`
    (flushed at once, for a reader that follows it); at the end, the summary to both."""

    def __init__(self, echo: Callable[[str], None], json_lines: IO[str] | None = None) -> None:
        self._echo = echo
        self._json = json_lines

    def verdict(self, said: LiveVerdict) -> None:
        self._echo(live_line(said))
        self._write(live_json(said))

    def summary(self, report: Report) -> None:
        self._echo(render_summary(report))
        self._write(summary_line(report))

    def _write(self, obj: dict) -> None:
        if self._json is not None:
            self._json.write(json.dumps(obj, ensure_ascii=False) + "\n")
            self._json.flush()


@contextlib.contextmanager
def json_lines_file(path: str | None) -> Iterator[IO[str] | None]:
    if path is None:
        yield None
        return
    try:
        out = open(path, "w", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from None
    with out:
        yield out


def stop_on_signals(stop: threading.Event) -> None:
    """Ctrl-C and SIGTERM end a follow cleanly: the rest is read and the summary printed."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())


def _stop_when_gone(pid: int, stop: threading.Event) -> None:
    """Sets `stop` once process `pid` has ended, as `tail --pid` does."""

    def poll() -> None:
        while not stop.wait(0.2):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                stop.set()
            except PermissionError:
                pass  # it exists, as another user's

    threading.Thread(target=poll, daemon=True).start()


@click.command(name="watch")
@click.argument("path", type=click.Path(path_type=str))
@click.option(
    "-f", "--follow", is_flag=True,
    help="Follow a capture as it is written, like tail -f, until Ctrl-C (or --pid ends).",
)  # fmt: skip
@click.option(
    "--pid", type=click.IntRange(min=1), metavar="PID",
    help="With --follow: stop once process PID (the recorder, say) has ended, as tail --pid.",
)  # fmt: skip
@click.option(
    "--json-lines", type=click.Path(dir_okay=False, path_type=str), metavar="FILE",
    help="Also write each verdict, and the summary at the end, as a JSON line to FILE.",
)  # fmt: skip
@profile_option(", and the targets")
@target_options
def watch_command(
    path: str,
    follow: bool,
    pid: int | None,
    json_lines: str | None,
    profile: str | None,
) -> None:
    """Print a verdict per chat run of the capture at PATH as soon as the run is judged.

    A run is judged at its terminal event, or when its whole-run target runs out
    without one; a later event that changes its verdict (one after the end fails
    `order`) prints a correction. Each line: the time, the user, the run, passed or
    failed with its codes, the first-event latency. Then the summary, the same as
    `wstape analyze -q` prints. Exit 0 when every run passed, 1 when any failed (or
    no run was found), 2 when the capture or the profile cannot be read.

    \b
    Examples:
      wstape watch captures/today --follow
      wstape watch captures/today -f --json-lines verdicts.jsonl --max-first-event-s 1
      wstape record --out captures/today & wstape watch captures/today -f --pid $!
      wstape watch captures/yesterday        # what `record --live` would have printed
    """
    if pid is not None and not follow:
        raise click.UsageError("--pid goes with --follow")
    stop = threading.Event()
    if follow:
        stop_on_signals(stop)
    if pid is not None:
        _stop_when_gone(pid, stop)
    with input_errors(), json_lines_file(json_lines) as out:
        live = LiveOutput(click.echo, out)
        try:
            report = watch(path, profile, live.verdict, follow, stop, warn, **given_targets())
        except ProfileError as exc:
            raise InputError(str(exc)) from None
        live.summary(report)
    if not report.passed:
        click.get_current_context().exit(EXIT_FAILED)
