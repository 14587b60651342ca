"""`wstape record` and `wstape export` as a user runs them: a real process, signals,
exit codes, and one clear line for bad input."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import free_port
from wsclient import converse, has_event

from wstape.recorder.capture import Message, read_capture, segment_files

WSTAPE = [sys.executable, "-m", "wstape"]


def run_wstape(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*WSTAPE, *args], capture_output=True, text=True, timeout=timeout)


def chat_once(port: int, user: str = "cli") -> None:
    asyncio.run(
        converse(
            f"ws://127.0.0.1:{port}/ws?user_id={user}",
            [{"type": "user_message", "payload": {"content": "hi"}}],
            done_when=has_event("agent_completed"),
        )
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_record_flushes_and_exits_zero_on_signal(tmp_path, processes, start_backend, sig):
    backend = start_backend("--think-delay", "0.01", "--tool-delay", "0.02")
    out = tmp_path / "cap"
    proc, port = processes.record(f"http://127.0.0.1:{backend.port}", out)
    chat_once(port)
    time.sleep(1.2)  # one status tick
    proc.send_signal(sig)
    assert proc.wait(20) == 0
    log = proc.log_path.read_text()
    assert "listening on 127.0.0.1" in log
    assert "recorded 1 connections" in log and f"capture in {out}" in log
    messages = [r for r in read_capture(out) if isinstance(r, Message)]
    assert any(b'"agent_completed"' in m.payload for m in messages)


def test_sigkill_loses_at_most_the_last_flush_interval(tmp_path, start_backend, start_recorder):
    backend = start_backend("--ping-interval", "0")
    rec = start_recorder(f"http://127.0.0.1:{backend.port}", flush_ms=50)

    async def chat_then_kill() -> list[bytes]:
        from websockets.asyncio.client import connect

        async with connect(rec.url(path="/ws?user_id=k")) as ws:
            await ws.recv()  # welcome
            sent = []
            for i in range(40):
                payload = f'{{"type": "echo", "n": {i}}}'
                await ws.send(payload)
                assert await ws.recv() == payload
                sent.append(payload.encode())
            await asyncio.sleep(0.5)  # ten flush intervals
            rec.recorder.kill()
            return sent

    sent = asyncio.run(chat_then_kill())
    warnings: list[str] = []
    recorded = [
        r.payload for r in read_capture(rec.out, warn=warnings.append)
        if isinstance(r, Message) and r.from_client
    ]  # fmt: skip
    assert recorded == sent


def test_truncated_tail_is_a_warning_in_export(tmp_path, start_backend, start_recorder):
    backend = start_backend("--think-delay", "0.01", "--tool-delay", "0.02")
    rec = start_recorder(f"http://127.0.0.1:{backend.port}")
    chat_once(rec.port)
    rec.recorder.kill()
    segment = segment_files(rec.out)[-1]
    segment.write_bytes(segment.read_bytes()[:-7])
    result = run_wstape("export", str(rec.out))
    assert result.returncode == 0
    assert result.stderr.count("\n") == 1 and "truncated last record" in result.stderr
    assert '"direction": "server"' in result.stdout


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda p: p / "missing", "no such file or folder"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "no .wstape segment files"),
        (lambda p: (p / "x-00001.wstape").write_bytes(b"\x93garbage") and p / "x-00001.wstape",
         "not a wstape capture"),
    ],
)  # fmt: skip
def test_export_of_bad_input_is_one_line_and_exit_2(tmp_path: Path, make, expected):
    result = run_wstape("export", str(make(tmp_path)))
    assert result.returncode == 2
    assert expected in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr


def test_record_rejects_a_bad_upstream_with_exit_2(tmp_path):
    result = run_wstape("record", "--upstream", "ftp://x", "--out", str(tmp_path / "c"))
    assert result.returncode == 2
    assert "is not an http(s):// or ws(s):// URL" in result.stderr


def test_record_on_a_busy_port_says_so_and_exits_2(tmp_path, backend):
    upstream, listen = f"http://127.0.0.1:{backend.port}", f"127.0.0.1:{backend.port}"
    result = run_wstape(
        "record", "--upstream", upstream, "--listen", listen, "--out", str(tmp_path / "c")
    )
    assert result.returncode == 2
    assert "recorder did not start" in result.stderr
    assert "address already in use" in result.stderr.lower()
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("option", "said"),
    [
        ("flow_detail=abc", "mitmdump: Received multiple values for flow_detail"),
        # mitmdump itself ignores an unknown --set without a word: a typo would go unnoticed.
        ("wstape_flush_mss=50", "unknown option: wstape_flush_mss"),
    ],
)
def test_record_with_a_bad_set_option_names_it_and_exits_2(tmp_path, option, said):
    result = run_wstape(
        "record", "--upstream", "http://127.0.0.1:9", "--listen", f"127.0.0.1:{free_port()}",
        "--out", str(tmp_path / "c"), "--set", option,
    )  # fmt: skip
    assert result.returncode == 2
    last = result.stderr.splitlines()[-1]
    assert "recorder did not start: mitmdump exited with code 1: " in last and said in last
    assert "dump.py" not in result.stderr and "Traceback" not in result.stderr


def test_record_addon_path_prints_the_addon_file_of_this_wstape_and_needs_no_out():
    import wstape.recorder

    result = run_wstape("record", "--addon-path")
    assert result.returncode == 0 and result.stderr == ""
    path = Path(result.stdout.rstrip("\n"))
    assert path == Path(wstape.recorder.__file__).parent / "addon.py" and path.is_file()


def test_help_teaches_with_examples():
    for command in ("record", "export"):
        result = run_wstape(command, "--help")
        assert result.returncode == 0 and "Examples:" in result.stdout
