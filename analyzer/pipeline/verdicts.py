"""What judging a run gives: its Verdict (outcome, failures with their stable codes, the tools
it ran, what the user saw), plain data that rules.py builds and the reports render."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from wstape.analyzer.pipeline.model import Run, new_run
from wstape.analyzer.pipeline.screen import Burst, Silence, Stream
from wstape.analyzer.protocols.events import Canonical, positional_new


class Code(StrEnum):
    """Failure codes; stable, they appear in JSON and JUnit reports."""

    MISSING_EVENTS = "missing_events"
    ORDER = "order"
    UNPAIRED_TOOL = "unpaired_tool"
    NO_COMPLETION = "no_completion"
    SLOW_FIRST_EVENT = "slow_first_event"
    SLOW_TOOL = "slow_tool"
    SLOW_TOTAL = "slow_total"
    LONG_SILENCE = "long_silence"
    SLOW_FIRST_TEXT = "slow_first_text"
    ISOLATION = "isolation"
    PROTOCOL = "protocol"  # one of the protocol's own rules, named by its id


class Outcome(StrEnum):
    COMPLETED = "completed"  # a completion event and no error
    ERROR = "error"  # an error, then a completion or a terminal error: failed gracefully
    INCOMPLETE = "incomplete"  # the run just stopped
    # The recording ended (stopped or killed) while the run was in flight: neither passed nor
    # failed, unless it had already failed on something it did before the cut.
    CUT_SHORT = "cut_short"


# Runs that never ended: what they would still have sent is unknown.
UNFINISHED = frozenset({Outcome.INCOMPLETE, Outcome.CUT_SHORT})


@dataclass(frozen=True, slots=True)
class Failure:
    code: Code
    message: str


@dataclass(frozen=True, slots=True)
class Tool:
    name: str | None
    execution_id: str | None
    started: float
    duration_s: float | None  # None when the tool never completed


@dataclass(frozen=True, slots=True)
class Verdict:
    run: Run
    outcome: Outcome
    failures: tuple[Failure, ...]
    warnings: tuple[str, ...]
    required: tuple[Canonical, ...]  # what this run had to carry, given its outcome
    first_event_s: float | None
    total_s: float
    tools: tuple[Tool, ...]
    # Counted at judging time, so a verdict still reports them once its events are dropped.
    event_counts: Mapping[str, int]  # by the backend's type name, in order of first arrival
    coverage: Mapping[Canonical, int]  # server events by kind; required ones always present
    # What the user's screen showed (pipeline/screen.py), first event to terminal.
    longest_silence: Silence | None = None
    first_text_s: float | None = None
    stream: Stream | None = None
    burst: Burst | None = None  # the events came held back in one burst

    @property
    def passed(self) -> bool:
        return not self.failures and self.outcome is not Outcome.CUT_SHORT

    @property
    def failed(self) -> bool:
        return bool(self.failures)

    @property
    def cut_short(self) -> bool:
        """Neither passed nor failed: the recording ended mid-run, on nothing it failed."""
        return not self.failures and self.outcome is Outcome.CUT_SHORT

    @property
    def codes(self) -> tuple[Code, ...]:
        return tuple(f.code for f in self.failures)

    @property
    def longest_silence_s(self) -> float | None:
        silence = self.longest_silence
        return None if silence is None else silence.seconds

    def slim(self) -> Verdict:
        """This verdict without the run's events (its timeline), for keeping many in memory."""
        # Built field by field rather than by dataclasses.replace, which walks the fields'
        # metadata each time: analyze slims every verdict it keeps.
        run = self.run
        slim_run = new_run(run.ordinal, run.run_id, run.thread_id, run.user_id, run.connections,
                           (), run.started, run.user_message_ts, run.leaks, run.end,
                           run.cut_at, ())  # fmt: skip
        return new_verdict(slim_run, self.outcome, self.failures, self.warnings, self.required,
                           self.first_event_s, self.total_s, self.tools, self.event_counts,
                           self.coverage, self.longest_silence, self.first_text_s, self.stream,
                           self.burst)  # fmt: skip


# Verdict(...) with every field given, the fast way: one per run judged.
new_verdict = positional_new(Verdict)
