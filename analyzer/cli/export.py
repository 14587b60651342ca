"""`wstape export`: a capture's frames, or the events read from them, as JSON lines, CSV or
Parquet."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import IO

import click

from wstape.analyzer.cli.common import InputError, input_errors, profile_option, warn
from wstape.analyzer.export.formats import (
    FORMATS,
    ExportError,
    write_csv,
    write_events,
    write_jsonl,
    write_parquet,
)
from wstape.analyzer.profile import ProfileError, load_profile
from wstape.analyzer.sources.reading import read_messages
from wstape.recorder.private import open_private


@click.command()
@click.argument("path", type=click.Path(path_type=str))
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="jsonl", show_default=True,
    help="jsonl: one JSON object per line; csv: a header row, then one row each; parquet: "
    "typed columns (needs pyarrow).",
)  # fmt: skip
@click.option(
    "--events", is_flag=True,
    help="Export the events table (what wstape.load returns: type, canonical kind, ids, "
    "failed, text) instead of the frames with their payloads.",
)  # fmt: skip
@click.option(
    "--runs", is_flag=True,
    help="Export the runs table instead (what wstape.load_runs returns: a row per judged run, "
    "its status, codes, first event, first text, longest silence, ...).",
)  # fmt: skip
@profile_option(" (for --events and --runs)")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, writable=True, allow_dash=True),
    default="-", help="Write here instead of standard output.",
)  # fmt: skip
def export(path: str, fmt: str, events: bool, runs: bool, profile: str | None, output: str) -> None:
    """Write every recorded message of PATH: a wstape capture folder or segment, a
    mitmproxy flow file or a HAR file, in capture order.

    Frames have the columns connection, ts, direction ("client"|"server"), kind
    ("text"|"binary"), text, size and data: binary payloads (and text that is not
    valid UTF-8) are in data, base64 in JSON lines and CSV, raw bytes in Parquet.
    With --events, the columns of wstape.load instead, and with --runs those of
    wstape.load_runs, one row per judged run; their Parquet files read back
    with pandas.read_parquet as the same typed DataFrames.

    \b
    Examples:
      wstape export captures/today | head
      wstape export captures/today -o frames.jsonl
      wstape export captures/today | jq -r 'select(.direction=="server") | .text'
      wstape export flows.mitm --format csv -o frames.csv
      wstape export session.har --events --format parquet -o events.parquet
      wstape export captures/today --runs --format csv -o runs.csv
    """
    if events and runs:
        raise click.UsageError("--events and --runs are two different tables: give one")
    if fmt == "parquet" and output == "-" and sys.stdout.isatty():
        raise click.UsageError("Parquet is binary: give -o FILE, or pipe standard output")
    with input_errors():
        try:
            count = _export(path, fmt, "runs" if runs else "events" if events else "frames",
                            profile, output)  # fmt: skip
        except (ExportError, ProfileError) as exc:
            raise InputError(str(exc)) from None
    if output != "-":
        table = "runs" if runs else "events" if events else "frames"
        click.echo(f"{count} {table} written to {output}", err=True)


def _export(path: str, fmt: str, table: str, profile: str | None, output: str) -> int:
    with _opened(output, binary=fmt == "parquet") as out:
        if table == "runs":
            from wstape.analyzer.export.runs import load_runs

            return write_events(load_runs(path, profile, warn=warn), fmt, out)
        if table == "events":
            from wstape.analyzer.export.frames import load

            frame = load(path, load_profile(profile) if profile else None, warn=warn)
            return write_events(frame, fmt, out)
        messages = read_messages(path, warn=warn)
        writer = {"jsonl": write_jsonl, "csv": write_csv, "parquet": write_parquet}[fmt]
        return writer(messages, out)


@contextlib.contextmanager
def _opened(output: str, binary: bool) -> Iterator[IO]:
    if output == "-":
        yield sys.stdout.buffer if binary else sys.stdout
        return
    opened = (
        open_private(output, "wb") if binary
        else open_private(output, "w", encoding="utf-8", newline="")
    )  # fmt: skip
    with opened as out:
        yield out
