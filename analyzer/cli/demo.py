"""`wstape demo`: record a few users chatting with the demo backend, then report."""

from __future__ import annotations

import time
from pathlib import Path

import click

from wstape.analyzer.api import analyze
from wstape.analyzer.cli.common import InputError, warn

# Scenarios in which the demo backend behaves; every other one plays a bug.
HEALTHY = {"good", "tool_error", "reconnect", "run_error"}


@click.command()
@click.option(
    "--out",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Capture folder (default: captures/demo-<time>).",
)
@click.option(
    "--scenario",
    "scenarios",
    multiple=True,
    help="One user per scenario (repeatable): good, tool_error, slow_tool, slow_first, "
    "missing_event, unpaired_tool, late_event, no_completion, drop, leak, reconnect, silent "
    "(16 s without an event).",
)
@click.option(
    "--protocol",
    type=click.Choice(["wstape-json", "ag-ui"]),
    default="wstape-json",
    help="What the demo agent speaks: wstape's own JSON, or AG-UI (needs wstape[ag-ui]); AG-UI "
    "scenarios: good, missing_start, unpaired_tool, slow_first, run_error, late_event, "
    "no_completion.",
)
def demo(out: Path | None, scenarios: tuple[str, ...], protocol: str) -> None:
    """Start the demo backend and the recorder, play a few concurrent users through
    them, stop cleanly, and print where the capture is and what it shows.

    Some demo users are meant to fail (a missing event, an event after completion)
    so the report has something to show; the command exits 0 when the demo ran,
    whatever the verdicts.

    \b
    Examples:
      wstape demo
      wstape demo --scenario good --scenario leak --scenario good -o captures/leak
      wstape demo --protocol ag-ui
    """
    from wstape.demo.session import DEMO_SCENARIOS, run_demo

    out = out or Path("captures") / time.strftime("demo-%Y%m%d-%H%M%S")
    scenarios = scenarios or DEMO_SCENARIOS[protocol]
    click.echo(f"wstape demo: backend + recorder + {len(scenarios)} users …")
    try:
        result = run_demo(out, scenarios, protocol=protocol)
    except (RuntimeError, OSError) as exc:
        raise InputError(f"demo failed: {exc}") from None
    for transcript, scenario in zip(result.transcripts, scenarios, strict=True):
        frames = sum(len(conn) for conn in transcript.connections)
        click.echo(
            f"  {transcript.user_id} ({scenario}): {frames} frames over "
            f"{len(transcript.connections)} connection(s)"
        )
    click.echo(f"capture: {result.out} ({result.frames_recorded} frames recorded)")
    broken = [s for s in scenarios if s not in HEALTHY]
    if broken:
        click.echo(f"these play a broken backend on purpose and should fail: {', '.join(broken)}")
    click.echo()
    report = analyze([result.out], warn=warn)
    click.echo(report.text(runs=False))
    click.echo(f"every run in full: wstape analyze {result.out}")
    click.echo(f"every frame:       wstape export {result.out} | head")
