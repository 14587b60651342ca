"""A Report: the verdicts of one analysis with the counts over every run, merged over captures;
rendered by reports/text.py and reports/json_report.py, which never import it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from wstape.analyzer.pipeline.screen import looks_buffered
from wstape.analyzer.pipeline.verdicts import Code, Outcome, Verdict
from wstape.analyzer.profile import Targets
from wstape.analyzer.reports.json_report import report_json
from wstape.analyzer.reports.rows import summary_rows
from wstape.analyzer.reports.text import render_run, render_summary


def _no_counts() -> Mapping:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Tally:
    """Counts over every run judged: what the summary's totals and the JSON summary print. Kept
    apart from the verdicts so that a report can hold only the summary's rows and still count
    every run."""

    runs: int = 0
    passed: int = 0
    outcomes: Mapping[Outcome, int] = field(default_factory=_no_counts)
    codes: Mapping[Code, int] = field(default_factory=_no_counts)  # runs failing with each code
    bursts: int = 0  # runs whose events came held back in one burst (Verdict.burst)
    cut_short: int = 0  # runs neither passed nor failed: the recording ended mid-run

    @property
    def failed(self) -> int:
        return self.runs - self.passed - self.cut_short

    @classmethod
    def of(cls, verdicts: Iterable[Verdict]) -> Tally:
        outcomes: Counter[Outcome] = Counter()
        codes: Counter[Code] = Counter()
        passed = bursts = cut_short = 0
        for verdict in verdicts:
            outcomes[verdict.outcome] += 1
            codes.update(verdict.codes)
            passed += verdict.passed
            bursts += verdict.burst is not None
            cut_short += verdict.cut_short
        return cls.counted(passed, outcomes, codes, bursts, cut_short)

    @classmethod
    def counted(
        cls,
        passed: int,
        outcomes: Counter[Outcome],
        codes: Counter[Code],
        bursts: int = 0,
        cut_short: int = 0,
    ) -> Tally:
        """From running counts (every run has one outcome, so they sum to the runs)."""
        return cls(sum(outcomes.values()), passed, MappingProxyType(dict(outcomes)),
                   MappingProxyType(dict(codes)), bursts, cut_short)  # fmt: skip

    @property
    def looks_buffered(self) -> bool:
        """Enough runs came in one burst to say the stream looks buffered on the way."""
        return looks_buffered(self.bursts, self.runs)

    def __add__(self, other: Tally) -> Tally:
        outcomes = Counter(self.outcomes) + Counter(other.outcomes)
        return Tally.counted(self.passed + other.passed, outcomes,
                             Counter(self.codes) + Counter(other.codes),
                             self.bursts + other.bursts,
                             self.cut_short + other.cut_short)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Report:
    """The verdicts of one analysis, with what the capture held beyond its runs.

    `tally` counts every run judged; it is computed from `verdicts` when not given. A bounded
    report (`analyze(..., keep_verdicts=False)`) holds only the verdicts its summary table
    shows: the earliest-starting SUMMARY_ROWS failed runs and SUMMARY_ROWS passed runs. Its
    summary, totals and truth are those of every run; `verdicts`, iteration and `failed` give
    only the runs it holds (`complete` tells), and it has no JSON report.
    """

    verdicts: tuple[Verdict, ...]
    warnings: tuple[str, ...] = ()
    frames: Mapping[str, int] = field(default_factory=_no_counts)
    captures: tuple[str, ...] = ()
    targets: Targets = field(default_factory=Targets)
    connections: int = 0
    tally: Tally | None = None  # never None once built
    profile: str = "default"  # the name of the profile the runs were judged by
    protocol: str = "wstape-json"  # the wire protocol it reads
    detected: bool = False  # picked by sniffing the capture's frames, not by --profile

    def __post_init__(self) -> None:
        if self.tally is None:
            object.__setattr__(self, "tally", Tally.of(self.verdicts))

    @property
    def passed(self) -> bool:
        """True when there was at least one run and none failed (a run cut short by the end of
        the recording is neither passed nor failed)."""
        return self.tally.runs > 0 and self.tally.failed == 0

    @property
    def failed(self) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if v.failed)

    @property
    def complete(self) -> bool:
        """True when the report holds every run's verdict, not only the summary's rows."""
        return len(self.verdicts) == self.tally.runs

    def __bool__(self) -> bool:
        # Not "has runs": `assert wstape.validate(path)` must fail when a run failed.
        return self.passed

    def __iter__(self) -> Iterator[Verdict]:
        return iter(self.verdicts)

    def __len__(self) -> int:
        return self.tally.runs

    def text(self, runs: bool = True) -> str:
        """The per-run reports (unless `runs` is false) and the summary, as printed."""
        parts = [render_run(v) for v in self.verdicts] if runs else []
        return "\n\n".join([*parts, render_summary(self)]) + "\n"

    def to_json(self) -> dict:
        return report_json(self)


def merge(reports: Iterable[Report]) -> Report:
    """One report over several analyses (several captures), runs in start order; bounded when
    any of them is, holding the summary's rows of them all."""
    frames: Counter[str] = Counter()
    verdicts: list[Verdict] = []
    tally, complete, targets = Tally(), True, None
    warnings: list[str] = []
    captures: list[str] = []
    connections = 0
    first: Report | None = None
    for report in reports:
        first = first or report
        frames.update(report.frames)
        verdicts += report.verdicts
        complete = complete and report.complete
        if not complete:
            # Trimmed as it goes: many captures must not add up to every run. Sorts are stable,
            # so runs that start together keep capture order, as in one sort over them all.
            verdicts = summary_rows(sorted(verdicts, key=_started))
        tally += report.tally
        targets = report.targets if targets is None else targets  # the first report's
        warnings += report.warnings
        captures += report.captures
        connections += report.connections
    return Report(
        verdicts=tuple(sorted(verdicts, key=_started)),
        warnings=tuple(warnings),
        frames=MappingProxyType(dict(frames)),
        captures=tuple(captures),
        targets=Targets() if targets is None else targets,
        connections=connections,
        tally=tally,
        # One profile judges every input of an analysis.
        **(
            {}
            if first is None
            else {"profile": first.profile, "protocol": first.protocol, "detected": first.detected}
        ),
    )


def _started(verdict: Verdict) -> float:
    return verdict.run.started
