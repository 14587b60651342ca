"""The user's view from hand-written chats, in each of the three wire envelopes: the longest
silence (tool time left out), the first text, the text streamed, a buffered burst, and the
long_silence and slow_first_text failures with the default targets and with others."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from test_runs_rules import GOOD, Chat, only

from wstape import Code
from wstape.analyzer.profile import DEFAULT_PROFILE, profile_from_dict
from wstape.analyzer.reports.junit import junit_xml


@pytest.fixture(params=("payload", "flat", "system_message"))
def chat(request) -> Chat:
    return Chat(request.param).connect("c1", "alice")


def shifted(steps, after: float, by: float):
    """The steps with everything later than `after` seconds moved `by` seconds on."""
    return tuple((o + by if o > after else o, e, f) for o, e, f in steps)


def burst(at: float, steps=GOOD, every: float = 0.001):
    """The steps all arriving `every` seconds apart from `at` on: held back, then let go."""
    return tuple((at + i * every, e, f) for i, (_, e, f) in enumerate(steps))


def test_sixteen_seconds_without_an_event_fails_long_silence(chat: Chat) -> None:
    # Planning, then nothing for 16 s before the tool starts: every other target holds.
    steps = shifted(GOOD, after=0.2, by=16.0)
    verdict = only(chat.run("c1", "alice", "run-1", steps=steps).close("c1", 30).report())
    assert verdict.codes == (Code.LONG_SILENCE,)
    assert verdict.longest_silence_s == pytest.approx(16.1)
    silence = verdict.longest_silence
    assert (silence.after, silence.before) == ("agent_thinking", "tool_executing")
    assert silence.at_s == pytest.approx(0.2)
    assert verdict.failures[0].message == (
        "Nothing new for 16.100s, from agent_thinking at 0.200s to tool_executing (target 15s)"
    )


def test_an_eight_and_a_half_second_tool_within_its_target_passes(chat: Chat) -> None:
    # The screen shows the running tool, and the tool target covers it: not a silence.
    steps = shifted(GOOD, after=0.4, by=8.2)
    verdict = only(chat.run("c1", "alice", "run-1", steps=steps).close("c1", 30).report())
    assert verdict.passed, verdict.failures
    assert verdict.tools[0].duration_s == pytest.approx(8.5)
    assert verdict.longest_silence_s == pytest.approx(0.1, abs=1e-6)


def test_a_silence_just_inside_the_target_passes(chat: Chat) -> None:
    steps = shifted(GOOD, after=0.2, by=14.8)
    verdict = only(chat.run("c1", "alice", "run-1", steps=steps).close("c1", 30).report())
    assert verdict.passed, verdict.failures
    assert verdict.longest_silence_s == pytest.approx(14.9)


def test_a_tool_that_never_completed_hides_no_silence(chat: Chat) -> None:
    # Its end is unknown and no tool target covers it: the time after its start counts.
    steps = tuple(s for s in shifted(GOOD, after=0.4, by=16.0) if s[1] != "tool_completed")
    verdict = only(chat.run("c1", "alice", "run-1", steps=steps).close("c1", 30).report())
    assert Code.LONG_SILENCE in verdict.codes and Code.UNPAIRED_TOOL in verdict.codes
    assert (verdict.longest_silence.after, verdict.longest_silence.before) == (
        "partial_result",
        "agent_thinking",
    )


def test_the_wait_before_the_first_event_and_after_the_last_is_no_silence(chat: Chat) -> None:
    # The first wait is first_event_s's; an event after completion fails order, not silence.
    steps = (*shifted(GOOD, after=0.0, by=3.0), (40.0, "agent_thinking", {"thought": "late"}))
    verdict = only(chat.run("c1", "alice", "run-1", steps=steps).close("c1", 50).report())
    assert verdict.codes == (Code.ORDER, Code.SLOW_FIRST_EVENT)
    assert verdict.longest_silence_s == pytest.approx(0.1, abs=1e-6)


def test_a_run_that_stopped_is_judged_up_to_its_last_event(chat: Chat) -> None:
    steps = ((0.1, "agent_started", {}), (17.0, "agent_thinking", {"thought": "slow"}))
    verdict = only(chat.run("c1", "alice", "run-1", steps=steps).close("c1", 20, None).report())
    assert verdict.codes == (Code.NO_COMPLETION, Code.LONG_SILENCE)
    assert verdict.longest_silence_s == pytest.approx(16.9)


def test_a_run_of_one_event_has_no_silence(chat: Chat) -> None:
    steps = ((0.1, "agent_error", {"error": "no"}),)
    verdict = only(chat.run("c1", "alice", "run-1", steps=steps).close("c1", 5).report())
    assert verdict.longest_silence is None and verdict.longest_silence_s is None


def test_silence_target_comes_from_the_profile_and_the_arguments(chat: Chat) -> None:
    chat.run("c1", "alice", "run-1").close("c1", 5)
    strict = profile_from_dict({"targets": {"max_silence_s": 0.05}})
    assert strict.targets.max_silence_s == 0.05
    assert only(chat.report(strict)).codes == (Code.LONG_SILENCE,)
    assert only(chat.report(DEFAULT_PROFILE.with_targets(max_silence_s=0.05))).codes == (
        Code.LONG_SILENCE,
    )
    assert DEFAULT_PROFILE.targets.max_silence_s == 15.0


def test_first_text_is_the_first_partial_result(chat: Chat) -> None:
    verdict = only(chat.run("c1", "alice", "run-1").close("c1", 5).report())
    assert verdict.first_text_s == pytest.approx(0.4)
    assert verdict.passed  # no first-text target by default


def test_slow_first_text_fails_once_its_target_is_set(chat: Chat) -> None:
    chat.run("c1", "alice", "run-1").close("c1", 5)
    profile = profile_from_dict({"targets": {"max_first_text_s": 0.3}})
    verdict = only(chat.report(profile))
    assert verdict.codes == (Code.SLOW_FIRST_TEXT,)
    assert verdict.failures[0].message == "First text after 0.400s (target 0.3s)"
    assert DEFAULT_PROFILE.targets.max_first_text_s is None


def test_a_run_without_text_has_no_first_text_and_does_not_fail_it(chat: Chat) -> None:
    steps = tuple(s for s in GOOD if s[1] != "partial_result")
    chat.run("c1", "alice", "run-1", steps=steps).close("c1", 5)
    verdict = only(chat.report(DEFAULT_PROFILE.with_targets(max_first_text_s=0.01)))
    assert verdict.first_text_s is None and verdict.stream is None
    assert verdict.passed, verdict.failures


def test_streamed_text_counts_its_characters_and_pace(chat: Chat) -> None:
    chunks = tuple((0.7 + i / 10, "stream_chunk", {"content": "word "}) for i in range(11))
    steps = (*GOOD[:-1], *chunks, (1.9, *GOOD[-1][1:]))
    verdict = only(chat.run("c1", "alice", "run-1", steps=steps).close("c1", 5).report())
    stream = verdict.stream
    # 15 characters of the tool's partial result at 0.4 s, then 11 chunks of "word" (wstape
    # reads text with its spaces collapsed) until 1.7 s.
    assert (stream.events, stream.chars) == (12, 15 + 11 * 4)
    assert stream.span_s == pytest.approx(1.3)
    assert stream.chars_per_s == pytest.approx(59 / 1.3)
    assert verdict.first_text_s == pytest.approx(0.4)


def test_a_held_back_stream_is_named_in_slow_first_event(chat: Chat) -> None:
    steps = burst(3.0)
    verdict = only(chat.run("c1", "alice", "run-1", steps=steps).close("c1", 9).report())
    assert verdict.codes == (Code.SLOW_FIRST_EVENT,)
    assert (verdict.burst.events, verdict.burst.of) == (7, 7)
    assert verdict.burst.wait_s == pytest.approx(3.0)
    assert verdict.failures[0].message == (
        "First event after 3.000s (target 2s); all 7 events arrived in one burst within "
        "0.006s after 3.000s of nothing: the stream looks buffered on the way"
    )


def test_a_start_then_a_held_back_rest_is_named_in_long_silence(chat: Chat) -> None:
    # The backend answers at once, then a layer that holds the stream keeps the rest 16 s.
    steps = (GOOD[0], *burst(16.2, GOOD[1:]))
    verdict = only(chat.run("c1", "alice", "run-1", steps=steps).close("c1", 30).report())
    assert verdict.codes == (Code.LONG_SILENCE,)
    assert (verdict.burst.events, verdict.burst.of) == (6, 7)
    assert "; 6 of 7 events arrived in one burst within 0.005s" in verdict.failures[0].message


def test_a_quick_run_is_no_burst(chat: Chat) -> None:
    # Everything within milliseconds but right away: a fast backend, not a held-back stream.
    verdict = only(chat.run("c1", "alice", "run-1", steps=burst(0.01)).close("c1", 5).report())
    assert verdict.burst is None and verdict.passed


def test_events_that_come_at_a_pace_are_no_burst(chat: Chat) -> None:
    verdict = only(chat.run("c1", "alice", "run-1", steps=burst(3.0, every=0.1)).close("c1", 9)
                   .report())  # fmt: skip
    assert verdict.burst is None and verdict.codes == (Code.SLOW_FIRST_EVENT,)
    assert "buffered" not in verdict.failures[0].message


def test_several_bursts_make_the_summary_say_the_stream_looks_buffered() -> None:
    chat = Chat().connect("c1", "alice")
    for i in range(3):
        chat.run("c1", "alice", f"run-{i}", at=1.0 + 10 * i, steps=burst(3.0))
    report = chat.close("c1", 40).report()
    assert report.tally.bursts == 3 and report.tally.looks_buffered
    summary = report.text(runs=False)
    assert (
        "buffered: 3 of 3 runs got all their events in one burst after a wait; the stream "
        "looks buffered on the way" in summary
    )
    assert report.to_json()["summary"]["buffered"] == {"runs": 3, "looks_buffered": True}


def test_one_burst_among_many_runs_is_not_the_stream() -> None:
    chat = Chat().connect("c1", "alice")
    chat.run("c1", "alice", "run-odd", at=1.0, steps=burst(3.0))
    for i in range(4):
        chat.run("c1", "alice", f"run-{i}", at=10.0 + 5 * i)
    report = chat.close("c1", 40).report()
    assert report.tally.bursts == 1 and not report.tally.looks_buffered
    assert "looks buffered on the way" not in report.text(runs=False).split("SUMMARY")[1]


def test_junit_carries_the_new_codes(chat: Chat) -> None:
    chat.run("c1", "alice", "run-1", steps=shifted(GOOD, after=0.2, by=16.0)).close("c1", 30)
    report = chat.report(DEFAULT_PROFILE.with_targets(max_first_text_s=1.0))
    failure = ET.fromstring(junit_xml(report)).find("testcase/failure")
    assert failure.get("type") == "long_silence,slow_first_text"
    assert failure.get("message").startswith("long_silence: Nothing new for 16.100s")
    assert "slow_first_text: First text after 16.400s (target 1s)" in failure.get("message")


def test_the_run_report_shows_what_the_screen_showed(chat: Chat) -> None:
    text = chat.run("c1", "alice", "run-1").close("c1", 5).report().text()
    assert "First Text: 0.400s" in text
    assert "Longest Silence: 0.100s, from agent_started at 0.100s to agent_thinking" in text
    assert "Streamed Text: 15 chars in 1 event\n" in text
    assert "targets: first event < 2s, each tool < 10s, whole run < 30s, silence < 15s" in text
