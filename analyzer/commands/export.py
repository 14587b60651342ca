"""`wstape export`: a capture's frames as JSON lines."""

from __future__ import annotations

import sys

import click

from analyzer.commands.common import input_errors, warn
from analyzer.export import write_jsonl
from recorder.capture import read_messages


@click.command()
@click.argument("path", type=click.Path(path_type=str))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl"]),
    default="jsonl",
    show_default=True,
    help="Output format: one JSON object per recorded message, in capture order.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, allow_dash=True),
    default="-",
    help="Write here instead of standard output.",
)
def export(path: str, fmt: str, output: str) -> None:
    """Write every recorded message of PATH (a capture folder or segment file).

    Each line is {"connection", "ts", "direction": "client"|"server",
    "kind": "text"|"binary", "text", "size"}, with binary payloads (and text
    that is not valid UTF-8) base64-encoded in "data".

    \b
    Examples:
      wstape export captures/today | head
      wstape export captures/today -o frames.jsonl
      wstape export captures/today | jq -r 'select(.direction=="server") | .text'
    """
    with input_errors():
        messages = read_messages(path, warn=warn)
        if output == "-":
            write_jsonl(messages, sys.stdout)
        else:
            with open(output, "w", encoding="utf-8") as out:
                count = write_jsonl(messages, out)
            click.echo(f"{count} frames written to {output}", err=True)
