"""The analysis split over real worker processes and a real Dask cluster must give what one
process gives: the same JSON report, the same run reports streamed in the same order, the same
warnings, the same error, on captures whose runs span segments, connections and sessions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_runs_rules import GOOD, Chat, ids

from wstape import analyze
from wstape.analyzer import parallel
from wstape.analyzer.cli.analyze import analyze_command
from wstape.analyzer.parallel import pack_event, unpack_event
from wstape.analyzer.profile import DEFAULT_PROFILE
from wstape.analyzer.protocols.events import EVENT_FIELDS, Event
from wstape.analyzer.sources.reading import parts, read_records
from wstape.recorder.capture import CaptureError, CaptureWriter, Message

SESSIONS = ("20260101T000000-101-aaaaaa", "20260101T000001-202-bbbbbb")


def busy_chat(offset: float, prefix: str, users: int = 24) -> Chat:
    """Overlapping runs: good ones, broken ones, reconnects, odd frames, pings."""
    chat = Chat()
    for n in range(users):
        at, user, conn = offset + n * 0.3, f"{prefix}-user-{n}", f"{prefix}-c{n}"
        chat.connect(conn, user, at)
        for k in range(12):
            chat.raw(conn, at + 0.01 + k * 0.03, b'{"type": "ping"}', from_client=False)
        if n % 5 == 0:  # dropped mid-run, resumed on a new connection
            run = ids(f"{prefix}-run-{n}", user)
            chat.say(conn, at + 0.05).play(conn, at + 0.05, run, GOOD[:3])
            chat.close(conn, at + 0.45, 1012)
            chat.connect(f"{conn}b", user, at + 0.5)
            resume = {"type": "resume", "payload": {"run_id": run["run_id"]}}
            chat.raw(f"{conn}b", at + 0.55, json.dumps(resume).encode())
            chat.play(f"{conn}b", at + 0.05, run, GOOD[4:]).close(f"{conn}b", at + 3)
            continue
        steps = GOOD if n % 3 else GOOD[:4]  # every third never completes
        chat.run(conn, user, f"{prefix}-run-{n}", at + 0.05, steps)
        if n % 4 == 1:
            chat.raw(conn, at + 0.9, bytes(range(256)), is_text=False)
            chat.raw(conn, at + 0.95, b"not json")
        chat.close(conn, at + 2)
    chat.records.sort(key=lambda record: record.ts)
    return chat


def write_session(out: Path, records: list, session: str, segment_bytes: int = 4096) -> None:
    writer = CaptureWriter(out, session=session, segment_bytes=segment_bytes, flush_bytes=512)
    for record in records:
        writer.write(record)
    writer.close_all()


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    """Two recorder sessions at once in one folder, each rotated into many small segments."""
    out = tmp_path / "capture"
    write_session(out, busy_chat(0.0, "a").records, SESSIONS[0])
    write_session(out, busy_chat(0.1, "b").records, SESSIONS[1])
    return out


def run(paths, **split) -> tuple[dict, list[str], list[str]]:
    """The JSON report, the run reports in the order they streamed, and the warnings."""
    streamed, warned = [], []
    report = analyze(
        paths, warn=warned.append, keep_events=False, **split,
        on_verdict=lambda v: streamed.append(json.dumps([v.run.label, v.run.connections])),
    )  # fmt: skip
    return report.to_json(), streamed, warned


def test_the_capture_really_is_split_and_spans_segments(capture: Path) -> None:
    found = parts(capture)
    assert len(found) > 20
    assert {part.session for part in found} == set(SESSIONS)
    report, _, _ = run(capture)
    spanning = [r for r in report["runs"] if len(r["connections"]) == 2]
    assert spanning and all(r["status"] == "passed" for r in spanning)
    assert report["summary"]["failed"] > 0


def test_worker_processes_give_the_single_process_report(capture: Path) -> None:
    assert run(capture, workers=3) == run(capture, workers=1)


def test_many_inputs_at_once_give_the_single_process_report(tmp_path: Path, capture) -> None:
    other = tmp_path / "other"
    write_session(other, busy_chat(50.0, "c", users=6).records, SESSIONS[0], 2048)
    paths = [capture, other, capture]
    assert run(paths, workers=2) == run(paths, workers=1)


def test_truncated_segments_warn_in_the_same_order(capture: Path) -> None:
    segments = sorted(capture.iterdir())
    for segment in (segments[3], segments[-4]):
        with open(segment, "ab") as file:
            file.write(b"\x96\x02\x00\xcb\x41")  # a message record cut short by a kill
    single = run(capture, workers=1)
    assert len(single[2]) == 2 and "truncated last record" in single[2][0]
    assert run(capture, workers=2) == single


def error_and_streamed(path: Path, **split) -> tuple[str, list[str]]:
    streamed: list[str] = []
    with pytest.raises(CaptureError) as caught:
        analyze(path, on_verdict=lambda v: streamed.append(v.run.label), **split)
    return str(caught.value), streamed


def test_a_corrupt_segment_fails_at_the_same_point(capture: Path) -> None:
    segment = sorted(capture.iterdir())[-6]
    with open(segment, "ab") as file:
        file.write(b"\x94\x07\x00\xcb" + bytes(8) + b"\x80")  # record type 7 does not exist
    single = error_and_streamed(capture, workers=1)
    assert segment.name in single[0] and single[1]
    assert error_and_streamed(capture, workers=2) == single


def test_an_unreadable_input_fails_when_its_turn_comes(tmp_path: Path, capture) -> None:
    missing = tmp_path / "missing"
    streamed: list[str] = []
    with pytest.raises(CaptureError, match="missing: no such file"):
        analyze([capture, missing], workers=2, on_verdict=lambda v: streamed.append(v))
    assert streamed, "the first capture was judged before the second failed"


def test_events_travel_as_tuples_and_come_back_equal(capture: Path) -> None:
    assert EVENT_FIELDS == tuple(f.name for f in fields(Event))
    decoder = DEFAULT_PROFILE.protocol.decoder()
    for record in read_records(capture):
        if isinstance(record, Message):
            for event in decoder.feed(record):
                assert unpack_event(pack_event(event)) == event


def test_cli_workers_gives_the_same_json(capture: Path) -> None:
    outputs = []
    for workers in ("1", "2"):
        result = CliRunner().invoke(
            analyze_command, [str(capture), "--json", "-", "--workers", workers]
        )
        assert result.exit_code == 1, result.output  # some runs fail on purpose
        outputs.append(json.loads(result.stdout))
    assert outputs[0] == outputs[1]


def test_workers_and_dask_together_is_a_usage_error(capture: Path) -> None:
    result = CliRunner().invoke(
        analyze_command, [str(capture), "--workers", "2", "--dask", "tcp://127.0.0.1:1"]
    )
    assert result.exit_code == 2
    assert "--workers and --dask exclude each other" in result.stderr


def test_an_unreachable_dask_scheduler_is_one_line_exit_2(capture: Path, monkeypatch) -> None:
    pytest.importorskip("distributed")
    monkeypatch.setattr(parallel, "DASK_CONNECT_S", 1.0)  # not ten seconds of a test's time
    result = CliRunner().invoke(analyze_command, [str(capture), "--dask", "tcp://127.0.0.1:9"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "tcp://127.0.0.1:9" in lines[0], result.stderr
    assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, silence_logs=40,
    )  # fmt: skip
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def test_dask_local_cluster_gives_the_single_process_report(capture: Path, dask_cluster) -> None:
    assert run(capture, dask=dask_cluster) == run(capture, workers=1)


def test_cli_on_dask_prints_the_same_json(capture: Path, dask_cluster) -> None:
    single = CliRunner().invoke(analyze_command, [str(capture), "--json", "-", "--workers", "1"])
    on_dask = CliRunner().invoke(
        analyze_command, [str(capture), "--json", "-", "--dask", dask_cluster]
    )
    assert on_dask.exit_code == single.exit_code == 1, on_dask.output
    assert json.loads(on_dask.stdout) == json.loads(single.stdout)


def test_the_default_is_one_process_per_cpu_this_one_included() -> None:
    from wstape.analyzer.parallel import default_workers

    assert default_workers() == len(os.sched_getaffinity(0))


def test_a_script_without_a_main_guard_can_split_analysis_after_analysis(tmp_path: Path) -> None:
    """Each pool is forked while the process runs no other thread: a closed pool's threads are
    waited out, or the next pool would start by forkserver, which runs the unguarded script
    again in its server."""
    small = tmp_path / "small"
    write_session(small, busy_chat(0.0, "a", users=3).records, SESSIONS[0], 1 << 20)
    script = (
        "import json, sys, wstape\n"
        "reports = [wstape.analyze(sys.argv[1], 'default', workers=2) for _ in range(12)]\n"
        "print('\\n'.join(json.dumps(report.to_json()) for report in reports))\n"
    )
    (tmp_path / "script.py").write_text(script)
    done = subprocess.run(
        [sys.executable, str(tmp_path / "script.py"), str(small)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 12 and len(set(lines)) == 1
