"""A Report as a pandas DataFrame, one row per judged run: who, how it ended, its failure codes,
and what its user saw (first event, first text, the longest silence, the text streamed, a
held-back burst) — the per-run view beside wstape.load's per-frame one."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from wstape.analyzer.pipeline.verdicts import Outcome, Verdict
from wstape.analyzer.reports.report import Report
from wstape.analyzer.reports.rows import every_verdict

if TYPE_CHECKING:
    import pandas

# name: (dtype, the value of a verdict); seconds are float64 with NaN where there is none.
COLUMNS: dict[str, tuple[str, Any]] = {
    "run_id": ("string", lambda v: v.run.run_id),
    "thread_id": ("string", lambda v: v.run.thread_id),
    "user_id": ("string", lambda v: v.run.user_id),
    "connections": ("string", lambda v: ",".join(v.run.connections)),
    "started": ("float64", lambda v: v.run.started),
    "status": (
        "category",
        lambda v: "cut_short" if v.cut_short else "passed" if v.passed else "failed",
    ),
    "outcome": ("category", lambda v: v.outcome.value),
    "codes": ("string", lambda v: ",".join(v.codes) or None),
    "events": ("Int64", lambda v: sum(v.event_counts.values())),
    "first_event_s": ("float64", lambda v: v.first_event_s),
    "total_s": ("float64", lambda v: v.total_s),
    "first_text_s": ("float64", lambda v: v.first_text_s),
    "longest_silence_s": ("float64", lambda v: v.longest_silence_s),
    "silence_after": ("string", lambda v: v.longest_silence and v.longest_silence.after),
    "silence_before": ("string", lambda v: v.longest_silence and v.longest_silence.before),
    "silence_at_s": ("float64", lambda v: v.longest_silence and v.longest_silence.at_s),
    "text_chars": ("Int64", lambda v: v.stream and v.stream.chars),
    "text_chars_per_s": ("float64", lambda v: v.stream and v.stream.chars_per_s),
    "buffered": ("boolean", lambda v: v.burst is not None),
    "tools": ("Int64", lambda v: len(v.tools)),
    "slowest_tool_s": ("float64", lambda v: max(_tool_times(v), default=None)),
}
CATEGORIES = {
    "status": ["passed", "failed", "cut_short"],  # as the JSON report says it
    "outcome": [o.value for o in Outcome],
}


def _tool_times(verdict: Verdict) -> list[float]:
    return [t.duration_s for t in verdict.tools if t.duration_s is not None]


def runs_frame(report: Report) -> pandas.DataFrame:
    """Every run of a complete report (`analyze(..., keep_verdicts=True)`), in start order."""
    import pandas as pd

    verdicts = every_verdict(report, "a table of every run")
    data = {}
    for name, (dtype, value) in COLUMNS.items():
        values = [value(v) for v in verdicts]
        if dtype == "category":
            data[name] = pd.Categorical(values, CATEGORIES[name])
        elif dtype == "float64":
            data[name] = pd.array([float("nan") if x is None else x for x in values], "float64")
        else:
            data[name] = pd.array(values, dtype=dtype)
    return pd.DataFrame(data)


def load_runs(path: str | os.PathLike, profile=None, **options: Any) -> pandas.DataFrame:
    """The runs of a capture (or a flow file, a HAR file, several of them) as a DataFrame, judged
    as wstape.analyze judges them: with `profile` (sniffed when None), the timing targets and
    `require` given as keywords."""
    from wstape.analyzer.api import analyze

    return runs_frame(analyze(path, profile, **options))
