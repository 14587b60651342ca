"""`wstape compare`: a candidate release's recordings against a baseline's, metric by metric, with
a verdict that needs both a significant test and a change past its threshold; a thin wrapper over
wstape.analyzer.compare.comparison (scipy is imported only when the command runs)."""

from __future__ import annotations

import json

import click

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
from wstape.analyzer.cli.split import Split, resolve, split_options
from wstape.analyzer.parallel import ClusterError
from wstape.analyzer.profile import ProfileError
from wstape.analyzer.reports.report import Report
from wstape.recorder.private import open_private

PLOT_SUFFIXES = (".png", ".svg")


class Percent(click.ParamType):
    """'10%' or '10' → 0.10."""

    name = "PCT"

    def convert(self, value, param, ctx):
        if isinstance(value, float):
            return value
        text = str(value).strip().removesuffix("%")
        try:
            number = float(text)
        except ValueError:
            self.fail(f"{value!r} is not a percentage such as 10%", param, ctx)
        if number < 0:
            self.fail(f"{value!r} is negative", param, ctx)
        return number / 100


def plot_path(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A usage error before any work when the picture's format is not one we write."""
    if value is not None and not value.lower().endswith(PLOT_SUFFIXES):
        raise click.BadParameter(f"{value!r} must end in .png or .svg")
    return value


HELP = """Compare the CANDIDATE release's recordings against the BASELINE's.

\b
BASELINE and CANDIDATE are each a capture folder, a segment file, a folder
whose subfolders are captures (one release's recordings), or a quoted glob.
For each metric — first-event latency, each tool's duration, total duration,
events per run, pass rate, each failure code's rate — prints the baseline's
and the candidate's p50 / p95 / max (rates: share of runs), the change, a
one-sided p-value and a verdict: regressed, improved, unchanged, or untested
(no value on one side).

\b
The rule: a metric regressed when the change is significant AND past its
threshold. Significant: one-sided Mann-Whitney U test (times, events per run)
or Fisher's exact test (rates), p < --alpha; both heed the sample size: with
5 runs against 5 even a clean separation gives only p ≈ 0.004, and a change
in one or two runs is not significant.
Past its threshold: times when the p50 rose more than --max-p50-increase or
the p95 more than --max-p95-increase, and by at least --min-change-s seconds
(changes smaller than that are timer and scheduler noise); events per run
when the mean fell by at least --min-events-change (an event went missing);
rates when they moved more than --max-rate-change (in points). Improved is
the same rule the other way.

Exit 0 when nothing regressed, 1 when a metric regressed, 2 when a capture
cannot be read or a release has no chat runs.

\b
Examples:
  wstape compare captures/release-41 captures/release-42
  wstape compare 'captures/r41-*' 'captures/r42-*' --max-p95-increase 10%
  wstape compare base/ cand/ --json - | jq '.regressed'
  wstape compare base/ cand/ --plot cdf.png --html compare.html
"""

THRESHOLD_HELP = {
    "alpha": "Significance level of the one-sided tests (default 0.05).",
    "p50": "Largest rise of a time's median that is not a regression (default 10%).",
    "p95": "Largest rise of a time's 95th percentile that is not a regression (default 20%).",
    "floor": "Time changes smaller than S seconds never count (default 0.05).",
    "events": "A drop of fewer than N agent events per run, on average, is not a regression "
    "(default 0.5).",
    "rate": "Largest move of the pass rate or a failure rate, in percentage points, that is "
    "not a regression (default 5%).",
}


@click.command("compare", help=HELP)
@click.argument("baseline", type=click.Path(path_type=str))
@click.argument("candidate", type=click.Path(path_type=str))
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.05,
    show_default=False,
    metavar="P",
    help=THRESHOLD_HELP["alpha"],
)
@click.option("--max-p50-increase", type=Percent(), default="10%", help=THRESHOLD_HELP["p50"])
@click.option("--max-p95-increase", type=Percent(), default="20%", help=THRESHOLD_HELP["p95"])
@click.option(
    "--min-change-s",
    type=click.FloatRange(min=0),
    default=0.05,
    metavar="S",
    help=THRESHOLD_HELP["floor"],
)
@click.option(
    "--min-events-change",
    type=click.FloatRange(min=0),
    default=0.5,
    metavar="N",
    help=THRESHOLD_HELP["events"],
)
@click.option("--max-rate-change", type=Percent(), default="5%", help=THRESHOLD_HELP["rate"])
@profile_option(", and the targets")
@target_options
@require_option
@click.option(
    "--json",
    "json_out",
    metavar="FILE",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=str),
    help="Also write the versioned JSON report here; '-' prints only JSON.",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=str),
    metavar="FILE",
    callback=plot_path,
    help="Write both releases' CDFs per metric (.png or .svg).",
)
@click.option(
    "--html",
    type=click.Path(dir_okay=False, path_type=str),
    metavar="FILE",
    help="Write one self-contained HTML report: metrics, CDFs, each release's runs.",
)
@click.option(
    "--timelines",
    type=click.IntRange(min=0),
    default=20,
    metavar="N",
    help="Runs per release whose timelines the HTML report draws, failed first (default 20).",
)
@split_options
def compare_command(
    baseline: str,
    candidate: str,
    alpha: float,
    max_p50_increase: float,
    max_p95_increase: float,
    min_change_s: float,
    min_events_change: float,
    max_rate_change: float,
    profile: str | None,
    require: tuple[str, ...],
    json_out: str | None,
    plot: str | None,
    html: str | None,
    timelines: int,
    workers: int | None,
    dask: str | None,
) -> None:
    from wstape.analyzer.compare.comparison import compare_reports
    from wstape.analyzer.compare.model import Thresholds

    thresholds = Thresholds(
        alpha, max_p50_increase, max_p95_increase, min_change_s, min_events_change, max_rate_change
    )
    targets = given_targets()
    with input_errors():
        split = resolve(workers, dask)
        base, cand = read_releases(
            baseline, candidate, profile, bool(html), targets, split, require
        )
        comparison = compare_reports(base, cand, thresholds)
        write_outputs(comparison, base, cand, json_out, plot, html, timelines)
    if comparison.regressed:
        click.get_current_context().exit(EXIT_FAILED)


def read_releases(
    baseline: str,
    candidate: str,
    profile: str | None,
    keep_events: bool,
    targets: dict,
    split: Split | None = None,
    require: tuple[str, ...] = (),
) -> tuple[Report, Report]:
    """Both releases' reports, with a progress bar over their captures on a terminal."""
    from wstape.analyzer.api import analyze
    from wstape.analyzer.compare.comparison import release_paths
    from wstape.analyzer.progress import capture_bytes, track
    from wstape.analyzer.reports.report import merge

    sides = {"baseline": release_paths(baseline), "candidate": release_paths(candidate)}
    work = [(side, path) for side, paths in sides.items() for path in paths]
    reports: dict[str, list[Report]] = {"baseline": [], "candidate": []}
    try:
        if split is not None and split.split:
            # One call per side over all its captures, so their segments spread over the workers.
            for side, paths in sides.items():
                reports[side].append(
                    analyze(paths, profile, warn=warn, keep_events=keep_events,
                            workers=split.workers, dask=split.dask, progress="comparing",
                            require=require, **targets)
                )  # fmt: skip
        else:
            items = track(
                work, "comparing", lambda item: capture_bytes(item[1]), name=lambda i: i[1]
            )
            for side, path in items:
                reports[side].append(
                    analyze(
                        path,
                        profile,
                        warn=warn,
                        keep_events=keep_events,
                        require=require,
                        **targets,
                    )
                )
    except (ProfileError, ClusterError) as exc:
        raise InputError(str(exc)) from None
    merged = merge(reports["baseline"]), merge(reports["candidate"])
    for (side, given), report in zip(
        (("BASELINE", baseline), ("CANDIDATE", candidate)), merged, strict=True
    ):
        if not report.verdicts:
            raise InputError(f"{given}: no chat runs found in the {side} captures")
    return merged


def write_outputs(
    comparison,
    base: Report,
    cand: Report,
    json_out: str | None,
    plot: str | None,
    html: str | None,
    timelines: int,
) -> None:
    if json_out == "-":
        click.echo(json.dumps(comparison.to_json(), indent=2, ensure_ascii=False))
    else:
        click.echo(comparison.text(), nl=False)
    if json_out and json_out != "-":
        with open_private(json_out, "w", encoding="utf-8") as out:
            json.dump(comparison.to_json(), out, indent=2, ensure_ascii=False)
            out.write("\n")
    if plot:
        from wstape.analyzer.compare.plots import plot_comparison

        plot_comparison(comparison, plot)
    if html:
        from wstape.analyzer.compare.html import comparison_html
        from wstape.analyzer.reports.html import write

        write(html, comparison_html(comparison, base, cand, timelines))
