"""Every file wstape writes holds chat text, so it is created 0600 and the folders it creates 0700,
whatever the umask; and bad input for pictures (no runs, hostile text) gives a page that says so
rather than a traceback or a disguised run id."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from recordings import recorded
from test_record_cli import chat_once

from wstape.recorder.capture import CaptureWriter, Message, Open

UMASK_022 = "umask 022; exec "


def mode(path: Path) -> str:
    return oct(path.stat().st_mode & 0o777)


def run_022(*args: str) -> subprocess.CompletedProcess:
    """wstape under umask 022, the usual default that made report files 0644."""
    command = UMASK_022 + " ".join(f"'{a}'" for a in (sys.executable, "-m", "wstape", *args))
    return subprocess.run(command, shell=True, capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return recorded(tmp_path_factory, "base"), recorded(tmp_path_factory, "mixed")


def test_every_output_file_is_0600_under_umask_022(
    releases: tuple[Path, Path], tmp_path: Path
) -> None:
    base, mixed = releases
    out = tmp_path / "out"
    out.mkdir()
    run_022("analyze", str(mixed), "-q", "--json", f"{out}/a.json", "--html", f"{out}/a.html",
            "--plot", f"{out}/a.png", "--junit", f"{out}/a.xml")  # fmt: skip
    run_022("analyze", str(mixed), "-q", "--plot", f"{out}/a.svg")
    run_022("compare", str(base), str(mixed), "--json", f"{out}/c.json", "--html",
            f"{out}/c.html", "--plot", f"{out}/c.png")  # fmt: skip
    for fmt in ("jsonl", "csv", "parquet"):
        run_022("export", str(mixed), "--format", fmt, "-o", f"{out}/e.{fmt}")
    run_022("export", str(mixed), "--events", "-o", f"{out}/events.jsonl")
    written = sorted(p.name for p in out.iterdir())
    expected = ["a.json", "a.html", "a.png", "a.xml", "a.svg", "c.json", "c.html", "c.png",
                "e.jsonl", "e.csv", "e.parquet", "events.jsonl"]  # fmt: skip
    assert written == sorted(expected)
    assert {name: mode(out / name) for name in written} == dict.fromkeys(written, "0o600")


def test_an_existing_report_file_is_made_private_when_rewritten(
    releases: tuple[Path, Path], tmp_path: Path
) -> None:
    report = tmp_path / "r.json"
    report.write_text("{}")
    report.chmod(0o644)
    run_022("analyze", str(releases[0]), "-q", "--json", str(report))
    assert mode(report) == "0o600" and json.loads(report.read_text())["version"] == 1


def test_record_creates_its_folder_and_missing_parents_0700(
    tmp_path: Path, processes, start_backend
) -> None:
    backend = start_backend("--think-delay", "0.01", "--tool-delay", "0.02")
    out = tmp_path / "a" / "b" / "c"
    proc, port = processes.record(f"http://127.0.0.1:{backend.port}", out, umask=0o022)
    chat_once(port)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(20) == 0
    for folder in (tmp_path / "a", tmp_path / "a" / "b", out):
        assert mode(folder) == "0o700", folder
    assert all(mode(f) == "0o600" for f in out.iterdir())


def test_record_warns_when_its_existing_folder_is_readable_by_others(
    tmp_path: Path, processes, start_backend
) -> None:
    backend = start_backend()
    out = tmp_path / "shared"
    out.mkdir(mode=0o755)
    out.chmod(0o755)
    proc, _ = processes.record(f"http://127.0.0.1:{backend.port}", out)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(20) == 0
    assert f"warning: {out} is readable by other users" in proc.log_path.read_text()


def empty_capture(tmp_path: Path) -> Path:
    writer = CaptureWriter(tmp_path / "empty")
    writer.close_all()
    return tmp_path / "empty"


def test_plot_and_html_of_an_input_without_runs_say_so(tmp_path: Path) -> None:
    capture = empty_capture(tmp_path)
    result = run_022("analyze", str(capture), "-q", "--plot", str(tmp_path / "p.png"),
                     "--html", str(tmp_path / "p.html"))  # fmt: skip
    assert result.returncode == 1  # nothing was checked
    assert "Traceback" not in result.stderr, result.stderr
    assert (tmp_path / "p.png").read_bytes().startswith(b"\x89PNG")
    assert "no chat runs found" in (tmp_path / "p.html").read_text()


BIDI = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: "run-\u202egnp.exe" displays as "run-exe.png"


def hostile_capture(tmp_path: Path) -> Path:
    writer = CaptureWriter(tmp_path / "hostile")
    writer.open(Open("c1", 1.0, "ws://h/ws?user_id=u", "/ws?user_id=u", None, None, None))
    ids = {"run_id": f"run-{BIDI}gnp.exe", "tool_name": f"sea{BIDI}rch", "execution_id": "x1"}
    steps = ["agent_started", "agent_thinking", "tool_executing", "tool_completed",
             "agent_completed"]  # fmt: skip
    writer.message("c1", 1.0, True, True, b'{"type": "user_message", "payload": {}}')
    for n, kind in enumerate(steps):
        body = json.dumps({"type": kind, "payload": ids}, ensure_ascii=False).encode()
        writer.message("c1", 1.1 + n / 10, False, True, body)
    writer.close("c1", 3.0, 1000, "", "client")
    writer.close_all()
    return tmp_path / "hostile"


def test_bidi_overrides_show_escaped_for_people_and_exact_in_json(tmp_path: Path) -> None:
    capture = hostile_capture(tmp_path)
    files = {name: tmp_path / name for name in ("r.json", "r.html", "r.xml", "r.svg")}
    result = run_022("analyze", str(capture), "--json", str(files["r.json"]), "--html",
                     str(files["r.html"]), "--junit", str(files["r.xml"]),
                     "--plot", str(files["r.svg"]))  # fmt: skip
    assert BIDI not in result.stdout and "run-\\u202egnp.exe" in result.stdout
    for name in ("r.html", "r.xml", "r.svg"):
        text = files[name].read_text(encoding="utf-8")
        assert BIDI not in text, name
        assert "\\u202e" in text, name
    (run,) = json.loads(files["r.json"].read_text())["runs"]
    assert run["run_id"] == f"run-{BIDI}gnp.exe"
    exported = [json.loads(line) for line in run_022("export", str(capture), "--events").stdout
                .splitlines()]  # fmt: skip
    assert f"run-{BIDI}gnp.exe" in {row["run_id"] for row in exported}


def test_messages_of_the_hostile_capture_are_recorded_exactly(tmp_path: Path) -> None:
    from wstape.recorder.capture import read_capture

    sent = [r.payload for r in read_capture(hostile_capture(tmp_path)) if isinstance(r, Message)]
    assert any(BIDI.encode() in payload for payload in sent)
    assert os.stat(next((tmp_path / "hostile").iterdir())).st_mode & 0o777 == 0o600
