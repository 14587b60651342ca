"""The recorder when things go wrong around it: the backend dies, a client vanishes,
the capture's disk fills or turns read-only, the file hits its size limit. Traffic
must keep flowing, the recorder says what happened once, and what it wrote reads.

(A `kill -9` of the recorder itself is tests/test_record_cli.py's.)"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import Processes, free_port, wait_listening
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from wstape.recorder.capture import Close, Message, Open, read_capture, segment_files

FRAME = bytes(range(256)) * 128  # 32 KiB: a few dozen fill any of the faults below
BEFORE, AFTER = 10, 50  # echoes before and after the fault


async def echo(ws: ClientConnection, payload: bytes) -> None:
    await ws.send(payload)
    assert await ws.recv() == payload


def records_by_connection(capture: Path, warnings: list[str]) -> dict[str, list]:
    by_path: dict[str, list] = {}
    ids: dict[str, str] = {}
    for record in read_capture(capture, warn=warnings.append):
        if isinstance(record, Open):
            ids[record.connection] = record.path
        by_path.setdefault(ids[record.connection], []).append(record)
    return by_path


def wstape_errors(lines: list[str]) -> list[str]:
    """What the addon said beyond its start line (mitmdump's log has no level names)."""
    return [line for line in lines if "wstape:" in line and "recording WebSocket" not in line]


# ------------------------------------------------------------ the other side fails


def start_backend_on(processes: Processes, port: int) -> subprocess.Popen:
    proc = processes.start(
        [sys.executable, "-m", "wstape.demo.backend", "--port", str(port), "--ping-interval", "0"],
        "backend",
    )
    wait_listening(port, proc)
    return proc


def test_backend_killed_mid_chat_is_recorded_and_the_recorder_goes_on(
    processes, start_recorder
) -> None:
    port = free_port()
    backend = start_backend_on(processes, port)
    rec = start_recorder(f"http://127.0.0.1:{port}")

    async def chat_through_a_crash() -> None:
        async with connect(rec.url(path="/ws?user_id=before"), proxy=None) as ws:
            await ws.recv()
            for i in range(5):
                await echo(ws, b"before %d" % i)
            backend.kill()
            backend.wait(5)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)

    asyncio.run(chat_through_a_crash())
    start_backend_on(processes, port)  # the backend comes back; so must recording

    async def chat_after() -> None:
        async with connect(rec.url(path="/ws?user_id=after"), proxy=None) as ws:
            await ws.recv()
            await echo(ws, b"after the restart")

    asyncio.run(chat_after())
    assert rec.stop() == 0

    warnings: list[str] = []
    records = records_by_connection(rec.out, warnings)
    before = records["/ws?user_id=before"]
    payloads = [r.payload for r in before if isinstance(r, Message)][1:]  # after the welcome
    assert payloads == [b"before %d" % (i // 2) for i in range(10)]
    assert before[-1] == Close(before[-1].connection, before[-1].ts, 1006, "", "server")
    after = [r.payload for r in records["/ws?user_id=after"] if isinstance(r, Message)]
    assert after[1:] == [b"after the restart"] * 2
    assert not warnings and not wstape_errors(rec.lines)


def test_client_vanishing_without_a_close_frame_leaves_others_untouched(
    backend, start_recorder
) -> None:
    rec = start_recorder(f"http://127.0.0.1:{backend.port}")

    async def one_vanishes() -> None:
        async with (
            connect(rec.url(path="/ws?user_id=gone"), proxy=None) as gone,
            connect(rec.url(path="/ws?user_id=stays"), proxy=None) as stays,
        ):
            await gone.recv()
            await stays.recv()
            for i in range(3):
                await echo(gone, b"gone %d" % i)
                await echo(stays, b"stays %d" % i)
            gone.transport.abort()  # TCP reset: no close frame, no FIN handshake
            await asyncio.sleep(0.3)
            for i in range(3, 6):
                await echo(stays, b"stays %d" % i)

    asyncio.run(one_vanishes())
    assert rec.stop() == 0

    warnings: list[str] = []
    records = records_by_connection(rec.out, warnings)
    gone, stays = records["/ws?user_id=gone"], records["/ws?user_id=stays"]
    assert [r.payload for r in gone if isinstance(r, Message)][1:] == [
        b"gone %d" % (i // 2) for i in range(6)
    ]
    assert isinstance(gone[-1], Close) and gone[-1].code == 1006
    assert gone[-1].closed_by == "client"
    assert [r.payload for r in stays if isinstance(r, Message)][1:] == [
        b"stays %d" % (i // 2) for i in range(12)
    ]
    assert isinstance(stays[-1], Close) and stays[-1].code == 1000
    assert not warnings and not wstape_errors(rec.lines)


# ------------------------------------------------------------ the capture cannot be written


def require_mount(tmp_path: Path) -> None:
    """Skips the test where mounting is not permitted (not root, or a container without
    CAP_SYS_ADMIN); the file-size-limit case needs no privileges and still runs."""
    probe = tmp_path / "probe"
    probe.mkdir()
    result = subprocess.run(["mount", "--bind", probe, probe], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount here: {result.stderr.strip()}")
    subprocess.run(["umount", probe], check=True)


@contextlib.contextmanager
def stopped_then_unmounted(rec, mount_point: Path) -> Iterator[None]:
    try:
        yield
    finally:
        if rec.recorder.proc.poll() is None:
            rec.stop()
        subprocess.run(["umount", "-l", mount_point], capture_output=True)


@contextlib.contextmanager
def disk_full(tmp_path: Path, start: Callable) -> Iterator[tuple]:
    """A 1 MiB tmpfs: the first echoes fit, then writes fail with ENOSPC."""
    require_mount(tmp_path)
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", disk], check=True)
    rec = start(out=disk / "capture")
    with stopped_then_unmounted(rec, disk):
        yield rec, lambda: None, "No space left on device"


@contextlib.contextmanager
def turns_read_only(tmp_path: Path, start: Callable) -> Iterator[tuple]:
    """A read-only bind mount laid over the capture folder mid-recording: the open
    segment keeps its file, the next segment (segment_mb=1) cannot be created (EROFS)."""
    require_mount(tmp_path)
    out = tmp_path / "capture"
    rec = start(out=out, segment_mb=1)

    def fault() -> None:
        subprocess.run(["mount", "--bind", out, out], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", out], check=True)

    with stopped_then_unmounted(rec, out):
        yield rec, fault, "Read-only file system"


@contextlib.contextmanager
def file_size_limit(tmp_path: Path, start: Callable) -> Iterator[tuple]:
    """RLIMIT_FSIZE set on the running mitmdump just above the segment's size: the
    kernel refuses to grow it (EFBIG; Python ignores SIGXFSZ). Root cannot get around
    it the way it gets around file modes, and it needs no privileges."""
    rec = start(out=tmp_path / "capture")

    def fault() -> None:
        size = segment_files(rec.out)[-1].stat().st_size
        limit = size + 64 * 1024
        resource.prlimit(rec.recorder.proc.pid, resource.RLIMIT_FSIZE, (limit, limit))

    yield rec, fault, "File too large"


async def chat_across(url: str, inject: Callable[[], None]) -> list[bytes]:
    """BEFORE echoes, the fault, AFTER more echoes: every one must come back."""
    sent = []
    async with connect(url, proxy=None) as ws:
        await ws.recv()
        for i in range(BEFORE + AFTER):
            if i == BEFORE:
                await asyncio.sleep(0.3)  # three flush intervals: all of it on disk
                inject()
            payload = FRAME + b"%d" % i
            await echo(ws, payload)
            sent.append(payload)
        await asyncio.sleep(1.2)  # a status tick after the failure
    return sent


@pytest.mark.parametrize("fault", [disk_full, turns_read_only, file_size_limit])
def test_an_unwritable_capture_costs_no_traffic_and_says_so_once(
    tmp_path, backend, start_recorder, fault
) -> None:
    def start(**cfg):
        return start_recorder(f"http://127.0.0.1:{backend.port}", **cfg)

    with fault(tmp_path, start) as (rec, inject, reason):
        sent = asyncio.run(chat_across(rec.url(path="/ws?user_id=u"), inject))
        assert rec.stop() == 0
        warnings: list[str] = []
        recorded = [
            r.payload for r in read_capture(rec.out, warn=warnings.append)
            if isinstance(r, Message)
        ][1:]  # fmt: skip

    errors = wstape_errors(rec.lines)
    assert len(errors) == 1, rec.lines
    assert "cannot write the capture" in errors[0] and reason in errors[0]
    assert f"{rec.out}/" in errors[0] and ".wstape: " in errors[0], "it names the file"
    assert "traffic continues" in errors[0]
    assert not [line for line in rec.lines if "Traceback" in line]
    # The live status line counts exactly the frames that are not in the capture.
    status = rec.recorder.last_status
    assert status["lost"] == status["frames"] - (len(recorded) + 1)  # + the welcome

    expected = [p for p in sent for _ in (0, 1)]  # each frame and its echo
    assert len(recorded) >= 2 * BEFORE, "everything written before the fault reads back"
    assert recorded == expected[: len(recorded)]
    assert len(recorded) < len(expected)
    assert len(warnings) <= 1  # at most a truncated last record


def test_a_capture_deleted_mid_recording_is_reported_once_and_traffic_goes_on(
    tmp_path, backend, start_recorder
) -> None:
    # Writes to a deleted file succeed, into an inode nobody can open again: without a
    # check the recorder would go on "recording" into nothing until the next segment.
    rec = start_recorder(f"http://127.0.0.1:{backend.port}", out=tmp_path / "capture")
    sent = asyncio.run(chat_across(rec.url(path="/ws?user_id=u"), lambda: shutil.rmtree(rec.out)))
    assert rec.stop() == 0

    assert len(sent) == BEFORE + AFTER
    errors = wstape_errors(rec.lines)
    assert len(errors) == 1, rec.lines
    assert f"{rec.out}/" in errors[0] and "the segment file was deleted" in errors[0]
    assert "recording stopped, traffic continues" in errors[0]
    assert "stays readable" not in errors[0]
    assert rec.recorder.last_status["lost"] > 0  # from when the recorder noticed
    assert not rec.out.exists(), "what the user deleted stays deleted"


def test_wstape_record_exits_1_and_says_so_last_when_traffic_was_not_recorded(
    tmp_path, backend, processes: Processes
) -> None:
    out = tmp_path / "capture"
    proc, port = processes.record(f"http://127.0.0.1:{backend.port}", out)
    # The file size limit of file_size_limit() above, set on `wstape record`'s mitmdump.
    (mitmdump,) = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                 text=True).stdout.split()  # fmt: skip

    def fault() -> None:
        limit = segment_files(out)[-1].stat().st_size + 64 * 1024
        resource.prlimit(int(mitmdump), resource.RLIMIT_FSIZE, (limit, limit))

    asyncio.run(chat_across(f"ws://127.0.0.1:{port}/ws?user_id=u", fault))
    proc.send_signal(signal.SIGINT)
    assert proc.wait(20) == 1
    last = proc.log_path.read_text().strip().splitlines()[-1]
    assert "frames NOT RECORDED; the capture is incomplete" in last
