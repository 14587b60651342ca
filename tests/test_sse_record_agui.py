"""An AG-UI agent served over SSE, as AG-UI's own HttpAgent reads it (one POST of a
RunAgentInput, a text/event-stream of `data: {event}` in the package's own EventEncoder framing,
chunked), recorded through a real `wstape record`: every run judged as a reviewer would, with
`--profile ag-ui` and with no profile at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ag_ui.core import RunAgentInput
from ag_ui.encoder import EventEncoder
from click.testing import CliRunner
from conftest import Processes
from sse_streams import fetch, recorded_streams, start_sse_backend

from wstape import analyze
from wstape.analyzer.cli.main import main
from wstape.demo.ag_ui_agent import SCENARIOS, run_input
from wstape.demo.loopback import stop
from wstape.demo.scenarios import Timing
from wstape.demo.sse_backend import stream

TIMING = Timing(think_delay=0.01, tool_delay=0.05, first_delay=2.2)
# Alice's runs, one POST each, and what each must get; "no_completion" is a stream the server
# cuts before the end.
EXPECTED = {
    "good": (),
    "missing_start": ("missing_events", "protocol"),
    "unpaired_tool": ("unpaired_tool",),
    "slow_first": ("slow_first_event",),
    "run_error": (),
    "late_event": ("order", "protocol"),
    "no_completion": ("no_completion",),
}
RUNS = [("alice", n, name) for n, name in enumerate(EXPECTED, 1)] + [
    ("bob", 1, "good"), ("bob", 2, "good"),
]  # fmt: skip


def scripted_run(user: str, n: int, scenario: str) -> tuple[str, dict]:
    """The RunAgentInput a user POSTs, and the stream the agent answers it with."""
    body = run_input(user, f"{user}-run-{n}", scenario)
    encoder = EventEncoder(accept="text/event-stream")
    play = SCENARIOS[scenario](RunAgentInput.model_validate_json(body), TIMING)
    chunks = [(pause, encoder.encode(event)) for pause, event in play]
    if scenario == "late_event":  # the stray event lands in the same chunk as RUN_FINISHED
        *chunks, (pause, last) = chunks
        chunks[-1] = (chunks[-1][0], chunks[-1][1] + last)
    return body, stream(chunks, "cut" if scenario == "no_completion" else "complete")


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("agui-sse")
    processes = Processes(where)
    try:
        bodies, responses = zip(*(scripted_run(*run) for run in RUNS), strict=True)
        backend = start_sse_backend(processes, list(responses))
        proc, port = processes.record(backend.url, where / "capture")
        for body in bodies:
            fetch(f"http://127.0.0.1:{port}/agent", json.loads(body),
                  headers={"Accept": "text/event-stream"})  # fmt: skip
        assert stop(proc) == 0
    finally:
        processes.stop_all()
    return where / "capture"


@pytest.mark.parametrize("profile", ["ag-ui", None], ids=["--profile ag-ui", "no profile"])
def test_every_ag_ui_run_over_sse_is_judged_right(recording: Path, profile) -> None:
    report = analyze(recording, profile)
    alice = {f"alice-run-{n}": codes for n, codes in enumerate(EXPECTED.values(), 1)}
    assert {v.run.label: v.codes for v in report} == {
        **alice, "bob-run-1": (), "bob-run-2": (),
    }  # fmt: skip
    assert report.detected is (profile is None) and report.protocol == "ag-ui"


def test_one_post_is_one_recorded_stream_and_a_cut_one_ends_in_a_reset(recording: Path) -> None:
    streams = recorded_streams(recording)
    assert len(streams) == len(RUNS)
    assert {s.open.transport for s in streams} == {"sse"}
    ends = [s.close.end for s in streams]
    assert ends == ["reset" if name == "no_completion" else "complete" for _, _, name in RUNS]
    verdicts = {v.run.label: v for v in analyze(recording, "ag-ui")}
    assert verdicts["alice-run-5"].outcome == "error" and verdicts["alice-run-5"].passed
    assert verdicts["alice-run-4"].first_event_s > 2.0


def test_analyze_cli_names_the_detected_profile_and_exits_1(recording: Path) -> None:
    result = CliRunner().invoke(main, ["analyze", str(recording), "-q"])
    assert result.exit_code == 1
    assert "profile: ag-ui (protocol ag-ui, detected from the frames)" in result.output
