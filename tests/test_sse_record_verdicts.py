"""Anthropic's Messages stream (`event:` + `data:`, pings, events split across chunks and two in one
chunk) and the Vercel AI SDK's UI message stream, served by a real backend and recorded through a
real `wstape record`, then judged by `wstape analyze` with their profiles and with none: the same
verdicts as the offline cases (tests/test_sse_anthropic.py, test_sse_vercel_ai.py) give, and a
tool call that the next request answers paired across the two requests."""

from __future__ import annotations

from pathlib import Path

import pytest
import test_sse_anthropic as claude
import test_sse_vercel_ai as vercel
from conftest import Processes
from sse_streams import cut, fetch, recorded_streams, sse, start_sse_backend
from streams import Sse, analyze

from wstape.demo.loopback import stop
from wstape.demo.sse_backend import stream

# Chunk sizes that end inside events and hold several: every event boundary case in one stream.
SIZES = (5, 180, 31, 400, 2)


def served(events: list[Sse], first: float, end: str) -> dict:
    body = "".join(sse(e.event, e.data) for e in events)
    chunks = cut(body, SIZES, delay=0.005)
    chunks[0] = (first, chunks[0][1])
    if "ping" in body:  # a comment keep-alive before the first event, in a chunk of its own
        chunks.insert(0, (0.0, ": keep-alive\n\n"))
    return stream(chunks, end)


# name → (request body, events, first-event delay, how the backend ends it, expected verdict)
ANTHROPIC = {
    "happy": (claude.ask("hi"), claude.reply("msg_happy"), 0.05, "complete"),
    "tool-call": (claude.ask("weather?"), [claude.start("msg_call"), *claude.text(0, "Checking."),
                  *claude.tool_use(1, "toolu_paris"), *claude.stop("tool_use")], 0.05,
                  "complete"),
    "tool-answer": (claude.answer("weather?", "toolu_paris"), claude.reply("msg_answer"), 0.05,
                    "complete"),
    "missing-start": (claude.ask("hi"), claude.reply("msg_x")[1:], 0.05, "complete"),
    "cut": (claude.ask("hi"), claude.reply("msg_cut")[:7], 0.05, "cut"),
    "slow-first": (claude.ask("hi"), claude.reply("msg_slow"), 2.4, "complete"),
    "overloaded": (claude.ask("hi"), [claude.start("msg_err"), *claude.text(0, "Hm")[:2],
                   claude.overloaded()], 0.05, "complete"),
}  # fmt: skip
VERCEL = {
    "happy": (vercel.chat("weather?", 1), vercel.message(1, *vercel.reasoning(1),
              *vercel.tool("call-1"), *vercel.text(1, "It is ", "sunny.")), 0.05, "complete"),
    "unpaired-tool": (vercel.chat("weather?", 3), vercel.message(3, *vercel.tool("call-3")[:1],
                      *vercel.text(3, "Sunny")), 0.05, "complete"),
    "cut": (vercel.chat("hi", 4), vercel.message(4, *vercel.text(4, "It ", "is"))[:4], 0.05,
            "cut"),
    "error": (vercel.chat("hi", 6), vercel.message(6, *vercel.text(6, "Hm"),
              vercel.part("error", errorText="Rate limited"), finish=False) + [vercel.DONE],
              0.05, "complete"),
    "client-tool": (vercel.chat("where am I?", 9), vercel.message(9, vercel.part(
                    "tool-input-available", toolCallId="call-9", toolName="getLocation",
                    input={})), 0.05, "complete"),
    "client-answer": (vercel.answered("where am I?", 9, "call-9"),
                      vercel.message(10, *vercel.text(10, "You are in Paris.")), 0.05,
                      "complete"),
}  # fmt: skip


def record(where: Path, path: str, cases: dict) -> tuple[Path, list[str]]:
    """Every case POSTed in turn through the recorder; the capture and the cases' names in the
    order their streams opened."""
    processes = Processes(where)
    try:
        responses = [served(events, first, end) for _, events, first, end in cases.values()]
        backend = start_sse_backend(processes, responses)
        proc, port = processes.record(backend.url, where / "capture")
        for body, *_ in cases.values():
            fetch(f"http://127.0.0.1:{port}{path}", body)
        assert stop(proc) == 0
    finally:
        processes.stop_all()
    streams = recorded_streams(where / "capture")
    assert len(streams) == len(cases)
    names = {s.open.connection: name for s, name in zip(streams, cases, strict=True)}
    return where / "capture", names


def judged(capture: Path, names: dict[str, str], *args: str) -> dict:
    code, report = analyze(capture, *args)
    assert code == 1  # every table holds failures
    return {names[run["connections"][0]]: (run["status"], run["outcome"],
                                           [f["code"] for f in run["failures"]])
            for run in report["runs"]}, report  # fmt: skip


@pytest.fixture(scope="module")
def anthropic_capture(tmp_path_factory) -> tuple[Path, dict]:
    return record(tmp_path_factory.mktemp("claude-rec"), claude.PATH, ANTHROPIC)


@pytest.fixture(scope="module")
def vercel_capture(tmp_path_factory) -> tuple[Path, dict]:
    return record(tmp_path_factory.mktemp("vercel-rec"), vercel.PATH, VERCEL)


@pytest.mark.parametrize("profile", [["--profile", "anthropic"], []], ids=["profile", "sniffed"])
def test_a_recorded_anthropic_stream_is_judged_as_offline(anthropic_capture, profile) -> None:
    capture, names = anthropic_capture
    verdicts, report = judged(capture, names, *profile)
    assert verdicts == {name: claude.EXPECTED[name] for name in ANTHROPIC}
    assert report["summary"]["profile"]["protocol"] == "anthropic"
    assert not report["summary"]["warnings"]  # pings and comments are control, not strays
    tools = {names[r["connections"][0]]: r["tools"] for r in report["runs"]}
    assert [t["execution_id"] for t in tools["tool-call"]] == ["toolu_paris"]
    assert tools["tool-call"][0]["duration_s"] > 0  # paired with the next request


def test_every_anthropic_event_is_recorded_once_whatever_the_chunking(anthropic_capture) -> None:
    capture, _ = anthropic_capture
    streams = recorded_streams(capture)
    for recorded, (_, events, _, end) in zip(streams, ANTHROPIC.values(), strict=True):
        sent = [(e.event, e.data) for e in events]
        assert recorded.events == sent[: len(recorded.events)]
        assert len(recorded.events) == len(sent)  # even the cut one: its events came first
        assert recorded.close.end == {"complete": "complete", "cut": "reset"}[end]


@pytest.mark.parametrize("profile", [["--profile", "vercel-ai"], []], ids=["profile", "sniffed"])
def test_a_recorded_vercel_ui_stream_is_judged_as_offline(vercel_capture, profile) -> None:
    capture, names = vercel_capture
    verdicts, report = judged(capture, names, *profile)
    assert verdicts == {name: vercel.EXPECTED[name] for name in VERCEL}
    assert report["summary"]["profile"]["protocol"] == "vercel-ai"


CAPTURES = Path(__file__).resolve().parent.parent / "captures"


@pytest.mark.parametrize(
    "name, cases, expected",
    [("anthropic", ANTHROPIC, claude.EXPECTED), ("vercel-ai", VERCEL, vercel.EXPECTED)],
    ids=["anthropic", "vercel-ai"],
)
def test_the_sample_stream_captures_give_the_recorded_verdicts(name, cases, expected) -> None:
    # captures/anthropic and captures/vercel-ai are this file's `record` of ANTHROPIC and
    # VERCEL through wstape record, kept so the format and rules stay readable on disk.
    capture = CAPTURES / name
    streams = recorded_streams(capture)
    names = {s.open.connection: case for s, case in zip(streams, cases, strict=True)}
    verdicts, report = judged(capture, names)
    assert verdicts == {case: expected[case] for case in cases}
    assert report["summary"]["profile"] == {"name": name, "protocol": name, "detected": True}
