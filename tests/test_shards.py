"""Captures whose runs cross the shards of a split analysis (analyzer/parallel): a leak to every
user's connection, a reconnect whose URL does not say who reconnects, runs named by their number
that leak; a protocol whose events are not timed at their frames; one segment of four users.
Each is judged on one process and on two or three, with the same reports to the byte (JSON, text,
JUnit, the runs table), the same runs streamed in the same order, and the same warnings; and
each test checks that the split it relies on really happened."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_openai_realtime import PROFILE as REALTIME
from test_openai_realtime import recorded as realtime  # noqa: F401  (a fixture)
from test_parallel import dask_cluster  # noqa: F401  (a fixture)
from test_runs_rules import GOOD, T0, Chat
from test_scenarios_recorded import record_scenarios
from test_sse_record_verdicts import vercel_capture  # noqa: F401  (a fixture)

from wstape import analyze
from wstape.analyzer.api import Analysis, resolve_profile
from wstape.analyzer.cli.analyze import analyze_command
from wstape.analyzer.export.runs import runs_frame
from wstape.analyzer.parallel.merge import crossed
from wstape.analyzer.parallel.owners import Shard
from wstape.analyzer.parallel.shard import judge
from wstape.analyzer.reports.junit import junit_xml
from wstape.recorder.capture import Open


def outputs(path: Path, profile=None, **split) -> dict:
    """Everything a user reads of an analysis, as text."""
    streamed: list[str] = []
    warned: list[str] = []
    report = analyze(
        path, profile, warn=warned.append,
        on_verdict=lambda v: streamed.append(f"{v.run.label} {v.run.connections} {v.warnings}"),
        **split,
    )  # fmt: skip
    return {
        "json": json.dumps(report.to_json()),
        "text": report.text(),
        "junit": junit_xml(report),
        "runs": runs_frame(report).to_csv(),
        "streamed": streamed,
        "warnings": warned,
    }


def shards(path: Path, count: int, profile=None) -> list:
    """The first pass's results, as each shard of `count` gives them."""
    resolved = resolve_profile(profile)
    return [
        judge(Shard(str(path), index, count), resolved, Analysis, False, None, remote=False)
        for index in range(count)
    ]


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory) -> Path:
    """Every demo scenario, one user each, through the real recorder: `leak` sends a run's
    event to every connection open, `reconnect` continues a run on a new connection."""
    out = tmp_path_factory.mktemp("scenarios") / "capture"
    record_scenarios(out)
    return out


def test_every_demo_scenario_is_judged_the_same_on_two_and_three_processes(scenarios) -> None:
    crossing = crossed(shards(scenarios, 2))
    assert crossing and len(crossing[0]) > 2, "the leak should join shards"
    single = outputs(scenarios)
    assert "isolation" in single["json"] and len(single["streamed"]) > 10
    assert outputs(scenarios, workers=2) == single
    assert outputs(scenarios, workers=3) == single


def test_the_cli_writes_the_same_files_and_prints_the_same(scenarios, tmp_path) -> None:
    written = []
    for workers in ("1", "2"):
        out = tmp_path / workers
        out.mkdir()
        result = CliRunner().invoke(
            analyze_command,
            [str(scenarios), "--workers", workers, "--json", str(out / "r.json"),
             "--junit", str(out / "r.xml")],
        )  # fmt: skip
        assert result.exit_code == 1, result.output  # the broken scenarios fail
        written.append((result.stdout, (out / "r.json").read_bytes(), (out / "r.xml").read_bytes()))
    assert written[0] == written[1]


def reconnects_unnamed() -> Chat:
    """Users whose URLs do not name them: a connection is placed by its first message, so a
    reconnect that resumes a run lands wherever its run id sends it."""
    chat = Chat()
    for n in range(6):
        conn, run = f"c{n}", {"run_id": f"run-{n}", "thread_id": f"thread-{n}"}
        chat.records.append(Open(conn, T0 + n, "ws://backend/ws", "/ws", None, None, None))
        chat.say(conn, n + 0.1, thread_id=f"thread-{n}").play(conn, n + 0.1, run, GOOD[:3])
        chat.close(conn, n + 0.5, 1012)
        again = f"c{n}b"
        chat.records.append(Open(again, T0 + n + 0.6, "ws://backend/ws", "/ws", None, None, None))
        resume = {"type": "resume", "payload": {"run_id": f"run-{n}"}}
        chat.raw(again, n + 0.7, json.dumps(resume).encode())
        chat.play(again, n + 0.1, run, GOOD[4:]).close(again, n + 3)
    chat.records.sort(key=lambda record: record.ts)
    return chat


def test_a_reconnect_placed_in_another_shard_is_one_run(tmp_path) -> None:
    path = reconnects_unnamed().write(tmp_path / "capture")
    assert crossed(shards(path, 2)), "some reconnects should land in the other shard"
    single = outputs(path)
    runs = json.loads(single["json"])["runs"]
    assert len(runs) == 6 and all(len(r["connections"]) == 2 for r in runs)
    assert outputs(path, workers=2) == single


def numbered_leaks() -> Chat:
    """Runs with no run id (named by their thread and number) on many users' connections; some
    send an event to another user's connection, whose run is told which run it came from."""
    chat = Chat()
    for n in range(8):
        chat.connect(f"c{n}", f"user-{n}", n * 0.01)
    for k in range(24):
        n, at = k % 8, 1.0 + k * 0.5
        conn, ids = f"c{n}", {"thread_id": f"thread-{k}", "user_id": f"user-{n}"}
        chat.say(conn, at, thread_id=f"thread-{k}").play(conn, at, ids, GOOD[:4])
        if k % 5 == 2:  # a partial result goes to another user's connection too
            chat.send(f"c{(n + 1 + k % 2) % 8}", at + 0.45, "partial_result", ids, content="x")
        chat.play(conn, at, ids, GOOD[4:])
    for n in range(8):
        chat.close(f"c{n}", 20.0)
    chat.records.sort(key=lambda record: record.ts)
    return chat


def test_leaks_name_the_run_they_came_from_by_its_number_in_the_capture(tmp_path) -> None:
    path = numbered_leaks().write(tmp_path / "capture")
    single = outputs(path)
    received = [line for line in single["streamed"] if "got partial_result of run thread-" in line]
    assert len(received) >= 4, single["streamed"]
    first_pass = shards(path, 2)
    assert any(result.relabels for result in first_pass), "a leak within one shard, renumbered"
    assert crossed(first_pass), "and leaks across shards, judged again together"
    assert outputs(path, workers=2) == single
    assert outputs(path, workers=3) == single


def test_a_protocol_that_times_an_event_before_its_frame_is_judged_in_one_process(
    realtime,  # noqa: F811
) -> None:
    assert not all(result.shardable for result in shards(realtime, 2, REALTIME))
    assert outputs(realtime, REALTIME, workers=2) == outputs(realtime, REALTIME)


def test_one_segment_of_four_users_is_split_two_and_two(tmp_path) -> None:
    chat = Chat()
    for n in range(4):
        chat.connect(f"c{n}", f"user-{n}", n * 0.01)
        for k in range(15):
            chat.run(f"c{n}", f"user-{n}", f"run-{n}-{k}", 1.0 + k + n * 0.1)
    chat.records.sort(key=lambda record: record.ts)
    path = chat.write(tmp_path / "capture")
    assert len(list(path.iterdir())) == 1
    results = shards(path, 2)
    assert [len(result.owned) for result in results] == [2, 2]
    assert not crossed(results)
    assert outputs(path, workers=2) == outputs(path)


def test_a_leak_on_a_dask_cluster_is_judged_as_in_one_process(
    scenarios,
    dask_cluster,  # noqa: F811
) -> None:
    assert outputs(scenarios, dask=dask_cluster) == outputs(scenarios)


def test_runs_that_wait_for_a_later_request_are_judged_in_one_process(
    vercel_capture,  # noqa: F811
) -> None:
    """The Vercel AI stream hands a tool call to the client, whose result comes in the next
    request, on another connection (pipeline/handoff.py): judged in one process, the same."""
    path, _ = vercel_capture
    single = outputs(path)
    tools = [tool for run in json.loads(single["json"])["runs"] for tool in run["tools"]]
    answered = [t for t in tools if t["name"] == "getLocation" and t["duration_s"] is not None]
    assert answered, "the client's tool result paired across its two requests"
    assert outputs(path, workers=2) == single
