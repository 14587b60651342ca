"""Release against release: the metrics of two sets of verdicts (baseline and candidate) side by
side, each with a verdict — regressed, improved or unchanged — that needs both a significant test
and a change past its threshold. Pure over Reports; `compare()` adds the reading of captures.

The rule, per metric (thresholds are `Thresholds`, the CLI's options):

- times (first-event latency, first text, each tool's duration, total duration, longest silence;
  lower is better): regressed
  when a one-sided Mann-Whitney U test says the candidate is slower (p < alpha) AND its p50 rose
  by more than `max_p50_increase` or its p95 by more than `max_p95_increase`, that rise also
  being at least `min_change_s` seconds;
- events per run (agent events the backend sent; fewer means an event went missing): regressed
  when Mann-Whitney U says fewer (p < alpha) AND the mean fell by at least `min_events_change`;
- rates (pass rate, each failure code's share of runs): regressed when a one-sided Fisher exact
  test says worse (p < alpha) AND the rate moved by more than `max_rate_change`.

"Improved" is the same rule in the other direction; anything else is unchanged, and a metric
with no value on one side is untested. Each metric is tested on its own, without correction for
testing many: the thresholds and the floor are what keep timing noise from failing a release.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from wstape.analyzer.compare.model import (
    Change,
    Metric,
    MetricChange,
    Release,
    Thresholds,
    Unit,
)
from wstape.analyzer.compare.stats import Shift, Summary, rate_test, shift_test
from wstape.analyzer.compare.text import comparison_json, render_comparison
from wstape.analyzer.pipeline.verdicts import Code, Verdict
from wstape.analyzer.profile import Targets
from wstape.analyzer.reports.report import Report
from wstape.analyzer.reports.rows import every_verdict


@dataclass(frozen=True, slots=True)
class Comparison:
    baseline: Release
    candidate: Release
    changes: tuple[MetricChange, ...]
    thresholds: Thresholds = field(default_factory=Thresholds)
    targets: Targets = field(default_factory=Targets)

    @property
    def regressed(self) -> tuple[MetricChange, ...]:
        return tuple(c for c in self.changes if c.verdict is Change.REGRESSED)

    @property
    def improved(self) -> tuple[MetricChange, ...]:
        return tuple(c for c in self.changes if c.verdict is Change.IMPROVED)

    def __bool__(self) -> bool:
        # `assert compare(...)` fails on a regression, as `assert validate(...)` on a failed run.
        return not self.regressed

    def text(self) -> str:
        return render_comparison(self)

    def to_json(self) -> dict:
        return comparison_json(self)


# ---------------------------------------------------------------- metrics from verdicts

# The distributions, in report order: first event, each tool, total, events per run, then the
# times of what the user's screen showed.
TIMES = ("first_event_s", "total_s")
SCREEN_TIMES = ("first_text_s", "longest_silence_s")


def _judged(report: Report) -> tuple[Verdict, ...]:
    """The runs a release is measured on: a run cut short by the end of its recording says
    nothing about the release (its times and events stop at the cut)."""
    return tuple(v for v in report.verdicts if not v.cut_short)


def _release(report: Report) -> Release:
    judged = _judged(report)
    return Release(report.captures, len(judged), sum(v.passed for v in judged))


def _values(verdicts: Iterable[Verdict]) -> dict[str, list[float]]:
    values: dict[str, list[float]] = {name: [] for name in (*TIMES, *SCREEN_TIMES)}
    values["events_per_run"] = []
    for verdict in verdicts:
        for name, value in (
            ("first_event_s", verdict.first_event_s), ("first_text_s", verdict.first_text_s),
            ("total_s", verdict.total_s), ("longest_silence_s", verdict.longest_silence_s),
        ):  # fmt: skip
            if value is not None:  # a run that showed no text has no first text, and so on
                values[name].append(value)
        # Agent events the backend sent; the user's own message is not one it can lose.
        values["events_per_run"].append(float(sum(verdict.coverage.values())))
        for tool in verdict.tools:
            if tool.duration_s is not None:
                values.setdefault(f"tool_s:{tool.name or '(unnamed)'}", []).append(tool.duration_s)
    return values


def _hits(verdicts: tuple[Verdict, ...]) -> dict[str, int]:
    hits = {"pass_rate": sum(v.passed for v in verdicts)}
    for code in Code:
        hits[f"failure_rate:{code}"] = sum(code in v.codes for v in verdicts)
    return hits


def metrics(baseline: Report, candidate: Report) -> list[Metric]:
    """Every metric of the two releases, in report order: times, events, rates."""
    baseline_runs, candidate_runs = _judged(baseline), _judged(candidate)
    base, cand = _values(baseline_runs), _values(candidate_runs)
    tools = sorted({n for n in (*base, *cand) if n.startswith("tool_s:")})
    out = []
    for name in ("first_event_s", *tools, "total_s", "events_per_run", *SCREEN_TIMES):
        unit = Unit.EVENTS if name == "events_per_run" else Unit.SECONDS
        out.append(
            Metric(
                name,
                _label(name),
                unit,
                unit is Unit.SECONDS,
                tuple(base.get(name, ())),
                tuple(cand.get(name, ())),
            )
        )
    base_hits, cand_hits = _hits(baseline_runs), _hits(candidate_runs)
    runs = (len(baseline_runs), len(candidate_runs))
    for name in base_hits:
        out.append(
            Metric(
                name,
                _label(name),
                Unit.RATE,
                name != "pass_rate",
                hits=(base_hits[name], cand_hits[name]),
                runs=runs,
            )
        )
    return out


def _label(name: str) -> str:
    if name.startswith("tool_s:"):
        return f"tool {name.split(':', 1)[1]} (s)"
    if name.startswith("failure_rate:"):
        return f"{name.split(':', 1)[1]} rate"
    return {
        "first_event_s": "first event (s)",
        "first_text_s": "first text (s)",
        "total_s": "total (s)",
        "longest_silence_s": "longest silence (s)",
        "events_per_run": "events per run",
        "pass_rate": "pass rate",
    }[name]


# ---------------------------------------------------------------- verdicts per metric


def judge_metric(metric: Metric, thresholds: Thresholds) -> MetricChange:
    """The verdict on one metric: significant and past its threshold, or not."""
    if metric.unit is Unit.RATE:
        base_hits, cand_hits = metric.hits
        base_n, cand_n = metric.runs
        base, cand = _rate_summary(base_hits, base_n), _rate_summary(cand_hits, cand_n)
        shift, test = rate_test(base_hits, base_n, cand_hits, cand_n), "fisher-exact"
    else:
        base, cand = Summary.of(metric.baseline), Summary.of(metric.candidate)
        shift, test = shift_test(metric.baseline, metric.candidate), "mann-whitney-u"
    if not base.n or not cand.n:
        side = "baseline" if not base.n else "candidate"
        return MetricChange(metric, base, cand, test, 1.0, Change.UNTESTED, f"no values in {side}")
    worse, better = _directions(metric, shift)
    for verdict, p, sign in ((Change.REGRESSED, worse, 1), (Change.IMPROVED, better, -1)):
        # sign +1: the worse direction (slower, fewer events, a worse rate).
        past = _past(metric, base, cand, thresholds, sign)
        if p < thresholds.alpha and past:
            return MetricChange(metric, base, cand, test, p, verdict, f"{past}, p = {p:.2g}")
    p = min(worse, better)
    moved = _past(metric, base, cand, thresholds, 1 if worse <= better else -1, check=False)
    if p < thresholds.alpha:
        reason = f"significant (p = {p:.2g}) but within thresholds: {moved}"
    else:
        reason = f"not significant (p = {p:.2g}): {moved}"
    return MetricChange(metric, base, cand, test, p, Change.UNCHANGED, reason)


def _rate_summary(hits: int, runs: int) -> Summary:
    rate = hits / runs if runs else None
    return Summary(runs, None, None, None, rate)


def _directions(metric: Metric, shift: Shift) -> tuple[float, float]:
    """The p-values of a change for the worse and for the better."""
    if metric.lower_is_better:
        return shift.p_greater, shift.p_less
    return shift.p_less, shift.p_greater


def _past(
    metric: Metric, base: Summary, cand: Summary, th: Thresholds, sign: int, check: bool = True
) -> str:
    """How the metric moved in direction `sign`, when past its threshold (or always, unchecked);
    '' when it did not move that far."""
    worse = 1 if metric.lower_is_better else -1
    if metric.unit is Unit.RATE:
        delta = cand.mean - base.mean
        ok = sign * worse * delta > th.max_rate_change
        return f"{base.mean:.0%} → {cand.mean:.0%}" if ok or not check else ""
    if metric.unit is Unit.EVENTS:
        delta = cand.mean - base.mean
        ok = sign * worse * delta >= th.min_events_change
        return f"mean {base.mean:.3g} → {cand.mean:.3g}" if ok or not check else ""
    moves = []
    for stat, limit in (("p50", th.max_p50_increase), ("p95", th.max_p95_increase)):
        before, after = getattr(base, stat), getattr(cand, stat)
        delta = after - before
        relative = delta / before if before else float("inf") if delta else 0.0
        ok = sign * delta >= th.min_change_s and sign * relative > limit
        if ok or not check:
            moves.append(f"{stat} {before:.3f} → {after:.3f} s ({relative:+.0%})")
    return ", ".join(moves)


def compare_reports(
    baseline: Report, candidate: Report, thresholds: Thresholds | None = None
) -> Comparison:
    """Judges every metric of the candidate release against the baseline."""
    for report in (baseline, candidate):
        every_verdict(report, "a comparison, which measures every run")
    thresholds = thresholds or Thresholds()
    changes = tuple(judge_metric(m, thresholds) for m in metrics(baseline, candidate))
    return Comparison(
        _release(baseline), _release(candidate), changes, thresholds, candidate.targets
    )


# ---------------------------------------------------------------- reading captures


def release_paths(path: str | os.PathLike) -> list[str]:
    """The captures of one release: a capture folder or segment file as it is, a folder whose
    subfolders are captures (one release's recordings) as those, a quoted glob as its matches."""
    import glob

    from wstape.recorder.capture import SEGMENT_SUFFIX

    text = os.fspath(path)
    if not os.path.exists(text) and glob.has_magic(text):
        matches = sorted(glob.glob(text))
        return [p for m in matches for p in release_paths(m)] or [text]
    if os.path.isdir(text):
        entries = sorted(os.scandir(text), key=lambda e: e.name)
        if not any(e.is_file() and e.name.endswith(SEGMENT_SUFFIX) for e in entries):
            subs = [e.path for e in entries if e.is_dir() and _has_segments(e.path)]
            if subs:
                return subs
    return [text]


def _has_segments(folder: str) -> bool:
    from wstape.recorder.capture import SEGMENT_SUFFIX

    return any(e.is_file() and e.name.endswith(SEGMENT_SUFFIX) for e in os.scandir(folder))


def compare(
    baseline: str | os.PathLike | Iterable[str | os.PathLike],
    candidate: str | os.PathLike | Iterable[str | os.PathLike],
    profile=None,
    thresholds: Thresholds | None = None,
    warn: Callable[[str], None] | None = None,
    **targets: float | None,
) -> Comparison:
    """Reads and judges both releases' captures, then compares them: `assert compare(a, b)`.

    Each side is a path (see `release_paths`) or several. Raises CaptureError for an unreadable
    capture, ProfileError for a bad profile.
    """
    from wstape.analyzer.api import analyze

    reports = []
    for side in (baseline, candidate):
        paths = [side] if isinstance(side, str | os.PathLike) else list(side)
        expanded = [p for path in paths for p in release_paths(path)]
        reports.append(analyze(expanded, profile, warn=warn, keep_events=False, **targets))
    return compare_reports(reports[0], reports[1], thresholds)
