"""The user's view on real traffic: the demo backend behind the real recorder (mitmdump). A backend
that goes quiet between steps fails long_silence while one with a long tool passes; a backend
whose events are held back and let go at once is reported as buffered; and compare flags a
release whose silences grew."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from recordings import FAST, recorded

from wstape.analyzer.cli.analyze import analyze_command
from wstape.analyzer.cli.compare import compare_command
from wstape.demo.loopback import free_port
from wstape.demo.players import chat, user_message
from wstape.demo.session import demo_backend
from wstape.recorder.launch import RecordConfig, RecorderProcess


def record(out: Path, backend_args: tuple[str, ...], messages: dict[str, dict]) -> Path:
    """Each user sends its one message at once through a real recorder; returns the capture."""
    with demo_backend(*backend_args) as port:
        config = RecordConfig(out=out, upstream=f"http://127.0.0.1:{port}", listen_port=free_port())
        with RecorderProcess(config):
            url = f"ws://127.0.0.1:{config.listen_port}/ws"

            async def everyone():
                return await asyncio.gather(
                    *[chat(url, user, [message], timeout=10) for user, message in messages.items()]
                )

            transcripts = asyncio.run(everyone())
    assert not [t.error for t in transcripts if t.error]
    return out


def analyze_json(capture: Path, *options: str) -> tuple[int, dict]:
    result = CliRunner().invoke(analyze_command, [str(capture), "-q", "--json", "-", *options])
    return result.exit_code, json.loads(result.stdout)


def by_user(report: dict) -> dict[str, dict]:
    return {run["user_id"]: run for run in report["runs"]}


def test_a_silent_backend_fails_long_silence_and_a_long_tool_passes(tmp_path: Path) -> None:
    # 16 s of silence against 15 s, and a tool longer than that within its own target, scaled
    # down with room for a loaded machine: 0.8 s of silence against 0.5 s, a 0.7 s tool.
    messages = {
        "quiet": user_message("silent", 1, {"silence_delay": 0.8}),
        "busy": user_message("good", 1, {"tool_delay": 0.7}),
    }
    capture = record(tmp_path / "capture", FAST, messages)
    code, report = analyze_json(capture, "--max-silence-s", "0.5", "--max-tool-s", "1")
    assert code == 1
    assert report["summary"]["targets"]["max_silence_s"] == 0.5
    quiet, busy = by_user(report)["quiet"], by_user(report)["busy"]
    assert [f["code"] for f in quiet["failures"]] == ["long_silence"]
    assert quiet["longest_silence_s"] == pytest.approx(0.8, abs=0.2)
    assert quiet["longest_silence"]["after"] == "agent_thinking"
    assert quiet["longest_silence"]["before"] == "tool_executing"
    assert "from agent_thinking at" in quiet["failures"][0]["message"]
    assert busy["status"] == "passed", busy["failures"]
    assert busy["tools"][0]["duration_s"] > 0.5 and busy["longest_silence_s"] < 0.5
    assert busy["first_text_s"] < 0.5 and busy["stream"]["chars"] == len("found 3 results")


def test_a_buffered_stream_is_reported_as_buffered(tmp_path: Path) -> None:
    # The backend holds each run's events until its end (1.3 s of pauses), then lets them go.
    backend = (*FAST, "--think-delay", "0.25", "--tool-delay", "0.3", "--buffer")
    messages = {f"user-{i}": user_message("good", 1) for i in range(2)}
    capture = record(tmp_path / "capture", backend, messages)
    code, report = analyze_json(capture, "--max-first-event-s", "0.5")
    assert code == 1
    assert report["summary"]["buffered"] == {"runs": 2, "looks_buffered": True}
    for run in report["runs"]:
        assert run["buffered"]["events"] == run["buffered"]["of"] == 7
        assert run["buffered"]["wait_s"] > 1.0 and run["buffered"]["span_s"] < 0.05
        (failure,) = run["failures"]
        assert failure["code"] == "slow_first_event"
        assert "all 7 events arrived in one burst" in failure["message"]
        assert "the stream looks buffered on the way" in failure["message"]
    text = CliRunner().invoke(analyze_command, [str(capture), "-q"]).stdout
    assert "buffered: 2 of 2 runs got all their events in one burst after a wait" in text


def test_compare_flags_a_release_whose_silences_grew(tmp_path_factory) -> None:
    base = recorded(tmp_path_factory, "base")
    quiet = recorded(tmp_path_factory, "long-silences")
    result = CliRunner().invoke(compare_command, [str(base), str(quiet), "--json", "-"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert "longest_silence_s" in data["regressed"]
    silence = next(m for m in data["metrics"] if m["metric"] == "longest_silence_s")
    assert silence["verdict"] == "regressed" and silence["test"] == "mann-whitney-u"
    assert silence["candidate"]["p50"] > 0.45 > silence["baseline"]["p50"]
    # The same events: nothing went missing, only the pauses grew.
    assert "events_per_run" not in data["regressed"] and "pass_rate" not in data["regressed"]


def test_compare_leaves_slower_tools_out_of_the_silences(tmp_path_factory) -> None:
    base = recorded(tmp_path_factory, "base")
    slow = recorded(tmp_path_factory, "slow-tools")
    result = CliRunner().invoke(compare_command, [str(base), str(slow), "--json", "-"])
    data = json.loads(result.stdout)
    assert "tool_s:search" in data["regressed"]
    assert "longest_silence_s" not in data["regressed"]


def test_plots_and_html_mark_the_silences(tmp_path_factory) -> None:
    from wstape import analyze as analyze_captures
    from wstape.analyzer.reports.html import report_html
    from wstape.analyzer.reports.plots import report_figure

    report = analyze_captures(recorded(tmp_path_factory, "long-silences"), max_silence_s=0.3)
    assert len(report.failed) == len(report) == 12
    figure = report_figure(report)
    marks = [t.get_text() for t in figure.axes[0].texts if t.get_text().startswith("silent ")]
    assert len(marks) == 12  # each failed silence labelled on its run's timeline
    titles = [ax.get_title(loc="left") for ax in figure.axes]
    assert any(
        t.startswith("Longest silence per run, tool time left out (s)\nn=12") for t in titles
    )
    assert any(t.startswith("First text after the user's message (s)\nn=12") for t in titles)
    html = report_html(report, max_runs=1)
    assert "<th>first text</th><th>longest silence</th>" in html
    assert "silence &lt; 0.3 s" in html
    assert "Longest Silence: 0." in html and "from agent_thinking at" in html
