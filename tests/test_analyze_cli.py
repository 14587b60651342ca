"""`wstape analyze` run for real on captures written with the capture writer: exit codes, the
report on stdout, warnings on stderr, JSON and JUnit files, and one-line errors for bad input."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import msgpack
import pytest
from click.testing import CliRunner
from test_runs_rules import GOOD, Chat

from wstape.analyzer.cli.analyze import analyze_command

ROOT = Path(__file__).resolve().parent.parent


def invoke(*args: str | os.PathLike):
    return CliRunner().invoke(analyze_command, [str(a) for a in args])


def good_capture(tmp_path: Path, name: str = "good") -> Path:
    chat = Chat().connect("c1", "alice").run("c1", "alice", "run-1").close("c1", 5)
    return chat.write(tmp_path / name)


def failing_capture(tmp_path: Path) -> Path:
    steps = tuple(s for s in GOOD if s[1] != "tool_completed")
    chat = Chat().connect("c1", "bob").run("c1", "bob", "run-2", steps=steps).close("c1", 5)
    return chat.write(tmp_path / "failing")


def assert_one_line_error(result, *parts: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    for part in parts:
        assert part in lines[0]
    assert "Traceback" not in result.output


def test_all_runs_passing_exits_0_with_report_and_summary(tmp_path: Path) -> None:
    result = invoke(good_capture(tmp_path))
    assert result.exit_code == 0, result.output
    assert "WEBSOCKET EVENT VALIDATION REPORT - run-1" in result.stdout
    assert "Status: ✅ PASSED" in result.stdout
    assert result.stdout.rstrip().endswith("✅ all 1 runs passed")
    assert result.stderr == ""


def test_a_failed_run_exits_1_and_names_the_code(tmp_path: Path) -> None:
    result = invoke(good_capture(tmp_path), failing_capture(tmp_path))
    assert result.exit_code == 1, result.output
    assert "unpaired_tool" in result.stdout
    assert "❌ 1 of 2 runs failed" in result.stdout


def test_quiet_prints_only_the_summary(tmp_path: Path) -> None:
    result = invoke(good_capture(tmp_path), "-q")
    assert result.exit_code == 0
    assert "WEBSOCKET EVENT VALIDATION REPORT" not in result.stdout
    assert "SUMMARY - 1 runs: 1 passed, 0 failed" in result.stdout


def test_timing_targets_are_options(tmp_path: Path) -> None:
    result = invoke(good_capture(tmp_path), "--max-first-event-s", "0.05", "-q")
    assert result.exit_code == 1
    assert "slow_first_event" in result.stdout
    assert "first event < 0.05s" in result.stdout


def test_json_to_stdout_is_only_json(tmp_path: Path) -> None:
    result = invoke(good_capture(tmp_path), "--json", "-")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["version"] == 1
    assert [r["run_id"] for r in data["runs"]] == ["run-1"]
    assert data["runs"][0]["events"]["agent_thinking"] == 2
    assert data["summary"]["captures"] == [str(tmp_path / "good")]


def test_json_and_junit_files_are_written(tmp_path: Path) -> None:
    out, xml = tmp_path / "report.json", tmp_path / "junit.xml"
    result = invoke(good_capture(tmp_path), failing_capture(tmp_path), "--json", out,
                    "--junit", xml)  # fmt: skip
    assert result.exit_code == 1
    data = json.loads(out.read_text())
    assert [r["status"] for r in data["runs"]] == ["passed", "failed"]
    root = ET.parse(xml).getroot()
    assert (root.get("tests"), root.get("failures")) == ("2", "1")


def test_unwritable_report_path_exits_2_with_one_line(tmp_path: Path) -> None:
    result = invoke(good_capture(tmp_path), "--json", tmp_path / "no" / "such" / "dir.json")
    assert_one_line_error(result, "dir.json", "No such file or directory")


def test_missing_capture_exits_2_with_one_line(tmp_path: Path) -> None:
    assert_one_line_error(invoke(tmp_path / "nowhere"), "nowhere", "no such file or folder")


def test_corrupted_capture_exits_2_naming_file_and_offset(tmp_path: Path) -> None:
    capture = good_capture(tmp_path)
    segment = next(capture.iterdir())
    data = segment.read_bytes()
    unpacker = msgpack.Unpacker(io.BytesIO(data))
    next(unpacker)  # the header
    after_header = unpacker.tell()
    # 0xc1 is never valid msgpack: the record after the header is garbage.
    segment.write_bytes(data[:after_header] + b"\xc1" + data[after_header:])
    assert_one_line_error(invoke(capture), segment.name, f"offset {after_header}", "corrupt")


def test_file_that_is_not_a_capture_exits_2(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.wstape"
    bogus.write_text("hello, I am not msgpack")
    assert_one_line_error(invoke(bogus), "notes.wstape", "not a wstape capture")


def test_truncated_capture_warns_and_judges_what_is_there(tmp_path: Path) -> None:
    capture = good_capture(tmp_path)
    segment = next(capture.iterdir())
    segment.write_bytes(segment.read_bytes()[:-3])  # the close record is cut short
    result = invoke(capture)
    assert result.exit_code == 0, result.output
    assert "warning: " in result.stderr
    assert "truncated last record" in result.stderr
    assert "✅ all 1 runs passed" in result.stdout


@pytest.mark.parametrize(
    ("payload", "is_text", "warning"),
    [
        (b"this is not json", True, "1 text frames are not JSON"),
        (b"\x89PNG\r\n", False, "1 binary frames ignored"),
        (b"[1, 2]", True, "1 text frames are JSON but not an object"),
        (b'{"type": "agent_mood", "payload": {}}', True, "1 events belong to no run: agent_mood"),
    ],
)  # fmt: skip
def test_frames_that_are_not_chat_events_warn_but_do_not_fail(
    tmp_path: Path, payload: bytes, is_text: bool, warning: str
) -> None:
    chat = Chat().connect("c1", "alice").run("c1", "alice", "run-1")
    chat.raw("c1", 1.25, payload, from_client=False, is_text=is_text).close("c1", 5)
    result = invoke(chat.write(tmp_path / "odd"))
    assert result.exit_code == 0, result.output
    assert f"warning: {tmp_path / 'odd'}: {warning}" in result.stderr


def test_unknown_event_type_of_a_run_is_a_warning_in_its_report(tmp_path: Path) -> None:
    steps = (*GOOD[:3], (0.35, "agent_mood", {"mood": "sunny"}), *GOOD[3:])
    chat = Chat().connect("c1", "alice").run("c1", "alice", "run-1", steps=steps).close("c1", 5)
    result = invoke(chat.write(tmp_path / "odd"))
    assert result.exit_code == 0, result.output
    assert "unknown event type 'agent_mood' ×1" in result.stdout


def test_capture_without_runs_exits_1(tmp_path: Path) -> None:
    result = invoke(Chat().connect("c1", "alice").close("c1", 1).write(tmp_path / "idle"))
    assert result.exit_code == 1
    assert "no chat runs found" in result.stdout


def test_profile_changes_targets_and_bad_profile_exits_2(tmp_path: Path) -> None:
    strict = tmp_path / "strict.toml"
    strict.write_text("[targets]\nmax_tool_s = 0.1\n")
    result = invoke(good_capture(tmp_path), "--profile", strict, "-q")
    assert result.exit_code == 1
    assert "slow_tool" in result.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("[targets]\nmax_tool_s = 'soon'\n")
    assert_one_line_error(invoke(good_capture(tmp_path, "g2"), "--profile", bad), "bad.toml")


def test_help_shows_an_example() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    assert "wstape analyze captures/today" in result.output


def test_wstape_analyze_runs_as_a_real_process(tmp_path: Path) -> None:
    capture = failing_capture(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "wstape", "analyze", str(capture), "-q"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "unpaired_tool" in proc.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "wstape", "analyze", str(tmp_path / "gone")],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr
