"""AG-UI judged right: traffic built with the ag-ui-protocol package's own event classes, written
as a capture, judged with `--profile ag-ui` and with no profile (sniffed from the frames)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ag_ui.core import (
    BaseEvent,
    RunAgentInput,
    RunErrorEvent,
    RunFinishedEvent,
    RunStartedEvent,
    StateSnapshotEvent,
    StepFinishedEvent,
    StepStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)
from click.testing import CliRunner

from wstape import analyze
from wstape.analyzer.cli.main import main
from wstape.analyzer.profile import load_profile, profile_from_dict
from wstape.analyzer.protocols.ag_ui import AgUi
from wstape.analyzer.protocols.events import Canonical, Frame
from wstape.analyzer.protocols.registry import sniff
from wstape.recorder.capture import Close, Open
from wstape.recorder.writer import CaptureWriter


def wire(event: BaseEvent) -> bytes:
    return event.model_dump_json(by_alias=True, exclude_none=True).encode()


def user_input(run_id: str) -> bytes:
    message = {"id": f"u-{run_id}", "role": "user", "content": "find flights"}
    data = RunAgentInput(thread_id="t1", run_id=run_id, messages=[message], tools=[],
                         context=[], state={}, forwarded_props={})  # fmt: skip
    return json.dumps(data.model_dump(by_alias=True, exclude_none=True)).encode()


def body(n: str) -> list[BaseEvent]:
    """A happy run's events between RUN_STARTED and RUN_FINISHED."""
    return [
        StepStartedEvent(step_name="plan"), StateSnapshotEvent(snapshot={"step": 1}),
        StepFinishedEvent(step_name="plan"),
        ToolCallStartEvent(tool_call_id=f"call-{n}", tool_call_name="search"),
        ToolCallArgsEvent(tool_call_id=f"call-{n}", delta='{"q": "flights"}'),
        ToolCallEndEvent(tool_call_id=f"call-{n}"),
        ToolCallResultEvent(message_id=f"res-{n}", tool_call_id=f"call-{n}", content="3 hits"),
        TextMessageStartEvent(message_id=f"msg-{n}", role="assistant"),
        TextMessageContentEvent(message_id=f"msg-{n}", delta="Found 3"),
        TextMessageEndEvent(message_id=f"msg-{n}"),
    ]  # fmt: skip


class Stream:
    """One AG-UI WebSocket connection, written as a capture."""

    def __init__(self) -> None:
        self.ts = 1000.0
        self.records: list = [Open("c1", self.ts, "ws://agent/agui", "/agui", None, None, None)]

    def send(self, payload: bytes, from_client: bool = False, after: float = 0.05) -> None:
        from wstape.recorder.capture import Message

        self.ts += after
        self.records.append(Message("c1", self.ts, from_client, True, payload))

    def run(self, run_id: str, events: list[BaseEvent], first: float = 0.1,
            start: bool = True, finish: bool = True) -> Stream:  # fmt: skip
        self.send(user_input(run_id), from_client=True)
        if start:
            self.send(wire(RunStartedEvent(thread_id="t1", run_id=run_id)), after=first)
        for event in events:
            self.send(wire(event))
        if finish:
            self.send(wire(RunFinishedEvent(thread_id="t1", run_id=run_id)))
        return self

    def write(self, out: Path) -> Path:
        writer = CaptureWriter(out)
        for record in [*self.records, Close("c1", self.ts + 1, 1000, "", "client")]:
            writer.write(record)
        writer.close_all()
        return out


@pytest.fixture
def every_case(tmp_path: Path) -> Path:
    stream = Stream()
    stream.run("happy-1", body("1")).run("happy-2", body("2"))
    stream.run("missing-start", body("3"), start=False)
    stream.run("unpaired-tool", body("4")[:4] + body("4")[7:])
    stream.run("slow-first", body("5"), first=3.0)
    stream.run("graceful-error", body("6")[:3] + [RunErrorEvent(message="quota")], finish=False)
    stream.run("after-end", body("7"))
    stream.send(wire(TextMessageContentEvent(message_id="msg-7", delta="late")))
    stream.run("never-ends", body("8")[:3], finish=False)
    return stream.write(tmp_path / "agui")


EXPECTED = {
    "happy-1": (),
    "happy-2": (),
    "missing-start": ("missing_events", "protocol"),
    "unpaired-tool": ("unpaired_tool", "protocol"),  # AGUI203: finished with it open
    "slow-first": ("slow_first_event",),
    "graceful-error": (),
    "after-end": ("order", "protocol"),
    "never-ends": ("no_completion",),
}


@pytest.mark.parametrize("profile", ["ag-ui", None], ids=["--profile ag-ui", "sniffed"])
def test_every_ag_ui_run_is_judged_as_a_reviewer_would(every_case: Path, profile) -> None:
    report = analyze(every_case, profile)
    assert {v.run.label: v.codes for v in report} == EXPECTED
    assert not report.warnings  # every event belongs to its run
    assert (report.profile, report.protocol, report.detected) == ("ag-ui", "ag-ui", not profile)
    outcomes = {v.run.label: v.outcome.value for v in report}
    assert outcomes["graceful-error"] == "error" and outcomes["never-ends"] == "incomplete"


def test_first_event_latency_is_measured_from_the_run_agent_input(every_case: Path) -> None:
    verdicts = {v.run.label: v for v in analyze(every_case)}
    assert verdicts["happy-1"].first_event_s == pytest.approx(0.1)
    assert verdicts["slow-first"].first_event_s == pytest.approx(3.0)


def test_protocol_failures_name_the_rule(every_case: Path) -> None:
    verdicts = {v.run.label: v for v in analyze(every_case)}
    (after,) = [f for f in verdicts["after-end"].failures if f.code == "protocol"]
    assert "AGUI004" in after.message
    (start,) = [f for f in verdicts["missing-start"].failures if f.code == "protocol"]
    assert "AGUI001" in start.message


def test_run_finished_while_a_message_is_open_breaks_the_protocol(tmp_path: Path) -> None:
    open_message = body("1")[:7] + [TextMessageStartEvent(message_id="m", role="assistant")]
    (verdict,) = analyze(Stream().run("r1", open_message).write(tmp_path / "c"), "ag-ui")
    assert verdict.codes == ("protocol",)
    assert "AGUI103" in verdict.failures[0].message


def test_decoder_maps_ag_ui_onto_the_seven_events() -> None:
    decoder = AgUi().decoder()
    frames = [(user_input("r1"), True), (wire(RunStartedEvent(thread_id="t1", run_id="r1")), False)]
    frames += [(wire(e), False) for e in body("1")]
    frames += [(wire(RunErrorEvent(message="x")), False)]
    events = [decoder.feed(Frame("c1", 1.0, c, True, p))[0] for p, c in frames]
    C = Canonical
    assert [e.canonical for e in events] == [
        C.USER_MESSAGE, C.AGENT_STARTED, C.AGENT_THINKING, C.TIMELINE, C.TIMELINE,
        C.TOOL_EXECUTING, C.TIMELINE, C.TIMELINE, C.TOOL_COMPLETED, C.TIMELINE,
        C.PARTIAL_RESULT, C.TIMELINE, C.ERROR,
    ]  # fmt: skip
    assert {e.run_id for e in events} == {"r1"}  # by position: the run open on the stream
    assert events[8].execution_id == "call-1" and events[8].tool_name == "search"


def test_sniffing_tells_ag_ui_from_wstapes_own_dialects() -> None:
    assert sniff([(user_input("r1"), True)]) == "ag-ui"
    assert sniff([(b'{"type": "agent_started", "run_id": "r1"}', False)]) == "wstape-json"
    assert sniff([(b"not json", True)]) == "wstape-json"


def test_profile_extends_a_built_in_one() -> None:
    mine = profile_from_dict({"extends": "ag-ui", "targets": {"max_tool_s": 3}})
    assert mine.protocol.name == "ag-ui" and mine.targets.max_tool_s == 3
    assert mine.required == load_profile("ag-ui").required


def test_profiles_command_lists_and_shows_the_built_in_ones(tmp_path: Path) -> None:
    listed = CliRunner().invoke(main, ["profiles"])
    assert listed.exit_code == 0 and "ag-ui" in listed.output and "default" in listed.output
    shown = CliRunner().invoke(main, ["profiles", "show", "ag-ui"])
    assert shown.exit_code == 0
    copy = tmp_path / "mine.toml"
    copy.write_text(shown.output)
    assert load_profile(copy) == load_profile("ag-ui")
    missing = CliRunner().invoke(main, ["profiles", "show", "nope"])
    assert missing.exit_code == 2 and "ag-ui" in missing.output


def test_report_says_which_profile_it_used(every_case: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["analyze", str(every_case), "--json", "-"])
    assert json.loads(result.output)["summary"]["profile"] == {
        "name": "ag-ui", "protocol": "ag-ui", "detected": True,
    }  # fmt: skip
    text = CliRunner().invoke(main, ["analyze", str(every_case), "--profile", "ag-ui"]).output
    assert "profile: ag-ui (protocol ag-ui, given)" in text
    page = tmp_path / "report.html"
    CliRunner().invoke(main, ["analyze", str(every_case), "-q", "--html", str(page)])
    assert "ag-ui (protocol ag-ui, detected from the frames)" in page.read_text()


def test_late_event_after_the_next_input_still_joins_its_own_run(tmp_path: Path) -> None:
    stream = Stream().run("r1", body("1"))
    stream.send(user_input("r2"), from_client=True)
    stream.send(wire(TextMessageContentEvent(message_id="msg-1", delta="late")))  # r1's message
    stream.send(wire(RunStartedEvent(thread_id="t1", run_id="r2")))
    for event in body("2"):
        stream.send(wire(event))
    stream.send(wire(RunFinishedEvent(thread_id="t1", run_id="r2")))
    verdicts = {v.run.label: v.codes for v in analyze(stream.write(tmp_path / "c"), "ag-ui")}
    assert verdicts == {"r1": ("order", "protocol"), "r2": ()}
