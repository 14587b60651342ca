"""`wstape analyze`: a verdict per chat run of one or more captures, as text, JSON and JUnit."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import click

from wstape.analyzer.api import analyze as analyze_captures
from wstape.analyzer.api import resolve_profile
from wstape.analyzer.cli.common import (
    EXIT_FAILED,
    InputError,
    given_targets,
    input_errors,
    profile_option,
    require_option,
    target_options,
    warn,
)
from wstape.analyzer.cli.compare import plot_path
from wstape.analyzer.cli.split import Split, resolve, split_options
from wstape.analyzer.parallel import ClusterError
from wstape.analyzer.pipeline.verdicts import Verdict
from wstape.analyzer.profile import ProfileError
from wstape.analyzer.progress import tracked_paths
from wstape.analyzer.reports.junit import junit_xml
from wstape.analyzer.reports.report import Report, merge
from wstape.analyzer.reports.text import render_run, render_summary
from wstape.recorder.private import open_private


@click.command("analyze")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@profile_option(", and the targets")
@target_options
@require_option
@click.option(
    "--json", "json_out", type=click.Path(dir_okay=False, allow_dash=True, path_type=str),
    metavar="FILE", help="Also write the versioned JSON report here; '-' prints only JSON.",
)  # fmt: skip
@click.option(
    "--junit", type=click.Path(dir_okay=False, path_type=str), metavar="FILE",
    help="Also write JUnit XML here: one test case per run, for CI.",
)  # fmt: skip
@click.option(
    "--plot", type=click.Path(dir_okay=False, path_type=str), metavar="FILE", callback=plot_path,
    help="Write run timelines (failed first) and the distributions of first-event latency, "
    "tool and total durations with their targets (.png or .svg).",
)  # fmt: skip
@click.option(
    "--html", type=click.Path(dir_okay=False, path_type=str), metavar="FILE",
    help="Write one self-contained HTML report: summary, plots, failed runs first, timelines.",
)  # fmt: skip
@click.option(
    "--timelines", type=click.IntRange(min=0), default=20, metavar="N",
    help="Runs whose timelines --plot and --html draw, failed first (default 20).",
)  # fmt: skip
@click.option("-q", "--quiet", is_flag=True, help="Print only the summary, not each run's report.")
@split_options
def analyze_command(
    paths: tuple[str, ...],
    profile: str | None,
    require: tuple[str, ...],
    json_out: str | None,
    junit: str | None,
    plot: str | None,
    html: str | None,
    timelines: int,
    quiet: bool,
    workers: int | None,
    dask: str | None,
) -> None:
    """Check that every chat run in the captures at PATH got its seven events.

    PATH is a wstape capture folder or segment, a mitmproxy flow file (mitmdump -w)
    or a HAR file with WebSocket messages, told apart by their content.

    Prints a report per run as each run ends (events seen, timeline, failures),
    then a summary table; warnings go to stderr. Exit 0 when no run failed (a run
    cut short by the end of the recording is not a failure), 1 when any failed (or
    no run was found), 2 when a capture or the profile cannot be read.

    \b
    Examples:
      wstape analyze captures/today
      wstape analyze captures/today --max-first-event-s 1 -q
      wstape analyze captures/a captures/b --json report.json --junit junit.xml
      wstape analyze captures/today --json - | jq '.runs[] | select(.status=="failed")'
      wstape analyze captures/acme --profile analyzer/profiles/example.toml
      wstape analyze captures/today --require agent_progress --require final_summary
      wstape analyze captures/today -q --plot runs.png --html report.html
      wstape analyze flows.mitm session.har
      wstape analyze captures/2026-* -q --workers 8
      wstape analyze captures/2026-* -q --dask tcp://scheduler:8786
    """
    targets = given_targets()
    stream = not quiet and json_out != "-"

    def show(verdict: Verdict) -> None:
        click.echo(render_run(verdict) + "\n")

    with input_errors():
        try:
            # Run reports print as runs end; only JUnit, plots and HTML need timelines kept,
            # and only they and JSON list every run: the summary needs its rows and totals.
            keep = bool(junit or plot or html)
            every = bool(keep or json_out)
            split = resolve(workers, dask, streaming=stream)
            on_verdict = show if stream else None
            report = _read(paths, profile, require, on_verdict, keep, every, targets, split)
        except (ProfileError, ClusterError) as exc:
            raise InputError(str(exc)) from None
        for message in report.warnings:
            warn(message)
        _write(report, json_out, junit)
        _pictures(report, plot, html, timelines)
    if not report.passed:
        click.get_current_context().exit(EXIT_FAILED)


def _read(
    paths: tuple[str, ...],
    profile: str | None,
    require: tuple[str, ...],
    show: Callable[[Verdict], None] | None,
    keep_events: bool,
    keep_verdicts: bool,
    targets: dict,
    split: Split,
) -> Report:
    """Judges each capture in turn, with a progress bar over them on a terminal, unless run
    reports printing there already show the progress."""
    # Without --profile, each capture's own frames pick it (api.analyze sniffs them).
    resolved = resolve_profile(profile, require, **targets) if profile else None
    bar = not (show is not None and sys.stdout.isatty())
    kept = {"keep_events": keep_events, "keep_verdicts": keep_verdicts}
    if resolved is None:
        kept |= {**targets, "require": require}
    if split.split:
        # One call over every path, so all their segments spread over the workers at once.
        return analyze_captures(
            paths, resolved, on_verdict=show, workers=split.workers, dask=split.dask,
            progress=bar, **kept,
        )  # fmt: skip
    return merge(
        analyze_captures(path, resolved, on_verdict=show, **kept)
        for path in tracked_paths(paths, "analyzing", enabled=bar)
    )


def _write(report: Report, json_out: str | None, junit: str | None) -> None:
    if json_out == "-":
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        click.echo(render_summary(report))
    if json_out and json_out != "-":
        with open_private(json_out, "w", encoding="utf-8") as out:
            json.dump(report.to_json(), out, indent=2, ensure_ascii=False)
            out.write("\n")
    if junit:
        with open_private(junit, "wb") as out:
            out.write(junit_xml(report))


def _pictures(report: Report, plot: str | None, html: str | None, timelines: int) -> None:
    # matplotlib is imported only when a picture is asked for: it costs half a second.
    if plot:
        from wstape.analyzer.reports.plots import plot_report

        plot_report(report, plot, timelines)
    if html:
        from wstape.analyzer.reports.html import write_report_html

        write_report_html(report, html, timelines)
