"""Everything offline treats an HTTP stream like a connection: `wstape export` (frames, events,
runs), `wstape.load()` and `wstape.load_runs()`, the text and HTML reports and `wstape compare`
on captures of Anthropic streams (tests/test_sse_anthropic.py builds them with the anthropic
package), with a tool answered by the next request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streams import Streams, analyze, wstape
from test_sse_anthropic import PATH, answer, ask, reply, start, stop, text, tool_use
from test_sse_anthropic import every_case as every_case  # noqa: F401  (a fixture used here)

import wstape as api


def test_export_writes_each_request_body_and_event_as_a_frame(every_case: Path) -> None:  # noqa: F811
    result = wstape("export", str(every_case))
    assert result.returncode == 0, result.stderr
    frames = [json.loads(line) for line in result.stdout.splitlines()]
    call = [f for f in frames if f["connection"] == "tool-call"]
    body = json.loads(call[0]["text"])
    assert call[0]["direction"] == "client" and body["messages"][0]["content"] == "weather?"
    assert [json.loads(f["text"])["type"] for f in call[1:3]] == [
        "message_start",
        "content_block_start",
    ]
    assert {f["direction"] for f in call[1:]} == {"server"}


def test_load_reads_a_stream_as_the_analyzer_does(every_case: Path) -> None:  # noqa: F811
    frame = api.load(every_case)
    call = frame[frame["connection"] == "tool-call"]
    assert list(call["type"][:3]) == ["messages.create", "message_start", "text"]
    tool = call[call["canonical"] == "tool_executing"].iloc[0]
    assert (tool["type"], tool["tool_name"], tool["execution_id"], tool["run_id"]) == (
        "tool_use", "get_weather", "toolu_paris", "msg_call"
    )  # fmt: skip
    answered = frame[(frame["connection"] == "tool-answer") & (frame["type"] == "tool_result")]
    assert list(answered["execution_id"]) == ["toolu_paris"]
    assert list(answered["direction"]) == ["client"]
    assert set(frame["envelope"].dropna()) == {"anthropic"}


def test_load_runs_and_export_runs_give_each_stream_its_verdict(every_case: Path) -> None:  # noqa: F811
    runs = api.load_runs(every_case).set_index("connections")
    assert runs.loc["tool-call", "status"] == "passed"
    assert runs.loc["tool-call", "slowest_tool_s"] == pytest.approx(1.01)
    assert runs.loc["in-flight", "status"] == "cut_short"  # neither passed nor failed
    assert runs.loc["cut", "codes"] == "no_completion"
    result = wstape("export", str(every_case), "--runs", "--format", "csv")
    assert result.returncode == 0 and result.stdout.count("\n") == len(runs) + 1


def test_text_report_timeline_ends_with_the_answer_from_the_next_request(
    every_case: Path,  # noqa: F811
) -> None:
    result = wstape("analyze", str(every_case))
    assert result.returncode == 1
    report = result.stdout.split("REPORT - msg_call")[1].split("REPORT - ")[0]
    assert "tool_result - sunny, 21 C [on tool-answer]" in report
    assert "Connections: tool-call" in report


def test_html_report_of_streams(every_case: Path, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "report.html"
    result = wstape("analyze", str(every_case), "--html", str(out), "-q")
    assert result.returncode == 1, result.stderr
    html = out.read_text()
    assert "msg_call" in html and "anthropic" in html
    # The tool's result is in the events of the request that carried it, and closes those of
    # the run whose call it answers.
    assert html.count("<td class=mono>tool_result</td><td class=mono>tool-answer</td>") == 2


def release(out: Path, tool_s: float) -> Path:
    """Eight tool conversations of two requests each; the client takes `tool_s` per tool."""
    streams = Streams(out)
    for n in range(8):
        call = f"toolu_{out.name}_{n}"
        streams.post(f"call-{n}", PATH, ask("weather?"),
                     [start(f"msg_{n}"), *text(0, "Checking"), *tool_use(1, call),
                      *stop("tool_use")])  # fmt: skip
        streams.post(f"answer-{n}", PATH, answer("weather?", call), reply(f"msg_a{n}"),
                     after=tool_s + 0.01 * n)  # fmt: skip
    return streams.done()


def test_compare_sees_a_client_whose_tools_got_slower(tmp_path: Path) -> None:
    base = release(tmp_path / "base", 0.5)
    slower = release(tmp_path / "slower", 4.0)
    result = wstape("compare", str(base), str(slower), "--json", "-")
    assert result.returncode == 1, result.stderr
    compared = json.loads(result.stdout)
    assert any("get_weather" in name for name in compared["regressed"]), compared["regressed"]
    _, report = analyze(slower)
    assert report["summary"]["failed"] == 0  # 4 s is within the 10 s tool target
