"""An AG-UI agent over WebSocket (the demo agent with --protocol ag-ui, built from the
ag-ui-protocol package) recorded through the real recorder: every run judged as a reviewer
would, with `--profile ag-ui` and with no profile at all."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from wstape import analyze
from wstape.analyzer.cli.main import main
from wstape.demo.ag_ui_agent import chat
from wstape.demo.loopback import free_port
from wstape.demo.session import demo_backend
from wstape.recorder.launch import RecordConfig, RecorderProcess

AGENT = ("--protocol", "ag-ui", "--think-delay", "0.01", "--tool-delay", "0.05",
         "--first-delay", "2.2")  # fmt: skip
# Alice's runs, in a row on one connection, and what each must get.
EXPECTED = {
    "good": (),
    "missing_start": ("missing_events", "protocol"),
    "unpaired_tool": ("unpaired_tool",),  # its call ENDs: AG-UI does not oblige a RESULT
    "slow_first": ("slow_first_event",),
    "run_error": (),
    "late_event": ("order", "protocol"),
    "no_completion": ("no_completion",),
}


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("agui") / "capture"
    with demo_backend(*AGENT) as port:
        config = RecordConfig(out=out, upstream=f"http://127.0.0.1:{port}", listen_port=free_port())
        recorder = RecorderProcess(config).start()
        try:
            url = f"ws://127.0.0.1:{config.listen_port}/ws"

            async def users() -> list:
                return await asyncio.gather(
                    chat(url, "alice", list(EXPECTED), quiet=0.3),
                    chat(url, "bob", ["good", "good"], quiet=0.3),
                )

            transcripts = asyncio.run(users())
        finally:
            recorder.stop()
    assert not [t.error for t in transcripts if t.error]
    return out


@pytest.mark.parametrize("profile", ["ag-ui", None], ids=["--profile ag-ui", "no profile"])
def test_every_recorded_ag_ui_run_is_judged_right(recording: Path, profile) -> None:
    report = analyze(recording, profile)
    alice = {f"alice-run-{n}": codes for n, codes in enumerate(EXPECTED.values(), 1)}
    assert {v.run.label: v.codes for v in report} == {
        **alice, "bob-run-1": (), "bob-run-2": (),
    }  # fmt: skip
    assert not report.warnings, report.warnings
    users = {v.run.label: v.run.user_id for v in report}
    assert users["alice-run-3"] == "alice" and users["bob-run-2"] == "bob"
    assert report.detected is (profile is None) and report.protocol == "ag-ui"


def test_graceful_run_error_passes_with_outcome_error(recording: Path) -> None:
    verdicts = {v.run.label: v for v in analyze(recording)}
    assert verdicts["alice-run-5"].outcome == "error" and verdicts["alice-run-5"].passed
    assert verdicts["alice-run-4"].first_event_s > 2.0


def test_analyze_cli_exits_1_and_names_the_profile(recording: Path) -> None:
    result = CliRunner().invoke(main, ["analyze", str(recording), "-q"])
    assert result.exit_code == 1
    assert "profile: ag-ui (protocol ag-ui, detected from the frames)" in result.output
