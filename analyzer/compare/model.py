"""What a comparison is made of: the metrics of two releases, each one's change and verdict, and
the thresholds that judge them; plain data, read by compare/comparison.py and its renderers."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from wstape.analyzer.compare.stats import Summary

JSON_VERSION = 1


class Change(StrEnum):
    """A metric's verdict; stable, it appears in the JSON report."""

    REGRESSED = "regressed"
    IMPROVED = "improved"
    UNCHANGED = "unchanged"
    UNTESTED = "untested"  # no value on one side (a tool only one release ran)


class Unit(StrEnum):
    SECONDS = "s"
    EVENTS = "events"
    RATE = "rate"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """How large a significant change must be to count; fractions, seconds, events."""

    alpha: float = 0.05
    max_p50_increase: float = 0.10
    max_p95_increase: float = 0.20
    min_change_s: float = 0.05
    min_events_change: float = 0.5
    max_rate_change: float = 0.05

    def rule(self) -> str:
        """The rule in one paragraph, as the text report and --help state it."""
        return (
            f"regressed/improved = significant (one-sided Mann-Whitney U for times and events, "
            f"Fisher exact for rates, p < {self.alpha:g}) AND past its threshold: times p50 "
            f"{self.max_p50_increase:.0%} or p95 {self.max_p95_increase:.0%} and at least "
            f"{self.min_change_s:g} s; events per run {self.min_events_change:g} on average; "
            f"rates {self.max_rate_change * 100:g} points"
        )


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric's samples in both releases: values (times, events) or hits out of runs."""

    name: str  # stable id: first_event_s, first_text_s, tool_s:NAME, total_s, ... pass_rate
    label: str
    unit: Unit
    lower_is_better: bool
    baseline: tuple[float, ...] = ()
    candidate: tuple[float, ...] = ()
    hits: tuple[int, int] = (0, 0)  # rates: baseline and candidate runs that count
    runs: tuple[int, int] = (0, 0)


@dataclass(frozen=True, slots=True)
class MetricChange:
    metric: Metric
    baseline: Summary
    candidate: Summary
    test: str  # "mann-whitney-u" or "fisher-exact"
    p_value: float  # one-sided, in the direction of the change (worse when unchanged)
    verdict: Change
    reason: str

    @property
    def name(self) -> str:
        return self.metric.name


@dataclass(frozen=True, slots=True)
class Release:
    captures: tuple[str, ...]
    runs: int
    passed: int
