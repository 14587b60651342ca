"""A Comparison → what people and machines read: the metric table `wstape compare` prints and
the versioned JSON report (its shape is documented in the README and kept stable)."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

from wstape.analyzer.compare.model import JSON_VERSION, Change, MetricChange, Release, Unit
from wstape.analyzer.compare.stats import Summary
from wstape.analyzer.reports.visible import visible

if TYPE_CHECKING:
    from wstape.analyzer.compare.comparison import Comparison

RULE = "=" * 118
MARKS = {
    Change.REGRESSED: "❌",
    Change.IMPROVED: "✅",
    Change.UNCHANGED: "  ",
    Change.UNTESTED: "➖",
}


def _release_line(name: str, release: Release) -> str:
    captures = len(release.captures)
    return (
        f"{name}: {release.runs} runs, {release.passed} passed, in {captures} "
        f"capture{'s' if captures != 1 else ''}"
    )


def _seconds(summary: Summary) -> str:
    if not summary.n:
        return "-"
    return f"{summary.p50:.3f} / {summary.p95:.3f} / {summary.max:.3f}"


def summary_text(change: MetricChange, summary: Summary) -> str:
    """p50 / p95 / max of a time or count, or the share of runs of a rate."""
    unit = change.metric.unit
    if unit is Unit.RATE:
        hits = round(summary.mean * summary.n) if summary.n else 0
        return f"{summary.mean:.0%} ({hits}/{summary.n})" if summary.n else "-"
    if unit is Unit.EVENTS:
        return f"{summary.p50:g} / {summary.p95:g} / {summary.max:g}" if summary.n else "-"
    return _seconds(summary)


def delta_text(change: MetricChange) -> str:
    """The change of p50 and p95 (times), of the mean (events), of the rate in points."""
    base, cand = change.baseline, change.candidate
    if not base.n or not cand.n:
        return "-"
    if change.metric.unit is Unit.RATE:
        return f"{(cand.mean - base.mean) * 100:+.0f} pts"
    if change.metric.unit is Unit.EVENTS:
        return f"mean {cand.mean - base.mean:+.2f}"
    return f"{cand.p50 - base.p50:+.3f} / {cand.p95 - base.p95:+.3f}"


def _row(change: MetricChange) -> str:
    base, cand = summary_text(change, change.baseline), summary_text(change, change.candidate)
    p = f"{change.p_value:.2g}" if change.verdict is not Change.UNTESTED else "-"
    return (
        f"{MARKS[change.verdict]} {_cut(change.metric.label, 24):<24} {base:>21}  {cand:>21}  "
        f"{delta_text(change):>15}  {p:>7}  {n_pair(change):>7}  {change.verdict}"
    )


def n_pair(change: MetricChange) -> str:
    return f"{change.baseline.n}/{change.candidate.n}"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# Times a release may rightly lack: a backend that streams no text has no first text.
OPTIONAL_TIMES = frozenset({"first_text_s"})


def shown(change: MetricChange) -> bool:
    # A failure code no run of either release has is noise in the table (JSON has it), and so
    # is an optional time neither release has.
    metric = change.metric
    if metric.name in OPTIONAL_TIMES:
        return bool(metric.baseline or metric.candidate)
    return not (metric.name.startswith("failure_rate:") and metric.hits == (0, 0))


def render_comparison(comparison: Comparison) -> str:
    """The metric table, each regression's reason, the rule and the overall verdict."""
    lines = [
        RULE,
        "COMPARE - " + _release_line("baseline", comparison.baseline),
        "          " + _release_line("candidate", comparison.candidate),
        RULE,
        f"   {'':<24} {'BASELINE':>21}  {'CANDIDATE':>21}  {'CHANGE':>15}",
        f"   {'METRIC':<24} {'p50 / p95 / max':>21}  {'p50 / p95 / max':>21}  "
        f"{'p50 / p95':>15}  {'p':>7}  {'RUNS':>7}  VERDICT",
    ]
    lines += [_row(c) for c in comparison.changes if shown(c)]
    notable = [*comparison.regressed, *comparison.improved]
    if notable:
        lines.append("")
        lines += [f"{c.verdict}: {c.metric.label}: {c.reason}" for c in notable]
    rule = textwrap.fill("rule: " + comparison.thresholds.rule(), 100, subsequent_indent="      ")
    lines += ["", rule, _verdict_line(comparison)]
    return visible("\n".join(lines) + "\n")


def _verdict_line(comparison: Comparison) -> str:
    regressed = comparison.regressed
    if regressed:
        names = ", ".join(c.name for c in regressed)
        return f"❌ {len(regressed)} metric{'s' if len(regressed) != 1 else ''} regressed: {names}"
    improved = comparison.improved
    extra = (
        f" ({len(improved)} improved: {', '.join(c.name for c in improved)})" if improved else ""
    )
    return f"✅ no regression{extra}"


# ---------------------------------------------------------------- JSON


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _summary_json(change: MetricChange, summary: Summary) -> dict:
    if change.metric.unit is Unit.RATE:
        hits = round(summary.mean * summary.n) if summary.n else 0
        return {"n": summary.n, "count": hits, "rate": _round(summary.mean)}
    return {
        "n": summary.n,
        "p50": _round(summary.p50),
        "p95": _round(summary.p95),
        "max": _round(summary.max),
        "mean": _round(summary.mean),
    }


def _change_json(change: MetricChange) -> dict:
    base, cand = change.baseline, change.candidate
    if not base.n or not cand.n:
        return {}
    if change.metric.unit is Unit.RATE:
        return {"rate": _round(cand.mean - base.mean)}
    out = {}
    for stat in ("p50", "p95", "max", "mean"):
        before, after = getattr(base, stat), getattr(cand, stat)
        out[stat] = _round(after - before)
        if stat in ("p50", "p95"):
            out[f"{stat}_relative"] = _round((after - before) / before) if before else None
    return out


def metric_json(change: MetricChange) -> dict:
    metric = change.metric
    return {
        "metric": metric.name,
        "label": metric.label,
        "unit": metric.unit.value,
        "better": "lower" if metric.lower_is_better else "higher",
        "baseline": _summary_json(change, change.baseline),
        "candidate": _summary_json(change, change.candidate),
        "change": _change_json(change),
        "test": change.test,
        "p_value": _round(change.p_value),
        "verdict": change.verdict.value,
        "reason": change.reason,
    }


def comparison_json(comparison: Comparison) -> dict:
    """The versioned compare report; documented in the README."""
    th = comparison.thresholds

    def release(r: Release) -> dict:
        return {"captures": list(r.captures), "runs": r.runs, "passed": r.passed}

    return {
        "version": JSON_VERSION,
        "status": "regressed" if comparison.regressed else "ok",
        "baseline": release(comparison.baseline),
        "candidate": release(comparison.candidate),
        "thresholds": {
            "alpha": th.alpha,
            "max_p50_increase": th.max_p50_increase,
            "max_p95_increase": th.max_p95_increase,
            "min_change_s": th.min_change_s,
            "min_events_change": th.min_events_change,
            "max_rate_change": th.max_rate_change,
        },
        "regressed": [c.name for c in comparison.regressed],
        "improved": [c.name for c in comparison.improved],
        "metrics": [metric_json(c) for c in comparison.changes],
    }
